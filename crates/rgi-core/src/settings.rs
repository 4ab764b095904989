//! Settings: how an application reads them (SET-*).
//!
//! Servers locate the settings file (`RGI_SETTINGS`, else `rgi.toml` in the
//! working directory: SET-1, SET-2) and hand the application a [`Settings`]
//! before its first request. The file is TOML; each application reads its
//! own table, typed, with serde.
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
use crate::server_error;

/// The application's settings, loaded before its first request (SET-3):
/// an opaque handle read a table at a time with [`section`](Self::section).
#[derive(Clone, Default)]
pub struct Settings {
    path: Option<PathBuf>,
    table: toml::Table,
}

/// Why settings could not be loaded: the message names the file and, for a
/// syntax error, the line and column (SET-4).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SettingsError {
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
}

impl Settings {
    /// Empty settings, from no file.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Parses settings from TOML text; `path` names the file they came
    /// from, in [`path`](Self::path) and in errors (SET-4).
    pub fn from_toml(text: &str, path: Option<&Path>) -> Result<Self, Error> {
        let table = parse(text, path.unwrap_or(Path::new("<string>")))?;
        Ok(Self { path: path.map(Path::to_path_buf), table })
    }

    /// The file these settings came from, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The table `name`, deserialised into `T` (SET-5). A missing table is
    /// read as an empty one, so `T`'s defaults apply; a table of the wrong
    /// shape is an error naming the file and the table.
    pub fn section<T: DeserializeOwned>(&self, name: &str) -> Result<T, Error> {
        let value = self.table.get(name).cloned().unwrap_or_else(|| toml::Value::Table(toml::Table::new()));
        value.try_into().map_err(|e: toml::de::Error| {
            server_error::settings(SettingsError::Section {
                path: self.path.clone().unwrap_or_else(|| PathBuf::from("<string>")),
                section: name.to_string(),
                message: e.message().to_string(),
            })
        })
    }
}

fn parse(text: &str, path: &Path) -> Result<toml::Table, Error> {
    text.parse::<toml::Table>().map_err(|e| {
        let offset = e.span().map_or(0, |s| s.start);
        let (line, column) = line_column(text, offset);
        server_error::settings(SettingsError::Syntax {
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

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings").field("path", &self.path).field("sections", &self.table.len()).finish()
    }
}

#[cfg(test)]
mod tests;
