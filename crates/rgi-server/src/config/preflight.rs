//! What `--check` verifies beyond the file itself: that what it names
//! exists on this machine (programs, directories, settings files). The
//! server only warns about these at start, since a missing program stops
//! its group, not the server.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::{Config, ConfigError, MountTarget};

impl Config {
    /// Problems with what the configuration names on this machine: a
    /// group's program missing or not executable, a `working-dir`,
    /// `settings` file or static directory missing. Empty when all is
    /// well.
    pub fn preflight(&self) -> Vec<ConfigError> {
        let mut problems = Vec::new();
        let mut invalid = |message: String| problems.push(ConfigError::Invalid { path: self.path.clone(), message });
        for group in &self.groups {
            let name = &group.name;
            if let Some(program) = group.command.first() {
                let path_var = group.env.iter().find(|(k, _)| k == "PATH").map(|(_, v)| v.clone());
                if let Err(why) = find_program(program, path_var.as_deref()) {
                    invalid(format!("[groups.{name}] command: {why}"));
                }
            }
            if let Some(dir) = &group.working_dir {
                if !dir.is_dir() {
                    invalid(format!("[groups.{name}] working-dir {}: no such directory", dir.display()));
                }
            }
            if let Some(file) = &group.settings {
                if !file.is_file() {
                    invalid(format!("[groups.{name}] settings {}: no such file", file.display()));
                }
            }
        }
        if let Some(tls) = &self.tls {
            if let Err(e) = rgi_embedded::TlsConfig::load(&tls.cert, &tls.key) {
                invalid(format!("[server] {e}"));
            }
        }
        for (prefix, target) in &self.mounts {
            if let MountTarget::Static { dir, .. } = target {
                if !dir.is_dir() {
                    invalid(format!("mount {prefix:?}: static directory {}: no such directory", dir.display()));
                }
            }
        }
        problems
    }
}

/// Finds `program` as the supervisor's spawn will: a path as it is, a
/// bare name in `PATH` (the group's own, else the server's).
fn find_program(program: &str, path_var: Option<&str>) -> Result<PathBuf, String> {
    if program.contains('/') {
        return executable(Path::new(program)).map(|()| PathBuf::from(program));
    }
    let path_var = path_var.map(str::to_string).or_else(|| std::env::var("PATH").ok()).unwrap_or_default();
    std::env::split_paths(&path_var)
        .map(|dir| dir.join(program))
        .find(|candidate| executable(candidate).is_ok())
        .ok_or_else(|| format!("{program:?} is not in PATH ({path_var})"))
}

fn executable(path: &Path) -> Result<(), String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!("{}: not a file", path.display()));
    }
    if meta.permissions().mode() & 0o111 == 0 {
        return Err(format!("{}: not executable (chmod +x)", path.display()));
    }
    Ok(())
}
