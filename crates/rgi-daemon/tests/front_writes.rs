//! A daemon as real fronts speak to it: each record in its own write with
//! pauses, with and without FCGI_KEEP_CONN, for requests the application
//! reads and ones it does not; bodies that do not match CONTENT_LENGTH;
//! the limits at, below and above their value (FCGI-3, FCGI-8, FCGI-9,
//! CGI-7).
#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use rgi_core::{from_fn, Body, Deployment, Mode, Request, Response, Settings};
use rgi_daemon::daemon::{serve, DaemonConfig, DaemonListener};
use rgi_fastcgi::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

const LIMIT: u64 = 64 * 1024;

/// A daemon whose application answers `/read` with the length of the body
/// it read, and `/ignore` at once without reading it.
async fn daemon() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("d.sock");
    let listener = DaemonListener::Unix(tokio::net::UnixListener::bind(&socket).unwrap());
    let app = from_fn(|req: Request| async move {
        let text = if req.environ().path_info() == "/read" {
            match req.into_body().collect(1 << 30).await {
                Ok(body) => format!("read {}", body.len()),
                Err(err) => return Err(err),
            }
        } else {
            "ignored".to_string()
        };
        Ok(Response::new(Body::from(text)))
    });
    let mut config = DaemonConfig::default();
    config.max_body_bytes = Some(LIMIT);
    config.max_header_count = 10;
    config.max_header_field_bytes = 200;
    config.linger_timeout = Duration::from_millis(300);
    let deployment = Arc::new(Deployment::new(Mode::Daemon, Arc::new(Settings::empty())));
    tokio::spawn(serve(listener, Arc::new(app), deployment, config, std::future::pending()));
    (dir, socket)
}

/// The records of one request, each encoded on its own. `length` is the
/// CONTENT_LENGTH sent (None: not sent, as for a chunked request).
fn records(path: &str, length: Option<&str>, body: &[u8], keep: bool, extra: &[(&str, &str)]) -> Vec<BytesMut> {
    let mut out = Vec::new();
    let mut begin = BytesMut::new();
    encode_begin_request(&mut begin, 1, Role::Responder, keep);
    out.push(begin);
    let mut params: Vec<(&[u8], &[u8])> = vec![
        (b"REQUEST_METHOD", b"POST"),
        (b"REQUEST_URI", path.as_bytes()),
        (b"SERVER_PROTOCOL", b"HTTP/1.1"),
        (b"HTTP_HOST", b"t"),
    ];
    if let Some(length) = length {
        params.push((b"CONTENT_LENGTH", length.as_bytes()));
    }
    params.extend(extra.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())));
    let mut p = BytesMut::new();
    encode_params(&mut p, 1, params);
    out.push(p);
    let mut end = BytesMut::new();
    encode_empty(&mut end, RecordType::Params, 1);
    out.push(end);
    for chunk in body.chunks(16 * 1024) {
        let mut s = BytesMut::new();
        encode_stream(&mut s, RecordType::Stdin, 1, chunk);
        out.push(s);
    }
    let mut end = BytesMut::new();
    encode_empty(&mut end, RecordType::Stdin, 1);
    out.push(end);
    out
}

/// Sends `records` one write each, `pause` apart, then reads the answer:
/// the STDOUT text, and whether the daemon then closed the connection
/// cleanly (EOF, not a reset). Every write must succeed.
async fn exchange(socket: &std::path::Path, records: Vec<BytesMut>, pause: Duration, keep: bool) -> (String, bool) {
    let mut conn = UnixStream::connect(socket).await.unwrap();
    for (i, record) in records.iter().enumerate() {
        conn.write_all(record).await.unwrap_or_else(|e| panic!("write of record {i} failed: {e}"));
        tokio::time::sleep(pause).await;
    }
    let mut buf = BytesMut::new();
    let mut stdout = String::new();
    let mut ended = false;
    loop {
        while let Some(record) = Decoder::new().decode(&mut buf).unwrap() {
            match record {
                Record::Stdout { data, .. } => stdout.push_str(&String::from_utf8_lossy(&data)),
                Record::EndRequest { .. } => ended = true,
                _ => {}
            }
        }
        if ended && keep {
            return (stdout, false);
        }
        let read = tokio::time::timeout(Duration::from_secs(10), conn.read_buf(&mut buf)).await.expect("an answer");
        match read {
            Ok(0) => return (stdout, ended),
            Ok(_) => {}
            Err(e) => panic!("the daemon reset the connection ({e}) after: {stdout:?}"),
        }
    }
}

fn status(stdout: &str) -> u16 {
    stdout.strip_prefix("Status: ").and_then(|s| s.get(..3)).and_then(|s| s.parse().ok()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_front_writing_record_by_record_always_gets_the_whole_answer() {
    // FCGI-3
    let (_dir, socket) = daemon().await;
    let body = vec![b'x'; 40 * 1024];
    for keep in [false, true] {
        for path in ["/read", "/ignore"] {
            let recs = records(path, Some("40960"), &body, keep, &[]);
            let (stdout, closed) = exchange(&socket, recs, Duration::from_millis(15), keep).await;
            assert_eq!(status(&stdout), 200, "{path} keep={keep}: {stdout}");
            let expected = if path == "/read" { "read 40960" } else { "ignored" };
            assert!(stdout.ends_with(expected), "{path} keep={keep}: {stdout}");
            if !keep {
                assert!(closed, "{path}: without FCGI_KEEP_CONN the daemon closes after answering");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_request_is_answered_and_the_rest_of_it_is_read_before_closing() {
    // FCGI-3, FCGI-9: a 431 reaches the front as a 431, not as a reset.
    let (_dir, socket) = daemon().await;
    let long = "v".repeat(300);
    let recs = records("/ignore", Some("20000"), &[b'y'; 20000], false, &[("HTTP_X_LONG", &long)]);
    let (stdout, closed) = exchange(&socket, recs, Duration::from_millis(10), false).await;
    assert_eq!(status(&stdout), 431, "{stdout}");
    assert!(stdout.contains("x-long"), "the refusal names the field: {stdout}");
    assert!(closed);
    let many: Vec<(String, String)> = (0..12).map(|i| (format!("HTTP_X_{i}"), "1".to_string())).collect();
    let many: Vec<(&str, &str)> = many.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let (stdout, _) = exchange(&socket, records("/read", Some("0"), b"", false, &many), Duration::ZERO, false).await;
    assert_eq!(status(&stdout), 431, "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_at_around_the_limit_with_and_without_a_declared_length() {
    // FCGI-9, BODY-4
    let (_dir, socket) = daemon().await;
    for len in [LIMIT - 1, LIMIT, LIMIT + 1] {
        let body = vec![b'z'; usize::try_from(len).unwrap()];
        for declared in [true, false] {
            let length = len.to_string();
            let recs = records("/read", declared.then_some(length.as_str()), &body, true, &[]);
            let (stdout, _) = exchange(&socket, recs, Duration::ZERO, true).await;
            let want = if len > LIMIT { 413 } else { 200 };
            assert_eq!(status(&stdout), want, "{len} bytes, declared={declared}: {stdout}");
            if want == 200 {
                assert!(stdout.ends_with(&format!("read {len}")), "{stdout}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_does_not_match_content_length_never_passes_for_whole() {
    // FCGI-8, CGI-7
    let (_dir, socket) = daemon().await;
    for (declared, sent) in [("10", 4usize), ("4", 10), ("100", 0)] {
        for pause in [Duration::ZERO, Duration::from_millis(20)] {
            let recs = records("/read", Some(declared), &vec![b'a'; sent], true, &[]);
            let (stdout, _) = exchange(&socket, recs, pause, true).await;
            assert_eq!(status(&stdout), 400, "declared {declared}, sent {sent}: {stdout}");
        }
    }
    // Caddy's -1 for a chunked body: no declared length, the body counts.
    let (stdout, _) = exchange(&socket, records("/read", Some("-1"), b"abc", true, &[]), Duration::ZERO, true).await;
    assert!(stdout.ends_with("read 3"), "{stdout}");
    let (stdout, _) = exchange(&socket, records("/read", Some("abc"), b"abc", true, &[]), Duration::ZERO, true).await;
    assert_eq!(status(&stdout), 400, "{stdout}");
    assert!(stdout.contains("CONTENT_LENGTH"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_front_that_never_sends_the_rest_is_closed_after_the_linger_timeout() {
    // FCGI-3: the lingering read is bounded; a front that stops sending
    // does not hold the connection (or the daemon) open.
    let (_dir, socket) = daemon().await;
    let mut recs = records("/ignore", Some("40000"), &[b'q'; 40_000], false, &[]);
    // BEGIN, PARAMS, end of PARAMS, one STDIN record: then silence.
    recs.truncate(4);
    let mut conn = UnixStream::connect(&socket).await.unwrap();
    for record in &recs {
        conn.write_all(record).await.unwrap();
    }
    let started = std::time::Instant::now();
    let mut buf = BytesMut::new();
    let mut stdout = String::new();
    loop {
        let n = tokio::time::timeout(Duration::from_secs(10), conn.read_buf(&mut buf)).await.expect("closed in time");
        while let Some(record) = Decoder::new().decode(&mut buf).unwrap() {
            if let Record::Stdout { data, .. } = record {
                stdout.push_str(&String::from_utf8_lossy(&data));
            }
        }
        if n.unwrap_or(0) == 0 {
            break;
        }
    }
    assert!(stdout.ends_with("ignored"), "the answer came first: {stdout}");
    let waited = started.elapsed();
    assert!(waited < Duration::from_secs(3), "closed only after {waited:?}");
}
