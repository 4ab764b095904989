//! The command line.

use std::path::PathBuf;

use clap::Parser;

/// rgi's development server: builds an rgi application crate, serves it,
/// and rebuilds it when its source changes. The listening socket stays
/// open throughout: requests made during a rebuild wait and are answered
/// by the new build, and a compile error is shown in the browser.
#[derive(Debug, Clone, Parser)]
#[command(name = "rgi-dev", version)]
pub struct Options {
    /// The application crate: a directory with a Cargo.toml, or the
    /// manifest itself. Default: the current directory.
    #[arg(value_name = "PATH_TO_CRATE", default_value = ".")]
    pub path: PathBuf,

    /// The binary to run, when the crate has several.
    #[arg(long, value_name = "NAME")]
    pub bin: Option<String>,

    /// Where to listen: `host:port`, `[ipv6]:port` or `unix:/path`. Port 0 picks
    /// a free port (the banner shows it).
    #[arg(long, default_value = "127.0.0.1:8000", value_name = "ADDR")]
    pub addr: String,

    /// The settings file, given to the application as RGI_SETTINGS.
    /// Default: RGI_SETTINGS if set, else rgi.toml in the crate directory.
    #[arg(long, value_name = "FILE")]
    pub settings: Option<PathBuf>,

    /// Build and serve once; do not watch the source.
    #[arg(long)]
    pub noreload: bool,

    /// Build with --release (slower builds, faster application).
    #[arg(long)]
    pub release: bool,

    /// Serve the files of DIR at URL prefix PREFIX, e.g.
    /// --static /assets=./static (repeatable).
    #[arg(long = "static", value_name = "PREFIX=DIR", value_parser = parse_static)]
    pub statics: Vec<(String, PathBuf)>,
}

fn parse_static(value: &str) -> Result<(String, PathBuf), String> {
    let (prefix, dir) =
        value.split_once('=').ok_or_else(|| format!("{value:?}: expected PREFIX=DIR, e.g. /assets=./static"))?;
    if !prefix.starts_with('/') {
        return Err(format!("{value:?}: the prefix must start with /"));
    }
    if dir.is_empty() {
        return Err(format!("{value:?}: the directory is empty"));
    }
    Ok((prefix.trim_end_matches('/').to_string(), PathBuf::from(dir)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_mounts_parse_and_refuse_nonsense() {
        assert_eq!(parse_static("/assets=./static").unwrap(), ("/assets".to_string(), PathBuf::from("./static")));
        assert_eq!(parse_static("/a/=d").unwrap().0, "/a");
        assert!(parse_static("assets=./static").unwrap_err().contains("must start with /"));
        assert!(parse_static("/assets").unwrap_err().contains("PREFIX=DIR"));
        assert!(parse_static("/assets=").unwrap_err().contains("empty"));
    }

    #[test]
    fn defaults_are_runserver_like() {
        let o = Options::try_parse_from(["rgi-dev"]).unwrap();
        assert_eq!(
            (o.addr.as_str(), o.path.as_path(), o.noreload, o.release),
            ("127.0.0.1:8000", std::path::Path::new("."), false, false)
        );
    }
}
