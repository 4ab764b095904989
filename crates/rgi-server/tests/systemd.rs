//! rgi-server under systemd: notifications on a fake NOTIFY_SOCKET
//! (READY, RELOADING then READY, WATCHDOG, STOPPING), and socket
//! activation (SRV-12, SRV-13).
#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

mod support;

use std::os::fd::AsRawFd;
use std::os::unix::net::UnixDatagram;
use std::process::Command;
use std::time::{Duration, Instant};

use rgi_test_support::{get, pass_fd, LoggedChild};
use support::test_app;

const CONFIG: &str = r#"
[groups.t]
command = ["{app}"]
processes = 1

[[mounts]]
prefix = "/"
group = "t"
"#;

fn write_config(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("rgi.toml");
    std::fs::write(&path, CONFIG.replace("{app}", &test_app().display().to_string())).unwrap();
    path
}

/// Waits for a datagram on `socket` that contains `want`; returns it.
fn expect(socket: &UnixDatagram, want: &str, log: &dyn Fn() -> String) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "no {want:?} from rgi-server; its log:\n{}", log());
        socket.set_read_timeout(Some(left)).unwrap();
        if let Ok(n) = socket.recv(&mut buf) {
            let message = String::from_utf8_lossy(&buf[..n]).into_owned();
            if message.contains(want) {
                return message;
            }
        }
    }
}

#[test]
fn systemd_hears_ready_reloading_watchdog_and_stopping() {
    // SRV-12
    let dir = tempfile::tempdir().unwrap();
    let notify = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&notify).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_rgi-server"));
    command
        .arg("--config")
        .arg(write_config(dir.path()))
        .args(["--listen", "127.0.0.1:0"])
        .env("RGI_LOG", "info")
        .env("NOTIFY_SOCKET", &notify)
        .env("WATCHDOG_USEC", "400000")
        .env_remove("WATCHDOG_PID");
    let (mut server, addr) =
        LoggedChild::spawn("rgi-server", command, Duration::from_secs(30), rgi_test_support::listening_addr);
    let log = || server.log();
    expect(&socket, "READY=1", &log);
    expect(&socket, "WATCHDOG=1", &log);
    assert_eq!(get(addr, "/").0, 200);

    server.signal(libc::SIGHUP);
    let reloading = expect(&socket, "RELOADING=1", &log);
    assert!(reloading.contains("MONOTONIC_USEC="), "{reloading}");
    // READY again once the new processes serve.
    expect(&socket, "READY=1", &log);
    assert_eq!(get(addr, "/").0, 200);

    server.signal(libc::SIGTERM);
    expect(&socket, "STOPPING=1", &log);
    assert!(server.wait(Duration::from_secs(30)).success());
}

#[test]
fn socket_activation_serves_on_the_socket_systemd_passed() {
    // SRV-13: no [server] listen, no --listen: the inherited socket.
    let dir = tempfile::tempdir().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // As systemd starts it: the socket as fd 3, LISTEN_PID its own pid.
    let mut command = Command::new("/bin/sh");
    command
        .arg("-c")
        .arg("LISTEN_PID=$$ LISTEN_FDS=1 exec \"$0\" --config \"$1\"")
        .arg(env!("CARGO_BIN_EXE_rgi-server"))
        .arg(write_config(dir.path()))
        .env("RGI_LOG", "info");
    pass_fd(&mut command, listener.as_raw_fd(), 3);
    let (server, _) = LoggedChild::spawn("rgi-server", command, Duration::from_secs(30), |line| {
        line.contains("LISTEN_FDS").then(|| "127.0.0.1:1".to_string())
    });
    drop(listener);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = get(addr, "/pid");
        if status == 200 {
            assert!(body.parse::<u32>().is_ok(), "{body}");
            break;
        }
        assert!(Instant::now() < deadline, "nothing answered on the passed socket; log:\n{}", server.log());
        std::thread::sleep(Duration::from_millis(50));
    }
}
