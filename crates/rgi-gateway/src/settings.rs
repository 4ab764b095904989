//! Locating the settings file, as every server does (SET-1, SET-2).
//!
//! `RGI_SETTINGS` names the file (the `DJANGO_SETTINGS_MODULE` of rgi); the
//! development server's `--settings FILE` is passed on the same way.
//! Without it, `rgi.toml` in the working directory is used if it exists,
//! and otherwise the settings are empty.

use std::path::{Path, PathBuf};

use rgi_core::{server_error, Error, Settings};

/// The environment variable that names the settings file (SET-1).
pub const SETTINGS_ENV: &str = "RGI_SETTINGS";

/// The file used when `RGI_SETTINGS` is not set, if it exists (SET-2).
pub const DEFAULT_SETTINGS_FILE: &str = "rgi.toml";

/// Why a settings file could not be read (SET-4).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LocateError {
    /// The file could not be read.
    #[error("cannot read settings file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// `RGI_SETTINGS` is set but empty.
    #[error("{SETTINGS_ENV} is set but is not a usable path")]
    BadEnv,
}

/// Locates and loads the settings the way servers do: `RGI_SETTINGS`,
/// else `rgi.toml` if present, else empty (SET-1, SET-2). Errors are
/// [`Error::is_settings`].
pub fn locate() -> Result<Settings, Error> {
    match std::env::var_os(SETTINGS_ENV) {
        Some(value) if value.is_empty() => Err(server_error::settings(LocateError::BadEnv)),
        Some(value) => load(Path::new(&value)),
        None if Path::new(DEFAULT_SETTINGS_FILE).is_file() => load(Path::new(DEFAULT_SETTINGS_FILE)),
        None => Ok(Settings::empty()),
    }
}

/// Loads the settings file at `path`.
pub fn load(path: &Path) -> Result<Settings, Error> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| server_error::settings(LocateError::Read { path: path.to_path_buf(), source }))?;
    Settings::from_toml(&text, Some(path))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn a_syntax_error_names_the_file_line_and_column() {
        // SET-4
        let mut file = tempfile::NamedTempFile::new().unwrap();
        write!(file, "[db]\nurl = \"x\"\npool = = 3\n").unwrap();
        let err = load(file.path()).unwrap_err();
        assert!(err.is_settings());
        let text = crate::respond::Report(&err).to_string();
        assert!(text.contains(&format!("{}:3:8:", file.path().display())), "{text}");
    }

    #[test]
    fn a_missing_file_names_the_path() {
        // SET-4
        let err = load(Path::new("/nonexistent/rgi-settings.toml")).unwrap_err();
        assert!(crate::respond::Report(&err).to_string().contains("/nonexistent/rgi-settings.toml"), "{err:?}");
    }

    #[test]
    fn locate_follows_env_then_default_then_empty() {
        // SET-1, SET-2. Run in a child process: the environment is global.
        if std::env::var_os("RGI_GATEWAY_LOCATE_CHILD").is_some() {
            return locate_child();
        }
        let dir = tempfile::tempdir().unwrap();
        let exe = std::env::current_exe().unwrap();
        let run = |env: &[(&str, &str)]| {
            let mut cmd = std::process::Command::new(&exe);
            cmd.args([
                "--exact",
                "settings::tests::locate_follows_env_then_default_then_empty",
                "--nocapture",
                "--test-threads=1",
            ])
            .current_dir(dir.path())
            .env("RGI_GATEWAY_LOCATE_CHILD", "1")
            .env_remove(SETTINGS_ENV);
            for (k, v) in env {
                cmd.env(k, v);
            }
            let out = cmd.output().unwrap();
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        assert!(run(&[]).contains("LOCATED None"));
        std::fs::write(dir.path().join(DEFAULT_SETTINGS_FILE), "[a]\nb = 1\n").unwrap();
        assert!(run(&[]).contains("LOCATED Some(\"rgi.toml\")"));
        let other = dir.path().join("other.toml");
        std::fs::write(&other, "x = 1\n").unwrap();
        assert!(run(&[(SETTINGS_ENV, other.to_str().unwrap())]).contains("LOCATED Some(\""));
        assert!(run(&[(SETTINGS_ENV, "/no/such.toml")]).contains("FAILED cannot read settings file /no/such.toml"));
        assert!(run(&[(SETTINGS_ENV, "")]).contains("FAILED"));
    }

    #[allow(clippy::print_stdout, reason = "the child reports to the parent test through stdout")]
    fn locate_child() {
        match locate() {
            Ok(s) => println!("LOCATED {:?}", s.path()),
            Err(e) => println!("FAILED {}", std::error::Error::source(&e).map(ToString::to_string).unwrap_or_default()),
        }
    }
}
