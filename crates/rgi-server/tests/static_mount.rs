//! A static-file mount beside a daemon group, through the real server.
#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

mod support;

use std::time::Duration;

use rgi_test_support::get;
use support::*;

#[test]
fn a_static_mount_serves_its_directory_and_nothing_outside() {
    // DMN-12
    // outer/www is served; outer/rgi-static-secret.txt must never be.
    let outer = tempfile::tempdir().unwrap();
    let www = outer.path().join("www");
    std::fs::create_dir(&www).unwrap();
    std::fs::write(www.join("a.txt"), "static text").unwrap();
    std::fs::write(outer.path().join("rgi-static-secret.txt"), "secret").unwrap();
    let config = r#"
[groups.t]
command = ["{app}"]
processes = 1

[[mounts]]
prefix = "/"
group = "t"

[[mounts]]
prefix = "/static"
static = "{www}"
"#;
    let server = ServerProc::start(&config.replace("{www}", &www.display().to_string()));
    let (status, body) = get(server.addr, "/static/a.txt");
    assert_eq!((status, body.as_str()), (200, "static text"));
    // Kept in memory now; a change on disk still shows, within moments.
    std::fs::write(www.join("a.txt"), "changed text").unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while get(server.addr, "/static/a.txt").1 != "changed text" {
        assert!(std::time::Instant::now() < deadline, "the change never showed");
        std::thread::sleep(Duration::from_millis(10));
    }
    for escape in [
        "/static/../rgi-static-secret.txt",
        "/static/%2e%2e/rgi-static-secret.txt",
        "/static/..%2frgi-static-secret.txt",
        "/static/missing",
    ] {
        // Dot segments are removed first (PATH-2), so `..` may land on the
        // group at / instead; what matters is that no file from outside
        // the directory is ever sent.
        let (status, body) = get(server.addr, escape);
        assert!(!body.contains("secret"), "{escape} leaked a file from outside the root: {status}");
        assert!(status == 404 || status == 400 || body.starts_with("ok "), "{escape}: {status} {body}");
    }
    // The group at / is unaffected.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while get(server.addr, "/").0 != 200 {
        assert!(std::time::Instant::now() < deadline, "the group never served");
        std::thread::sleep(Duration::from_millis(50));
    }
}
