//! An application sets its own body limit in code; the deployment's, from
//! the environment, wins over it (DEP-7).
#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

use std::process::Command;
use std::time::Duration;

use rgi_test_support::{request, LoggedChild};

fn start(env: &[(&str, &str)]) -> (LoggedChild, std::net::SocketAddr) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rgi-test-app"));
    command.env("RGI_BIND", "127.0.0.1:0").env("RGI_LOG", "info").env_remove("RGI_MAX_BODY_BYTES");
    for (k, v) in env {
        command.env(k, v);
    }
    let (child, addr) =
        LoggedChild::spawn("rgi-test-app", command, Duration::from_secs(30), rgi_test_support::listening_addr);
    (child, addr)
}

fn post(addr: std::net::SocketAddr, len: usize) -> u16 {
    let raw =
        format!("POST / HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: {len}\r\n\r\n{}", "x".repeat(len));
    request(addr, &raw).0
}

#[test]
fn the_applications_limit_applies_unless_the_deployment_sets_one() {
    // DEP-7
    let (mut app, addr) = start(&[("RGI_TEST_APP_BODY_LIMIT", "10")]);
    assert_eq!(post(addr, 10), 200);
    assert_eq!(post(addr, 20), 413, "the application's own limit");
    app.stop();
    let (mut app, addr) = start(&[("RGI_TEST_APP_BODY_LIMIT", "10"), ("RGI_MAX_BODY_BYTES", "100")]);
    assert_eq!(post(addr, 20), 200, "the deployment's limit wins");
    assert_eq!(post(addr, 200), 413);
    app.stop();
}
