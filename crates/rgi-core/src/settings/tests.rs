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
    let err = Settings::from_toml("[db]\nurl = \"x\"\npool = = 3\n", Some(Path::new("app.toml"))).unwrap_err();
    assert!(err.is_settings() && !err.is_load());
    let cause = std::error::Error::source(&err).map(ToString::to_string).unwrap_or_default();
    assert!(cause.starts_with("app.toml:3:8:"), "{cause}");
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
    assert!(cause(&err).contains("[absent]"), "{err:?}");
    let wrong = Settings::from_toml("[db]\nurl = 5\n", Some(Path::new("app.toml"))).unwrap();
    let err = wrong.section::<Db>("db").unwrap_err();
    assert!(cause(&err).contains("app.toml") && cause(&err).contains("[db]"), "{err:?}");
}

#[test]
fn line_column_counts_characters() {
    assert_eq!(line_column("a\nb\u{e9}c", 5), (2, 3));
    assert_eq!(line_column("abc", 0), (1, 1));
    assert_eq!(line_column("abc", 99), (1, 4));
}

fn cause(err: &crate::Error) -> String {
    std::error::Error::source(err).map(ToString::to_string).unwrap_or_default()
}
