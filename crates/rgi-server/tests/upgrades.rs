//! WebSockets through rgi-server's daemon groups: axum's
//! `WebSocketUpgrade`, unchanged, in the daemons (UPG-7); the group's
//! limit, on the status page (UPG-8); a reload that keeps 1,000 open
//! sockets up to the graceful timeout, and a crash that closes only the
//! crashed process's own (UPG-9).
#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

mod support;

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use rgi_test_support::ws::{self, Socket};
use rgi_test_support::{get, request};
use support::*;
use tokio_tungstenite::tungstenite::Message;

fn start(grace: &str, limit: usize) -> ServerProc {
    let server = ServerProc::start(&format!(
        r#"
[server]
status = "/server-status"

[groups.app]
command = ["{{axum}}"]
processes = 2
graceful-timeout = "{grace}"
max-upgraded = {limit}

[[mounts]]
prefix = "/"
group = "app"
"#
    ));
    server.wait_ready("app", 2, Duration::from_secs(30));
    server
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// Echoes one message on every socket, all at once; how many failed.
async fn echo_all(sockets: &mut [Socket], text: &str) -> Vec<String> {
    let echoes = sockets.iter_mut().enumerate().map(|(i, s)| ws::echo(s, Message::text(format!("{text} {i}"))));
    futures_util::future::join_all(echoes).await.into_iter().filter_map(Result::err).collect()
}

/// Waits until `check` holds for the group's open tunnels per process.
fn wait_upgraded(server: &ServerProc, what: &str, check: impl Fn(&std::collections::BTreeMap<u32, usize>) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !check(&server.upgraded("app")) {
        assert!(Instant::now() < deadline, "{what}:\n{}", server.status());
        std::thread::sleep(Duration::from_millis(20));
    }
}

const UPGRADE: &str = "GET /ws HTTP/1.1\r\nHost: t\r\nConnection: Upgrade, close\r\nUpgrade: websocket\r\n\
                       Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";

#[test]
fn the_group_limits_open_websockets_and_its_status_page_counts_them() {
    // UPG-7, UPG-8
    let server = start("5s", 4);
    let url = format!("ws://{}/ws", server.addr);
    let rt = runtime();
    let mut sockets = rt.block_on(ws::many(&url, 4)).unwrap();
    let status = server.status();
    assert!(status.contains("upgraded open: 4 of 4"), "{status}");
    // Spread over the processes by how many each holds.
    assert_eq!(server.upgraded("app").values().copied().collect::<Vec<_>>(), [2, 2], "{status}");
    let metrics = get(server.addr, "/server-status?openmetrics").1;
    assert!(metrics.contains("rgi_group_upgraded{group=\"app\"} 4"), "{metrics}");

    // One more is refused, saying why; everything else goes on.
    let (status, body) = request(server.addr, UPGRADE);
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("too many upgraded connections"), "{body}");
    server.wait_log(Duration::from_secs(5), "the refusal's log line", |log| log.contains("max-upgraded"));
    assert!(rt.block_on(echo_all(&mut sockets, "still")).is_empty());
    assert_eq!(get(server.addr, "/").0, 200);

    // A socket closed frees its place.
    let mut closed = sockets.pop().unwrap();
    rt.block_on(async {
        closed.close(None).await.unwrap();
        while let Some(Ok(_)) = closed.next().await {}
    });
    wait_upgraded(&server, "the closed socket to be counted out", |open| open.values().sum::<usize>() == 3);
    rt.block_on(ws::conversation(&url)).unwrap();
}

#[test]
fn a_crashed_daemon_closes_only_its_own_websockets() {
    // UPG-9
    let server = start("5s", 100);
    let url = format!("ws://{}/ws", server.addr);
    let rt = runtime();
    let mut sockets = rt.block_on(ws::many(&url, 10)).unwrap();
    let open = server.upgraded("app");
    let (&victim, &its_own) = open.iter().next().unwrap();
    assert_eq!(open.values().sum::<usize>(), 10, "{}", server.status());
    // SAFETY: kill(2) on a daemon of the server this test started.
    unsafe { libc::kill(i32::try_from(victim).unwrap(), libc::SIGKILL) };
    let failed = rt.block_on(async {
        let echoes = sockets.iter_mut().enumerate().map(|(i, s)| async move {
            tokio::time::timeout(Duration::from_secs(10), ws::echo(s, Message::text(format!("after {i}")))).await
        });
        futures_util::future::join_all(echoes).await.into_iter().filter(|r| !matches!(r, Ok(Ok(())))).count()
    });
    assert_eq!(failed, its_own, "only the crashed process's sockets may close:\n{}", server.status());
    // The group replaces the process; new sockets open as before.
    server.wait_ready("app", 2, Duration::from_secs(30));
    rt.block_on(ws::conversation(&url)).unwrap();
}

#[test]
fn a_reload_under_1000_open_websockets_drops_none_before_the_graceful_timeout() {
    // UPG-9: the old processes keep their sockets until the
    // graceful timeout, then close them; new sockets go to the new ones.
    // 1,000 sockets need more descriptors than a soft limit of 1,024.
    rgi_embedded::raise_open_files_limit();
    let grace = Duration::from_secs(6);
    let server = start("6s", 2000);
    let url = format!("ws://{}/ws", server.addr);
    let rt = runtime();
    let mut sockets = Vec::new();
    for _ in 0..10 {
        sockets.extend(rt.block_on(ws::many(&url, 100)).unwrap());
    }
    let old = server.pids("app", "ready");
    assert_eq!(server.upgraded("app").values().sum::<usize>(), 1000, "{}", server.status());

    let reloaded = Instant::now();
    server.signal(libc::SIGHUP);
    let deadline = Instant::now() + Duration::from_secs(30);
    let new = loop {
        let ready = server.pids("app", "ready");
        if ready.len() == 2 && ready.iter().all(|p| !old.contains(p)) {
            break ready;
        }
        assert!(Instant::now() < deadline, "no new processes:\n{}", server.status());
        std::thread::sleep(Duration::from_millis(20));
    };
    // A new socket goes to a new process.
    let mut fresh = rt.block_on(ws::connect(&url)).unwrap();
    rt.block_on(ws::echo(&mut fresh, Message::text("new"))).unwrap();
    let open = server.upgraded("app");
    assert_eq!(new.iter().map(|p| open.get(p).copied().unwrap_or(0)).sum::<usize>(), 1, "{}", server.status());
    // Every old socket still talks, well within the graceful timeout.
    let failed = rt.block_on(echo_all(&mut sockets, "after the reload"));
    let talked = reloaded.elapsed();
    assert!(
        failed.is_empty(),
        "{} sockets failed after the reload: {:?}",
        failed.len(),
        &failed[..failed.len().min(3)]
    );
    assert!(talked < grace, "the echoes took until {talked:?}, past the graceful timeout: the test proves nothing");

    // Then the old processes close them, none before the timeout.
    let closes = rt.block_on(async {
        let waits = sockets.iter_mut().map(|s| async move {
            tokio::time::timeout(Duration::from_secs(30), async { while let Some(Ok(_)) = s.next().await {} })
                .await
                .ok()?;
            Some(reloaded.elapsed())
        });
        futures_util::future::join_all(waits).await
    });
    let closed: Vec<Duration> = closes.into_iter().flatten().collect();
    assert_eq!(closed.len(), 1000, "sockets still open 30 s after the graceful timeout");
    let first = closed.iter().min().unwrap();
    assert!(*first >= grace - Duration::from_millis(500), "a socket closed at {first:?}, before the graceful timeout");
    // The new process's socket is untouched.
    rt.block_on(ws::echo(&mut fresh, Message::text("still new"))).unwrap();
}

#[test]
fn a_native_application_upgrades_behind_the_front_too() {
    // UPG-3, UPG-7, UPG-10: rgi-core's own OnUpgrade, in a daemon.
    use std::io::{Read, Write};
    let server = ServerProc::start(
        r#"
[groups.app]
command = ["{app}"]
processes = 1

[[mounts]]
prefix = "/native"
group = "app"
"#,
    );
    let mut conn = std::net::TcpStream::connect(server.addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    conn.write_all(b"GET /native/upgrade HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n").unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        assert_eq!(
            conn.read(&mut byte).unwrap(),
            1,
            "closed after {:?}\n{}",
            String::from_utf8_lossy(&head),
            server.log()
        );
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"), "{}", String::from_utf8_lossy(&head));
    conn.write_all(b"hello, daemon").unwrap();
    let mut echo = [0u8; 13];
    conn.read_exact(&mut echo).unwrap();
    assert_eq!(&echo, b"hello, daemon");
    conn.shutdown(std::net::Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    conn.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "{rest:?}");
    assert_eq!(request(server.addr, "GET /native/upgrade HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").0, 426);
    // UPG-3: a 101 to a request that asked for none is refused, over
    // FastCGI as embedded; nothing is tunnelled, the server goes on.
    let (status, body) = request(server.addr, "GET /native/switch HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    assert_eq!(status, 500, "{body}");
    assert_eq!(get(server.addr, "/native/").0, 200);
}
