//! An embedded application behind a balancer: RGI_READINESS,
//! RGI_LIVENESS and RGI_SHUTDOWN_DELAY (SRV-16, SRV-17), on the hello
//! example's binary.
#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

use std::process::Command;
use std::time::{Duration, Instant};

use rgi_test_support::{get, workspace_binary, LoggedChild};

fn hello(env: &[(&str, &str)]) -> (LoggedChild, std::net::SocketAddr) {
    let mut command = Command::new(workspace_binary("hello"));
    command.env("RGI_BIND", "127.0.0.1:0").env("RGI_LOG", "info").envs(env.iter().copied());
    LoggedChild::spawn("hello", command, Duration::from_secs(60), rgi_test_support::listening_addr)
}

#[test]
fn an_embedded_server_reports_not_ready_before_it_stops() {
    // SRV-16, SRV-17
    let (mut app, addr) =
        hello(&[("RGI_READINESS", "/readyz"), ("RGI_LIVENESS", "/livez"), ("RGI_SHUTDOWN_DELAY", "2")]);
    assert_eq!(get(addr, "/readyz"), (200, "ready\n".to_string()));
    assert_eq!(get(addr, "/livez"), (200, "alive\n".to_string()));
    assert_eq!(get(addr, "/"), (200, "Hello, World!".to_string()));
    app.signal(libc::SIGTERM);
    let stopping = Instant::now();
    let deadline = stopping + Duration::from_secs(2);
    loop {
        let (status, body) = get(addr, "/readyz");
        if status == 503 {
            assert!(body.contains("draining"), "{body}");
            break;
        }
        assert!(Instant::now() < deadline, "still ready after SIGTERM: {status} {body}");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Still serving while the balancer notices.
    assert_eq!(get(addr, "/"), (200, "Hello, World!".to_string()));
    assert!(app.wait(Duration::from_secs(30)).success());
    assert!(stopping.elapsed() >= Duration::from_secs(2), "stopped after {:?}", stopping.elapsed());
}

#[test]
fn a_malformed_shutdown_delay_stops_the_start_by_name() {
    let mut command = Command::new(workspace_binary("hello"));
    command.env("RGI_BIND", "127.0.0.1:0").env("RGI_SHUTDOWN_DELAY", "soon");
    let out = command.output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("RGI_SHUTDOWN_DELAY") && err.contains("soon"), "{err}");
}
