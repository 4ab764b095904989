//! Settings: where they are found and how an application reads them (SET-*).
//!
//! Servers locate the settings file with the `RGI_SETTINGS` environment
//! variable (the `DJANGO_SETTINGS_MODULE` of rgi); the development server
//! takes `--settings FILE` and passes it on the same way. Without either,
//! `rgi.toml` in the working directory is used if it exists, and otherwise
//! the settings are empty. The file is TOML; each application reads its own
//! table, typed, with serde.
//!
//! ```
//! use rgi_core::Settings;
//!
//! #[derive(serde::Deserialize)]
//! struct Greeting { text: String }
//!
//! let settings = Settings::from_toml("[greeting]\ntext = \"hi\"\n", None).unwrap();
//! let greeting: Greeting = settings.section("greeting").unwrap();
//! assert_eq!(greeting.text, "hi");
//! ```

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

use crate::error::Error;

/// The environment variable that names the settings file (SET-1).
pub const SETTINGS_ENV: &str = "RGI_SETTINGS";

/// The file used when `RGI_SETTINGS` is not set, if it exists (SET-2).
pub const DEFAULT_SETTINGS_FILE: &str = "rgi.toml";

/// How the settings in use were found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SettingsSource {
    /// Named by `RGI_SETTINGS`.
    Env(PathBuf),
    /// Named explicitly (the development server's `--settings`).
    Explicit(PathBuf),
    /// `rgi.toml` in the working directory.
    Default(PathBuf),
    /// No file: the settings are empty.
    None,
}

/// The application's settings, loaded before its first request (SET-3).
#[derive(Clone)]
pub struct Settings {
    source: SettingsSource,
    table: toml::Table,
}

/// Why settings could not be loaded: the message names the file and, for a
/// syntax error, the line and column (SET-4).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SettingsError {
    /// The file could not be read.
    #[error("cannot read settings file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error("{path}:{line}:{column}: invalid settings: {message}")]
    Syntax {
        /// The file, or `<string>`.
        path: PathBuf,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// What the parser said.
        message: String,
    },
    /// A table does not have the shape the application expects.
    #[error("{path}: invalid [{section}] settings: {message}")]
    Section {
        /// The file, or `<string>`.
        path: PathBuf,
        /// The table.
        section: String,
        /// What serde said.
        message: String,
    },
    /// `RGI_SETTINGS` is set but empty or not valid unicode.
    #[error("{SETTINGS_ENV} is set but is not a usable path")]
    BadEnv,
}

impl Settings {
    /// Empty settings, from no file.
    pub fn empty() -> Self {
        Self { source: SettingsSource::None, table: toml::Table::new() }
    }

    /// Locates and loads the settings the way servers do: `RGI_SETTINGS`,
    /// else `rgi.toml` if present, else empty (SET-1, SET-2).
    pub fn locate() -> Result<Self, Error> {
        match std::env::var_os(SETTINGS_ENV) {
            Some(value) if value.is_empty() => Err(Error::settings(SettingsError::BadEnv)),
            Some(value) => {
                let path = PathBuf::from(value);
                Self::read(&path).map(|table| Self { source: SettingsSource::Env(path), table })
            }
            None => {
                let path = PathBuf::from(DEFAULT_SETTINGS_FILE);
                if path.is_file() {
                    Self::read(&path).map(|table| Self { source: SettingsSource::Default(path), table })
                } else {
                    Ok(Self::empty())
                }
            }
        }
    }

    /// Loads the file at `path` (the development server's `--settings`).
    pub fn load(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref().to_path_buf();
        Self::read(&path).map(|table| Self { source: SettingsSource::Explicit(path), table })
    }

    /// Parses settings from a string; `path` only names it in errors.
    pub fn from_toml(text: &str, path: Option<&Path>) -> Result<Self, Error> {
        let source = match path {
            Some(p) => SettingsSource::Explicit(p.to_path_buf()),
            None => SettingsSource::None,
        };
        let table = parse(text, path.unwrap_or(Path::new("<string>")))?;
        Ok(Self { source, table })
    }

    fn read(path: &Path) -> Result<toml::Table, Error> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| Error::settings(SettingsError::Read { path: path.to_path_buf(), source }))?;
        parse(&text, path)
    }

    /// How these settings were found.
    pub fn source(&self) -> &SettingsSource {
        &self.source
    }

    /// The file these settings came from, if any.
    pub fn path(&self) -> Option<&Path> {
        match &self.source {
            SettingsSource::Env(p) | SettingsSource::Explicit(p) | SettingsSource::Default(p) => Some(p),
            SettingsSource::None => None,
        }
    }

    /// The whole file as a TOML table.
    pub fn table(&self) -> &toml::Table {
        &self.table
    }

    /// The table `name`, deserialised into `T` (SET-5). A missing table is
    /// read as an empty one, so `T`'s defaults apply; a table of the wrong
    /// shape is an error naming the file and the table.
    pub fn section<T: DeserializeOwned>(&self, name: &str) -> Result<T, Error> {
        let value = self.table.get(name).cloned().unwrap_or_else(|| toml::Value::Table(toml::Table::new()));
        value.try_into().map_err(|e: toml::de::Error| {
            Error::settings(SettingsError::Section {
                path: self.display_path(),
                section: name.to_string(),
                message: e.message().to_string(),
            })
        })
    }

    fn display_path(&self) -> PathBuf {
        self.path().map_or_else(|| PathBuf::from("<string>"), Path::to_path_buf)
    }
}

fn parse(text: &str, path: &Path) -> Result<toml::Table, Error> {
    text.parse::<toml::Table>().map_err(|e| {
        let offset = e.span().map_or(0, |s| s.start);
        let (line, column) = line_column(text, offset);
        Error::settings(SettingsError::Syntax {
            path: path.to_path_buf(),
            line,
            column,
            message: e.message().trim_end().to_string(),
        })
    })
}

/// 1-based line and column (in characters) of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

impl Default for Settings {
    fn default() -> Self {
        Self::empty()
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings").field("source", &self.source).field("sections", &self.table.len()).finish()
    }
}

#[cfg(test)]
mod tests;
