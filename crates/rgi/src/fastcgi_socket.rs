//! The Unix socket a daemon binds itself (`RGI_FASTCGI=unix:PATH`), for a
//! front that runs as another user: its mode and group, and where it may
//! live.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

/// Refuses a socket directory that anyone may write to without the sticky
/// bit: anyone could replace the socket with their own.
pub(crate) fn check_parent(path: &Path) -> Result<(), String> {
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let meta = std::fs::metadata(parent).map_err(|e| format!("RGI_FASTCGI: {}: {e}", parent.display()))?;
    let mode = meta.mode();
    if mode & 0o002 != 0 && mode & 0o1000 == 0 {
        return Err(format!(
            "RGI_FASTCGI: {} is writable by anyone, who could replace the socket; use a directory only the \
             daemon's user (and the front's group) can write",
            parent.display()
        ));
    }
    Ok(())
}

/// Applies `RGI_FASTCGI_MODE` (octal, e.g. `660`) and `RGI_FASTCGI_GROUP`
/// (a group name, e.g. `www-data`) to the socket just bound, so a front of
/// that group can connect without a manual chmod.
pub(crate) fn set_owner_and_mode(path: &Path) -> Result<(), String> {
    if let Ok(group) = std::env::var("RGI_FASTCGI_GROUP") {
        let gid = rgi_daemon::group_id(&group).map_err(|e| format!("RGI_FASTCGI_GROUP={group:?}: {e}"))?;
        std::os::unix::fs::chown(path, None, Some(gid))
            .map_err(|e| format!("RGI_FASTCGI_GROUP={group:?}: cannot give {} to it: {e}", path.display()))?;
    }
    if let Ok(mode) = std::env::var("RGI_FASTCGI_MODE") {
        let bits = u32::from_str_radix(mode.trim(), 8)
            .ok()
            .filter(|m| *m <= 0o777)
            .ok_or_else(|| format!("RGI_FASTCGI_MODE={mode:?}: expected octal permissions such as 660"))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(bits))
            .map_err(|e| format!("RGI_FASTCGI_MODE={mode:?}: {}: {e}", path.display()))?;
    }
    Ok(())
}
