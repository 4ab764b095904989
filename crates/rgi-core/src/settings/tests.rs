use std::io::Write;

use super::*;

#[derive(Debug, serde::Deserialize, PartialEq)]
struct Db {
    url: String,
    #[serde(default)]
    pool: u32,
}

#[test]
fn syntax_errors_name_path_line_and_column() {
    // SET-4
    let mut file = tempfile::NamedTempFile::new().unwrap();
    write!(file, "[db]\nurl = \"x\"\npool = = 3\n").unwrap();
    let err = Settings::load(file.path()).unwrap_err();
    assert!(err.is_settings() && err.is_load());
    let text = err.to_string();
    let expect = format!("{}:3:8:", file.path().display());
    assert!(text.contains(&expect), "{text}");
}

#[test]
fn missing_file_names_the_path() {
    // SET-4
    let err = Settings::load("/nonexistent/rgi-settings.toml").unwrap_err();
    assert!(err.to_string().contains("/nonexistent/rgi-settings.toml"), "{err}");
}

#[test]
fn sections_are_typed_and_missing_ones_default() {
    // SET-5
    let s = Settings::from_toml("[db]\nurl = \"postgres://\"\n", None).unwrap();
    assert_eq!(s.section::<Db>("db").unwrap(), Db { url: "postgres://".into(), pool: 0 });
    #[derive(serde::Deserialize, Default, Debug, PartialEq)]
    struct Opt {
        #[serde(default)]
        debug: bool,
    }
    assert_eq!(s.section::<Opt>("absent").unwrap(), Opt::default());
    let err = s.section::<Db>("absent").unwrap_err();
    assert!(err.to_string().contains("[absent]"), "{err}");
    let wrong = Settings::from_toml("[db]\nurl = 5\n", Some(Path::new("app.toml"))).unwrap();
    let err = wrong.section::<Db>("db").unwrap_err();
    assert!(err.to_string().contains("app.toml") && err.to_string().contains("[db]"), "{err}");
}

#[test]
fn line_column_counts_characters() {
    assert_eq!(line_column("a\nb\u{e9}c", 5), (2, 3));
    assert_eq!(line_column("abc", 0), (1, 1));
    assert_eq!(line_column("abc", 99), (1, 4));
}

#[test]
fn locate_follows_env_then_default_then_empty() {
    // SET-1, SET-2. Run in a child process: the environment is global.
    if std::env::var_os("RGI_CORE_LOCATE_CHILD").is_some() {
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
        .env("RGI_CORE_LOCATE_CHILD", "1")
        .env_remove(SETTINGS_ENV);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(run(&[]).contains("LOCATED None"));
    std::fs::write(dir.path().join(DEFAULT_SETTINGS_FILE), "[a]\nb = 1\n").unwrap();
    assert!(run(&[]).contains("LOCATED Default(\"rgi.toml\")"));
    let other = dir.path().join("other.toml");
    std::fs::write(&other, "x = 1\n").unwrap();
    assert!(run(&[(SETTINGS_ENV, other.to_str().unwrap())]).contains("LOCATED Env("));
    assert!(run(&[(SETTINGS_ENV, "/no/such.toml")]).contains("FAILED cannot read settings file /no/such.toml"));
    assert!(run(&[(SETTINGS_ENV, "")]).contains("FAILED"));
}

#[allow(clippy::print_stdout, reason = "the child reports to the parent test through stdout")]
fn locate_child() {
    match Settings::locate() {
        Ok(s) => println!("LOCATED {:?}", s.source()),
        Err(e) => println!("FAILED {}", std::error::Error::source(&e).map(ToString::to_string).unwrap_or_default()),
    }
}
