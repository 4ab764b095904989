//! The vectors shipped with the suite, compiled in so the runner works
//! wherever it is installed.

use super::file::{check_unique, parse};
use super::{Vector, VectorFileError};

/// (file name, contents) of every file in this crate's `vectors/` (also
/// reachable as `conformance/vectors/` in the repository); a test
/// checks that the list and the directory agree.
pub const FILES: &[(&str, &str)] = &[
    ("paths.toml", include_str!("../../vectors/paths.toml")),
    ("mounts.toml", include_str!("../../vectors/mounts.toml")),
    ("query.toml", include_str!("../../vectors/query.toml")),
    ("headers.toml", include_str!("../../vectors/headers.toml")),
    ("bodies.toml", include_str!("../../vectors/bodies.toml")),
    ("methods.toml", include_str!("../../vectors/methods.toml")),
    ("connections.toml", include_str!("../../vectors/connections.toml")),
    ("servers.toml", include_str!("../../vectors/servers.toml")),
    ("refusals.toml", include_str!("../../vectors/refusals.toml")),
    ("proxies.toml", include_str!("../../vectors/proxies.toml")),
];

/// The built-in vectors.
pub fn builtin() -> Result<Vec<Vector>, VectorFileError> {
    let mut all = Vec::new();
    for (name, text) in FILES {
        all.extend(parse(name, text)?);
    }
    check_unique(&all)?;
    Ok(all)
}
