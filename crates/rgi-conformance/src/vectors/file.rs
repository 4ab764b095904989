//! Reading vector files.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{Vector, CLEARTEXT_ONLY, FRONT_NORMALISES, NEEDS_PREFIX, NEEDS_ROOT, PROXY_LISTENER, RGI_ONLY, TLS_ONLY};

/// A vector file that cannot be used, named with what is wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VectorFileError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a valid vector file.
    #[error("{file}: {message}")]
    Invalid {
        /// The file's name.
        file: String,
        /// What is wrong.
        message: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VectorFile {
    vector: Vec<Vector>,
}

/// Parses the text of one vector file; `name` names it in errors.
pub fn parse(name: &str, text: &str) -> Result<Vec<Vector>, VectorFileError> {
    let invalid = |message: String| VectorFileError::Invalid { file: name.to_string(), message };
    let file: VectorFile = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
    for v in &file.vector {
        if v.covers.is_empty() {
            return Err(invalid(format!("vector {} covers no requirement", v.id)));
        }
        for tag in &v.tags {
            if ![RGI_ONLY, FRONT_NORMALISES, NEEDS_PREFIX, NEEDS_ROOT, CLEARTEXT_ONLY, TLS_ONLY, PROXY_LISTENER]
                .contains(&tag.as_str())
            {
                return Err(invalid(format!("vector {} has unknown tag {tag:?}", v.id)));
            }
        }
        if v.has_tag(RGI_ONLY) && v.reason.is_none() {
            return Err(invalid(format!("vector {} is rgi-only but gives no reason", v.id)));
        }
        if v.has_tag(FRONT_NORMALISES) != v.front_reason.is_some() {
            return Err(invalid(format!("vector {}: front-reason and the front-normalises tag go together", v.id)));
        }
    }
    Ok(file.vector)
}

/// Loads every `*.toml` file in `dir`, in name order, checking that ids
/// are unique.
pub fn load_dir(dir: &Path) -> Result<Vec<Vector>, VectorFileError> {
    let read = |source| VectorFileError::Read { path: dir.to_path_buf(), source };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(read)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    let mut all = Vec::new();
    for path in files {
        let text =
            std::fs::read_to_string(&path).map_err(|source| VectorFileError::Read { path: path.clone(), source })?;
        all.extend(parse(&path.display().to_string(), &text)?);
    }
    check_unique(&all)?;
    Ok(all)
}

pub(super) fn check_unique(vectors: &[Vector]) -> Result<(), VectorFileError> {
    let mut seen = HashSet::new();
    for v in vectors {
        if !seen.insert(v.id.as_str()) {
            return Err(VectorFileError::Invalid {
                file: "vectors".into(),
                message: format!("id {} is used twice", v.id),
            });
        }
    }
    Ok(())
}
