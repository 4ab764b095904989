//! Upgrading rgi-server's own binary under load: 32 kept-alive clients
//! (as `wrk -c32`), `SIGUSR2` while they run, and not one failed request
//! (SRV-15).
#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

mod support;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rgi_test_support::{alive, get, KeepAlive};
use support::{load_clients, wait_for_requests, ServerProc};

const CONFIG: &str = r#"
[server]
status = "/server-status"
drain-period = "2s"

[groups.t]
command = ["{app}"]
processes = 2
threads = 1
graceful-timeout = 5

[[mounts]]
prefix = "/"
group = "t"
"#;

/// Stops the successor, which is not our child (its parent was the old
/// server), by its pid when the test ends, however it ends.
struct Successor(u32);

impl Drop for Successor {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the server the test upgraded to.
        unsafe { libc::kill(i32::try_from(self.0).unwrap_or(i32::MAX), libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(20);
        while alive(self.0) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        if alive(self.0) {
            // SAFETY: as above; it did not stop in time.
            unsafe { libc::kill(i32::try_from(self.0).unwrap_or(i32::MAX), libc::SIGKILL) };
        }
    }
}

fn daemon_pids(addr: std::net::SocketAddr) -> BTreeSet<String> {
    let mut conn = KeepAlive::connect(addr).unwrap();
    (0..20).map(|_| conn.get("/pid").unwrap().1).collect()
}

#[test]
fn a_binary_upgrade_under_load_fails_no_request() {
    // SRV-15
    let mut server = ServerProc::start(CONFIG);
    server.wait_ready("t", 2, Duration::from_secs(20));
    let addr = server.addr;
    let old_daemons = daemon_pids(addr);
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let clients = load_clients(addr, 32, "/pid", &stop, &done);
    let wait_for = |n: u64| wait_for_requests(&done, n, Duration::from_secs(60));
    wait_for(500);
    server.process.signal(libc::SIGUSR2);
    server
        .wait_log(Duration::from_secs(60), "the new binary to be ready", |log| log.contains("the new binary is ready"));
    let log = server.log();
    let line = log.lines().find(|l| l.contains("the new binary is ready")).unwrap();
    let new_pid: u32 = line.split("pid=").nth(1).and_then(|r| r.split_whitespace().next()).unwrap().parse().unwrap();
    let _successor = Successor(new_pid);
    assert_ne!(new_pid, server.pid());
    // The old server drains and stops by itself, with success.
    let status = server.process.wait(Duration::from_secs(30));
    assert!(status.success(), "the old server ended {status:?}:\n{}", server.log());
    // The clients go on, now served by the new server's daemons.
    let at_handover = done.load(Ordering::Relaxed);
    wait_for(at_handover + 500);
    stop.store(true, Ordering::Relaxed);
    let failures: Vec<String> = clients.into_iter().flat_map(|c| c.join().unwrap()).collect();
    assert!(
        failures.is_empty(),
        "{} failed requests across the upgrade: {:?}\nlog:\n{}",
        failures.len(),
        &failures[..failures.len().min(5)],
        server.log()
    );
    let new_daemons = daemon_pids(addr);
    assert!(new_daemons.is_disjoint(&old_daemons), "old daemons still answer: {old_daemons:?} {new_daemons:?}");
    assert_eq!(get(addr, "/").0, 200);
}

#[test]
fn a_successor_that_cannot_start_leaves_the_server_serving() {
    // SRV-15: the configuration the new binary reads is broken now.
    let server = ServerProc::start(CONFIG);
    server.wait_ready("t", 2, Duration::from_secs(20));
    std::fs::write(server.dir.path().join("rgi.toml"), "this is not toml").unwrap();
    server.process.signal(libc::SIGUSR2);
    server.wait_log(Duration::from_secs(60), "the failed upgrade", |log| log.contains("binary upgrade failed"));
    assert!(alive(server.pid()));
    assert_eq!(get(server.addr, "/").0, 200, "the old server goes on serving");
    // Now a configuration whose application cannot start: the new binary
    // must not take over (nor accept a connection) with a group that fails.
    let broken = CONFIG.replace("{app}", "/bin/false");
    std::fs::write(server.dir.path().join("rgi.toml"), broken).unwrap();
    server.process.signal(libc::SIGUSR2);
    server.wait_log(Duration::from_secs(90), "the second failed upgrade", |log| {
        log.matches("binary upgrade failed").count() >= 2
    });
    assert!(server.log().contains("group t cannot start"), "{}", server.log());
    for _ in 0..20 {
        assert_eq!(get(server.addr, "/").0, 200, "the old server goes on serving");
    }
}
