//! Daemons run as the configured user, checked from outside (DMN-11).
#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

mod support;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::Duration;

use rgi_test_support::get;
use support::*;

fn is_root() -> bool {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() == 0 }
}

#[test]
fn a_group_with_a_user_runs_as_that_user_with_no_other_groups() {
    // DMN-11
    if !is_root() {
        rgi_test_support::skip("the privilege-dropping test", "dropping privileges needs root");
        return;
    }
    // A copy `nobody` may run, whatever the checkout's permissions.
    let place = tempfile::tempdir().unwrap();
    std::fs::set_permissions(place.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let app = place.path().join("rgi-test-app");
    std::fs::copy(test_app(), &app).unwrap();
    let config = format!(
        r#"
[server]
status = "/server-status"

[groups.t]
command = ["{}"]
processes = 1
user = "nobody"
working-dir = "/"

[[mounts]]
prefix = "/"
group = "t"
"#,
        app.display()
    );
    let server = ServerProc::start(&config);
    server.wait_ready("t", 1, Duration::from_secs(20));
    let (status, ids) = get(server.addr, "/uid");
    assert_eq!(status, 200, "{ids}");
    let line =
        |key: &str| ids.lines().find_map(|l| l.strip_prefix(key)).unwrap().split_whitespace().collect::<Vec<_>>();
    assert_eq!(line("Uid:"), ["65534"; 4], "{ids}");
    assert_eq!(line("Gid:"), ["65534"; 4], "{ids}");
    assert!(line("Groups:").iter().all(|g| *g == "65534"), "supplementary groups kept: {ids}");
}

#[test]
fn an_unknown_user_or_group_is_a_configuration_error() {
    // DMN-11
    for (key, value) in [("user", "no-such-user-rgi"), ("group", "no-such-group-rgi")] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rgi.toml");
        let text = format!(
            "[groups.t]\ncommand = [\"{}\"]\n{key} = \"{value}\"\n\n[[mounts]]\nprefix = \"/\"\ngroup = \"t\"\n",
            test_app().display()
        );
        std::fs::write(&path, text).unwrap();
        let out =
            Command::new(env!("CARGO_BIN_EXE_rgi-server")).arg("--config").arg(&path).arg("--check").output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(value) && stderr.contains(&format!("[groups.t] {key}")), "{stderr}");
    }
}
