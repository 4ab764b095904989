//! The front's pool over real sockets: an embedded server mounting a
//! [`Pool`] whose daemon runs in this process (or is a hostile stand-in).
//! Bodies stream both ways (DMN-3); a vanished client aborts the request
//! at the daemon (FCGI-5); a daemon that is down or talks nonsense costs
//! only its own requests (DMN-4, SRV-7).
#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use rgi_core::{from_fn, Application, Body, Deployment, Error, Mode, Request, Response, Settings};
use rgi_daemon::daemon::{serve, DaemonConfig, DaemonListener};
use rgi_embedded::{BindAddr, Listener, Mounts, Server};
use rgi_supervisor::{BackendAddr, Pool, PoolConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A front on 127.0.0.1 with `pool` at the root; stops when dropped.
struct Front {
    addr: std::net::SocketAddr,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn front(pool: Pool) -> Front {
    let listener = Listener::bind(&"127.0.0.1:0".parse().unwrap()).await.unwrap();
    let BindAddr::Tcp(addr) = listener.local_addr().unwrap() else { panic!("tcp") };
    let mut mounts = Mounts::new();
    mounts.add("", pool).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(Server::builder().mounts(mounts).build().serve(vec![listener], async move {
        let _ = stopped.await;
    }));
    Front { addr, _stop: stop }
}

/// `app` as a daemon on a socket in `dir`, and a pool over it.
fn daemon_pool(dir: &tempfile::TempDir, app: impl Application) -> Pool {
    let socket = dir.path().join("d.sock");
    let listener = DaemonListener::Unix(tokio::net::UnixListener::bind(&socket).unwrap());
    let deployment = Arc::new(Deployment::new(Mode::Daemon, Arc::new(Settings::empty())));
    tokio::spawn(serve(listener, Arc::new(app), deployment, DaemonConfig::default(), std::future::pending()));
    Pool::fixed("g", vec![BackendAddr::Unix(socket)], 8, PoolConfig::default())
}

async fn read_until(conn: &mut TcpStream, seen: &mut Vec<u8>, needle: &str) {
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(seen).contains(needle) {
        let n = tokio::time::timeout(Duration::from_secs(5), conn.read(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("{needle:?} did not arrive; so far: {:?}", String::from_utf8_lossy(seen)))
            .unwrap();
        assert!(n > 0, "connection closed before {needle:?}: {:?}", String::from_utf8_lossy(seen));
        seen.extend_from_slice(&buf[..n]);
    }
}

async fn get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut conn = TcpStream::connect(addr).await.unwrap();
    conn.write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), conn.read_to_end(&mut out)).await.unwrap().unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

/// Echoes each request body chunk as a response chunk, as it arrives.
fn chunk_echo() -> impl Application {
    from_fn(|req: Request| async move {
        let body = req.into_body();
        let echo = futures_util::stream::unfold(Some(body), |state| async move {
            let mut body = state?;
            match body.frame().await? {
                Ok(frame) => frame.into_data().ok().map(|data| (Ok::<_, Error>(data), Some(body))),
                Err(e) => Some((Err(e), None)),
            }
        });
        Ok(Response::new(Body::from_stream(echo)))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_stream_both_ways_through_the_front() {
    // DMN-3: the client reads the answer to its first chunk before it
    // sends the second; nothing on the way waits for a whole body.
    let dir = tempfile::tempdir().unwrap();
    let front = front(daemon_pool(&dir, chunk_echo())).await;
    let mut conn = TcpStream::connect(front.addr).await.unwrap();
    conn.write_all(b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n").await.unwrap();
    let mut seen = Vec::new();
    read_until(&mut conn, &mut seen, "first").await;
    conn.write_all(b"6\r\nsecond\r\n").await.unwrap();
    read_until(&mut conn, &mut seen, "second").await;
    conn.write_all(b"0\r\n\r\n").await.unwrap();
    read_until(&mut conn, &mut seen, "0\r\n\r\n").await;
}

struct Guard(Arc<AtomicUsize>);

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_goes_away_aborts_its_request_at_the_daemon() {
    // FCGI-5, SRV-4: the daemon drops the application's future.
    let dir = tempfile::tempdir().unwrap();
    let dropped = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&dropped);
    let app = from_fn(move |req: Request| {
        let guard = Guard(Arc::clone(&seen));
        async move {
            let _guard = guard;
            // Waits for a body that never fully comes.
            let body = req.into_body().collect(1 << 20).await?;
            Ok(Response::new(Body::from(body.len().to_string())))
        }
    });
    let front = front(daemon_pool(&dir, app)).await;
    let mut conn = TcpStream::connect(front.addr).await.unwrap();
    conn.write_all(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\npartial").await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(dropped.load(Ordering::SeqCst), 0, "the request should still be waiting for its body");
    drop(conn);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while dropped.load(Ordering::SeqCst) == 0 {
        assert!(tokio::time::Instant::now() < deadline, "the daemon kept the abandoned request");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_that_is_not_there_gives_502_naming_it() {
    // DMN-4
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("nobody.sock");
    let pool = Pool::fixed("lonely", vec![BackendAddr::Unix(socket.clone())], 8, PoolConfig::default());
    let front = front(pool).await;
    let answer = get(front.addr, "/").await;
    assert!(answer.starts_with("HTTP/1.1 502"), "{answer}");
    assert!(answer.contains("group lonely") && answer.contains("cannot connect"), "{answer}");
    // Where the socket is, is the log's business, not the client's.
    assert!(!answer.contains("nobody.sock"), "{answer}");
}

/// A stand-in daemon that answers every connection with `reply` after
/// reading the request's first bytes.
fn hostile_daemon(dir: &tempfile::TempDir, reply: Vec<u8>) -> Pool {
    let socket = dir.path().join("hostile.sock");
    let listener = tokio::net::UnixListener::bind(&socket).unwrap();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let reply = reply.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = conn.read(&mut buf).await;
                let _ = conn.write_all(&reply).await;
                let _ = conn.shutdown().await;
            });
        }
    });
    Pool::fixed("hostile", vec![BackendAddr::Unix(socket)], 8, PoolConfig::default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_that_talks_nonsense_gives_502_and_the_front_goes_on() {
    // SRV-7: the front parses what daemons send as untrusted bytes.
    use rgi_fastcgi::{encode_end_request, encode_stream, ProtocolStatus, RecordType};
    let stdout = |text: &[u8]| {
        let mut out = BytesMut::new();
        encode_stream(&mut out, RecordType::Stdout, 1, text);
        encode_end_request(&mut out, 1, 0, ProtocolStatus::RequestComplete);
        out.to_vec()
    };
    let replies: Vec<(&str, Vec<u8>)> = vec![
        ("not FastCGI at all", b"HTTP/1.1 200 OK\r\n\r\nhello".to_vec()),
        ("a status that is not a number", stdout(b"Status: abc\r\n\r\n")),
        ("a status out of range", stdout(b"Status: 999 Nope\r\n\r\n")),
        ("a header with a bad name", stdout(b"Bad Name: x\r\n\r\n")),
        ("a head that never ends", stdout(b"Content-Type: text/plain\r\n")),
        ("a record for another request", {
            let mut out = BytesMut::new();
            encode_stream(&mut out, RecordType::Stdout, 7, b"Status: 200\r\n\r\n");
            out.to_vec()
        }),
    ];
    let dir = tempfile::tempdir().unwrap();
    let good = front(daemon_pool(&dir, from_fn(|_| async { Ok(Response::new(Body::from("fine"))) }))).await;
    for (what, reply) in replies {
        let dir = tempfile::tempdir().unwrap();
        let front = front(hostile_daemon(&dir, reply)).await;
        let answer = get(front.addr, "/").await;
        assert!(answer.starts_with("HTTP/1.1 502"), "{what}: {answer}");
        assert!(answer.contains("hostile"), "{what}: the answer names the group: {answer}");
        // Other fronts and pools are untouched.
        assert!(get(good.addr, "/").await.ends_with("fine"), "{what}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_body_reaches_a_slow_reader_whole() {
    // DMN-3: the daemon holds back reading while the application is slow
    // to take its body, and nothing stalls for good.
    let dir = tempfile::tempdir().unwrap();
    let app = from_fn(|req: Request| async move {
        let mut body = req.into_body();
        let (mut total, mut sum) = (0usize, 0u64);
        while let Some(frame) = body.frame().await {
            let data = frame?.into_data().unwrap_or_default();
            total += data.len();
            sum += data.iter().map(|&b| u64::from(b)).sum::<u64>();
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        Ok(Response::new(Body::from(format!("{total} {sum}"))))
    });
    let front = front(daemon_pool(&dir, app)).await;
    let body: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let expected_sum: u64 = body.iter().map(|&b| u64::from(b)).sum();
    let mut conn = TcpStream::connect(front.addr).await.unwrap();
    let head = format!("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
    conn.write_all(head.as_bytes()).await.unwrap();
    conn.write_all(&body).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), conn.read_to_end(&mut out)).await.unwrap().unwrap();
    let answer = String::from_utf8_lossy(&out);
    assert!(answer.ends_with(&format!("\r\n\r\n{} {expected_sum}", body.len())), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_get_a_dead_daemon_cannot_take_goes_to_its_sibling_and_a_post_does_not() {
    // DMN-15
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live.sock");
    let listener = DaemonListener::Unix(tokio::net::UnixListener::bind(&live).unwrap());
    let deployment = Arc::new(Deployment::new(Mode::Daemon, Arc::new(Settings::empty())));
    let app = from_fn(|_req: Request| async { Ok(Response::new(Body::from("from the live one"))) });
    tokio::spawn(serve(listener, Arc::new(app), deployment, DaemonConfig::default(), std::future::pending()));
    // The dead one first: with both idle, the pool picks it.
    let dead = BackendAddr::Unix(dir.path().join("dead.sock"));
    let pool = Pool::fixed("pair", vec![dead, BackendAddr::Unix(live)], 8, PoolConfig::default());
    let front = front(pool).await;
    for _ in 0..4 {
        let answer = get(front.addr, "/").await;
        assert!(answer.starts_with("HTTP/1.1 200") && answer.ends_with("from the live one"), "{answer}");
    }
    let mut posts = Vec::new();
    for _ in 0..4 {
        let mut conn = TcpStream::connect(front.addr).await.unwrap();
        conn.write_all(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").await.unwrap();
        let mut out = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), conn.read_to_end(&mut out)).await.unwrap().unwrap();
        posts.push(String::from_utf8_lossy(&out).into_owned());
    }
    assert!(posts.iter().any(|p| p.starts_with("HTTP/1.1 502")), "no POST reached the dead daemon: {posts:?}");
}
