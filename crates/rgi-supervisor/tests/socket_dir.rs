//! The socket directory refuses every shape that would let another user
//! reach, replace or redirect daemon sockets (DMN-10).
#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use rgi_supervisor::SocketDir;

fn mode(path: &Path) -> u32 {
    fs::symlink_metadata(path).unwrap().mode() & 0o7777
}

fn refusal(path: &Path, group: Option<u32>) -> String {
    let err = SocketDir::open(Some(path), group).unwrap_err().to_string();
    assert!(err.contains(&path.display().to_string()), "the error names the path: {err}");
    err
}

// SAFETY (for the calls below): getegid/geteuid cannot fail.
fn egid() -> u32 {
    unsafe { libc::getegid() }
}

fn euid() -> u32 {
    unsafe { libc::geteuid() }
}

#[test]
fn a_new_directory_is_private_and_removed_when_dropped() {
    // DMN-10
    let parent = tempfile::tempdir().unwrap();
    let path = parent.path().join("sockets");
    let dir = SocketDir::open(Some(&path), None).unwrap();
    assert_eq!(mode(&path), 0o700);
    let (socket, _listener) = dir.bind("a.sock").unwrap();
    assert_eq!(mode(&socket), 0o600);
    drop(dir);
    assert!(!path.exists(), "a directory the server created is removed");
}

#[test]
fn a_socket_group_gets_search_access_and_group_sockets() {
    // DMN-10
    let parent = tempfile::tempdir().unwrap();
    let path = parent.path().join("sockets");
    let gid = egid();
    let dir = SocketDir::open(Some(&path), Some(gid)).unwrap();
    assert_eq!(mode(&path), 0o710);
    assert_eq!(fs::metadata(&path).unwrap().gid(), gid);
    let (socket, _listener) = dir.bind("a.sock").unwrap();
    assert_eq!(mode(&socket), 0o660);
    assert_eq!(fs::metadata(&socket).unwrap().gid(), gid);
}

#[test]
fn an_existing_private_directory_is_used_and_kept() {
    // DMN-10
    let parent = tempfile::tempdir().unwrap();
    let path = parent.path().join("sockets");
    fs::create_dir(&path).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o700)).unwrap();
    drop(SocketDir::open(Some(&path), None).unwrap());
    assert!(path.is_dir(), "a directory the server did not create is left alone");
}

#[test]
fn a_symbolic_link_is_refused() {
    // DMN-10
    let parent = tempfile::tempdir().unwrap();
    let target = parent.path().join("elsewhere");
    fs::create_dir(&target).unwrap();
    fs::set_permissions(&target, fs::Permissions::from_mode(0o700)).unwrap();
    let path = parent.path().join("sockets");
    std::os::unix::fs::symlink(&target, &path).unwrap();
    assert!(refusal(&path, None).contains("symbolic link"));
}

#[test]
fn a_directory_open_to_others_is_refused() {
    // DMN-10
    let parent = tempfile::tempdir().unwrap();
    let path = parent.path().join("sockets");
    fs::create_dir(&path).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    let err = refusal(&path, None);
    assert!(err.contains("755") && err.contains("lets others in"), "{err}");
    // 0710 is fine only when a socket group is named.
    fs::set_permissions(&path, fs::Permissions::from_mode(0o710)).unwrap();
    refusal(&path, None);
    SocketDir::open(Some(&path), Some(egid())).unwrap();
}

#[test]
fn a_file_in_the_way_is_refused() {
    // DMN-10
    let parent = tempfile::tempdir().unwrap();
    let path = parent.path().join("sockets");
    fs::write(&path, "not a directory").unwrap();
    assert!(refusal(&path, None).contains("not a directory"));
}

#[test]
fn a_parent_anyone_can_write_is_refused_unless_sticky() {
    // DMN-10
    let parent = tempfile::tempdir().unwrap();
    fs::set_permissions(parent.path(), fs::Permissions::from_mode(0o777)).unwrap();
    let path = parent.path().join("sockets");
    assert!(refusal(&path, None).contains("writable by anyone"));
    assert!(!path.exists(), "nothing is created in an unsafe parent");
    // With the sticky bit (as /tmp has), others cannot rename it away.
    fs::set_permissions(parent.path(), fs::Permissions::from_mode(0o1777)).unwrap();
    drop(SocketDir::open(Some(&path), None).unwrap());
}

#[test]
fn a_directory_of_another_user_is_refused() {
    // DMN-10
    if euid() != 0 {
        rgi_test_support::skip(
            "the other-owner socket-dir test",
            "only root can make a directory owned by another user",
        );
        return;
    }
    let parent = tempfile::tempdir().unwrap();
    let path = parent.path().join("sockets");
    fs::create_dir(&path).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::chown(&path, Some(65534), None).unwrap();
    assert!(refusal(&path, None).contains("belongs to uid 65534"));
}
