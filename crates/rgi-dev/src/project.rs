//! The crate being developed, as cargo describes it: its binary, where it
//! builds, and which source directories a change in should rebuild it.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use cargo_metadata::{DependencyKind, Metadata, MetadataCommand, PackageId};

use crate::DevError;

/// What `rgi-dev` builds and watches.
#[derive(Debug, Clone)]
pub struct Project {
    /// The crate's Cargo.toml.
    pub manifest: PathBuf,
    /// The crate's directory (the application's working directory).
    pub dir: PathBuf,
    /// The package name.
    pub package: String,
    /// The binary target run as the application.
    pub bin: String,
    /// Cargo's target directory (never watched).
    pub target_dir: PathBuf,
    /// Directories of the crate and of every local crate it depends on:
    /// a change in any of them rebuilds.
    pub watch: Vec<PathBuf>,
}

impl Project {
    /// Asks cargo about the crate at `path` (a directory or a manifest).
    pub fn load(path: &Path, bin: Option<&str>) -> Result<Self, DevError> {
        let manifest = if path.is_dir() { path.join("Cargo.toml") } else { path.to_path_buf() };
        if !manifest.is_file() {
            return Err(DevError::Project(format!("{} is not a crate: no {}", path.display(), manifest.display())));
        }
        let mut command = MetadataCommand::new();
        command.manifest_path(&manifest);
        // Unfiltered, cargo resolves (and downloads) the dependencies of
        // every platform, which a build never needs: offline, or with a
        // cache a build filled, it would fail for crates like windows-sys.
        if let Some(host) = host_triple() {
            command.other_options(vec!["--filter-platform".to_string(), host]);
        }
        let metadata =
            command.exec().map_err(|e| DevError::Project(format!("cargo metadata for {}: {e}", manifest.display())))?;
        let root = metadata.root_package().ok_or_else(|| {
            DevError::Project(format!(
                "{} is a virtual workspace manifest; give the directory of the application crate",
                manifest.display()
            ))
        })?;
        let bins: Vec<&str> = root.targets.iter().filter(|t| t.is_bin()).map(|t| t.name.as_str()).collect();
        let bin = match (bin, bins.as_slice()) {
            (Some(wanted), _) if bins.contains(&wanted) => wanted.to_string(),
            (Some(wanted), _) => {
                return Err(DevError::Project(format!(
                    "crate {} has no binary {wanted:?}; its binaries: {}",
                    root.name,
                    list(&bins)
                )))
            }
            (None, [only]) => (*only).to_string(),
            (None, []) => {
                return Err(DevError::Project(format!(
                    "crate {} has no binary: an rgi application needs a main that calls rgi::run",
                    root.name
                )))
            }
            (None, many) => {
                return Err(DevError::Project(format!(
                    "crate {} has several binaries ({}): choose one with --bin",
                    root.name,
                    list(many)
                )))
            }
        };
        let dir = root.manifest_path.parent().map(|p| p.as_std_path().to_path_buf()).unwrap_or_default();
        let watch = local_closure(&metadata, &root.id);
        Ok(Self {
            manifest: root.manifest_path.clone().into_std_path_buf(),
            dir,
            package: root.name.to_string(),
            bin,
            target_dir: metadata.target_directory.clone().into_std_path_buf(),
            watch,
        })
    }
}

/// The platform cargo builds for by default, as `rustc -vV` names it.
fn host_triple() -> Option<String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = std::process::Command::new(rustc).arg("-vV").output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    text.lines().find_map(|l| l.strip_prefix("host: ")).map(|h| h.trim().to_string())
}

fn list(names: &[&str]) -> String {
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}

/// The directories of `root` and of the local (path) packages it depends
/// on, directly or not, for building (not dev-dependencies).
fn local_closure(metadata: &Metadata, root: &PackageId) -> Vec<PathBuf> {
    let packages: HashMap<&PackageId, &cargo_metadata::Package> =
        metadata.packages.iter().map(|p| (&p.id, p)).collect();
    let nodes: HashMap<&PackageId, &cargo_metadata::Node> =
        metadata.resolve.iter().flat_map(|r| r.nodes.iter()).map(|n| (&n.id, n)).collect();
    let mut seen = BTreeSet::new();
    let mut dirs = BTreeSet::new();
    let mut stack = vec![root];
    while let Some(id) = stack.pop() {
        if !seen.insert(id) {
            continue;
        }
        let Some(package) = packages.get(id) else { continue };
        // Registry and git packages do not change under the developer.
        if package.source.is_some() {
            continue;
        }
        if let Some(dir) = package.manifest_path.parent() {
            dirs.insert(dir.as_std_path().to_path_buf());
        }
        if let Some(node) = nodes.get(id) {
            for dep in &node.deps {
                if dep.dep_kinds.iter().any(|k| k.kind != DependencyKind::Development) {
                    stack.push(&dep.pkg);
                }
            }
        }
    }
    dirs.into_iter().collect()
}
