//! The private directory daemon sockets live in (DMN-10).

use std::fs;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::SupervisorError;
use crate::sys;

/// A directory only the server (and, optionally, one group such as the
/// front server's) can enter. Created here and removed on drop; an
/// existing one is used only if it is a real directory owned by this user
/// and closed to others.
#[derive(Debug)]
pub struct SocketDir {
    path: PathBuf,
    created: bool,
    /// Another server (a successor) uses the directory now.
    handed_on: std::sync::atomic::AtomicBool,
    group: Option<u32>,
}

impl SocketDir {
    /// Opens or creates `path`, or a fresh default when `None`:
    /// `$XDG_RUNTIME_DIR/rgi-server-PID`, `/run/rgi-server-PID` as root, else
    /// the temporary directory. `group` lets that group (a front such as
    /// nginx) reach the sockets: the directory becomes 0710 and sockets 0660.
    pub fn open(path: Option<&Path>, group: Option<u32>) -> Result<Self, SupervisorError> {
        let path = match path {
            Some(p) => p.to_path_buf(),
            None => default_path(),
        };
        let bad = |reason: String| SupervisorError::SocketDir { path: path.clone(), reason };
        let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let parent_meta = fs::metadata(parent).map_err(|e| bad(format!("its parent cannot be read: {e}")))?;
        let mode = parent_meta.mode();
        // Others could replace the directory: only a sticky parent (/tmp)
        // stops them from renaming what they do not own.
        if mode & 0o002 != 0 && mode & 0o1000 == 0 {
            return Err(bad(format!("its parent {} is writable by anyone", parent.display())));
        }
        let created = match fs::symlink_metadata(&path) {
            Ok(meta) => {
                if meta.file_type().is_symlink() {
                    return Err(bad("it is a symbolic link".into()));
                }
                if !meta.is_dir() {
                    return Err(bad("it exists and is not a directory".into()));
                }
                if meta.uid() != sys::euid() {
                    return Err(bad(format!("it belongs to uid {}, not to this user", meta.uid())));
                }
                let allowed = if group.is_some() { 0o710 } else { 0o700 };
                if meta.mode() & 0o777 & !allowed != 0 {
                    return Err(bad(format!("its mode {:o} lets others in (use {allowed:o})", meta.mode() & 0o777)));
                }
                false
            }
            Err(_) => {
                fs::DirBuilder::new().mode(0o700).create(&path).map_err(|e| bad(format!("cannot create it: {e}")))?;
                true
            }
        };
        if let Some(gid) = group {
            sys::chown_group(&path, gid).map_err(|e| bad(format!("cannot give it to group {gid}: {e}")))?;
            fs::set_permissions(&path, fs::Permissions::from_mode(0o710))
                .map_err(|e| bad(format!("cannot set its mode: {e}")))?;
        }
        Ok(Self { path, created, group, handed_on: std::sync::atomic::AtomicBool::new(false) })
    }

    /// Leaves the directory in place when this is dropped: a server that
    /// handed over to a successor using the same directory.
    pub fn hand_on(&self) {
        self.handed_on.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Binds a listening socket named `name` in the directory, 0600 (0660
    /// for the front's group).
    pub fn bind(&self, name: &str) -> Result<(PathBuf, std::os::unix::net::UnixListener), SupervisorError> {
        let path = self.path.join(name);
        let _ = fs::remove_file(&path);
        let fail = |reason: String| SupervisorError::Socket { path: path.clone(), reason };
        let listener = std::os::unix::net::UnixListener::bind(&path).map_err(|e| fail(e.to_string()))?;
        let mode = if self.group.is_some() { 0o660 } else { 0o600 };
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).map_err(|e| fail(e.to_string()))?;
        if let Some(gid) = self.group {
            sys::chown_group(&path, gid).map_err(|e| fail(e.to_string()))?;
        }
        Ok((path, listener))
    }
}

fn default_path() -> PathBuf {
    let name = format!("rgi-server-{}", std::process::id());
    if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join(name);
    }
    if sys::euid() == 0 {
        return PathBuf::from("/run").join(name);
    }
    std::env::temp_dir().join(format!("rgi-server-{}-{}", sys::euid(), std::process::id()))
}

impl Drop for SocketDir {
    fn drop(&mut self) {
        if self.created && !self.handed_on.load(std::sync::atomic::Ordering::Relaxed) {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}
