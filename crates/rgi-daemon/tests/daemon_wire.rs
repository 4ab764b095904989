//! A daemon on a real socket, spoken to in raw FastCGI records: requests,
//! multiplexing, management records, aborts, and hostile bytes (FCGI-*).
#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use rgi_core::{from_fn, Body, Deployment, Mode, Request, Response, Settings};
use rgi_daemon::daemon::{serve, DaemonConfig, DaemonListener};
use rgi_fastcgi::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

struct Daemon {
    _dir: tempfile::TempDir,
    socket: std::path::PathBuf,
    drops: Arc<AtomicUsize>,
    /// Notified when a request reaches `/hang`.
    hanging: Arc<tokio::sync::Notify>,
}

struct Guard(Arc<AtomicUsize>);

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

async fn daemon(config: DaemonConfig) -> Daemon {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("d.sock");
    let listener = DaemonListener::Unix(tokio::net::UnixListener::bind(&socket).unwrap());
    let drops = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&drops);
    let hanging = Arc::new(tokio::sync::Notify::new());
    let hung = Arc::clone(&hanging);
    let app = from_fn(move |req: Request| {
        let guard = Guard(Arc::clone(&seen));
        let hung = Arc::clone(&hung);
        async move {
            let path = req.environ().path_info().to_string();
            let body = req.into_body().collect(1 << 20).await?;
            if path == "/hang" {
                hung.notify_one();
                std::future::pending::<()>().await;
            }
            drop(guard);
            let mut r = Response::new(Body::from(format!("{path} {}", body.len())));
            r.headers_mut().insert("x-app", "yes".parse().unwrap());
            Ok(r)
        }
    });
    let deployment = Arc::new(Deployment::new(Mode::Daemon, Arc::new(Settings::empty())));
    tokio::spawn(serve(listener, Arc::new(app), deployment, config, std::future::pending()));
    Daemon { _dir: dir, socket, drops, hanging }
}

fn begin(out: &mut BytesMut, id: u16, uri: &str, body: &[u8], keep: bool) {
    encode_begin_request(out, id, Role::Responder, keep);
    let len = body.len().to_string();
    let params: Vec<(&[u8], &[u8])> = vec![
        (b"REQUEST_METHOD", b"POST"),
        (b"REQUEST_URI", uri.as_bytes()),
        (b"SERVER_PROTOCOL", b"HTTP/1.1"),
        (b"CONTENT_LENGTH", len.as_bytes()),
        (b"HTTP_HOST", b"t"),
    ];
    encode_params(out, id, params);
    encode_empty(out, RecordType::Params, id);
    encode_stream(out, RecordType::Stdin, id, body);
    encode_empty(out, RecordType::Stdin, id);
}

/// Reads records until END_REQUEST for each of `ids`; returns STDOUT per id.
async fn answers(conn: &mut UnixStream, ids: &[u16]) -> std::collections::HashMap<u16, (String, u8)> {
    let mut buf = BytesMut::new();
    let mut out: std::collections::HashMap<u16, (String, u8)> = std::collections::HashMap::new();
    let mut ended = 0;
    while ended < ids.len() {
        while let Some(record) = Decoder::new().decode(&mut buf).unwrap() {
            match record {
                Record::Stdout { id, data } => out.entry(id).or_default().0.push_str(&String::from_utf8_lossy(&data)),
                Record::EndRequest { id, protocol_status, .. } => {
                    out.entry(id).or_default().1 = protocol_status;
                    ended += 1;
                }
                _ => {}
            }
        }
        if ended == ids.len() {
            break;
        }
        let n = tokio::time::timeout(Duration::from_secs(10), conn.read_buf(&mut buf)).await.unwrap().unwrap();
        assert!(n > 0, "daemon closed early");
    }
    out
}

#[tokio::test]
async fn a_request_gets_a_cgi_response_and_the_connection_is_kept() {
    // FCGI-2, FCGI-3, FCGI-12
    let d = daemon(DaemonConfig::default()).await;
    let mut conn = UnixStream::connect(&d.socket).await.unwrap();
    for round in 0..2 {
        let mut out = BytesMut::new();
        begin(&mut out, 1, &format!("/r{round}"), b"12345", true);
        conn.write_all(&out).await.unwrap();
        let got = answers(&mut conn, &[1]).await;
        let (stdout, status) = &got[&1];
        assert!(stdout.starts_with("Status: 200 OK\r\n"), "{stdout}");
        assert!(stdout.contains("x-app: yes\r\n") && stdout.contains("Content-Length: 5\r\n"), "{stdout}");
        assert!(stdout.ends_with(&format!("\r\n\r\n/r{round} 5")), "{stdout}");
        assert_eq!(*status, 0);
    }
}

#[tokio::test]
async fn requests_are_multiplexed_on_one_connection() {
    // FCGI-1
    let d = daemon(DaemonConfig::default()).await;
    let mut conn = UnixStream::connect(&d.socket).await.unwrap();
    let mut out = BytesMut::new();
    // Interleaved: both begin, then their bodies.
    encode_begin_request(&mut out, 3, Role::Responder, true);
    encode_begin_request(&mut out, 4, Role::Responder, true);
    for id in [3u16, 4] {
        let uri = format!("/m{id}");
        encode_params(
            &mut out,
            id,
            [
                (&b"REQUEST_METHOD"[..], &b"POST"[..]),
                (&b"REQUEST_URI"[..], uri.as_bytes()),
                (&b"HTTP_HOST"[..], &b"t"[..]),
            ],
        );
        encode_empty(&mut out, RecordType::Params, id);
    }
    encode_stream(&mut out, RecordType::Stdin, 4, b"four");
    encode_stream(&mut out, RecordType::Stdin, 3, b"three");
    encode_empty(&mut out, RecordType::Stdin, 3);
    encode_empty(&mut out, RecordType::Stdin, 4);
    conn.write_all(&out).await.unwrap();
    let got = answers(&mut conn, &[3, 4]).await;
    assert!(got[&3].0.ends_with("/m3 5"), "{:?}", got[&3]);
    assert!(got[&4].0.ends_with("/m4 4"), "{:?}", got[&4]);
}

#[tokio::test]
async fn management_records_are_answered() {
    // FCGI-4, FCGI-10
    let d = daemon(DaemonConfig::default()).await;
    let mut conn = UnixStream::connect(&d.socket).await.unwrap();
    let mut out = BytesMut::new();
    encode_get_values(&mut out, &["FCGI_MAX_CONNS", "FCGI_MAX_REQS", "FCGI_MPXS_CONNS", "FCGI_UNHEARD_OF"]);
    out.extend_from_slice(&[1, 99, 0, 0, 0, 0, 0, 0]); // an unknown management type
    conn.write_all(&out).await.unwrap();
    let mut buf = BytesMut::new();
    let mut records = Vec::new();
    while records.len() < 2 {
        while let Some(r) = Decoder::new().decode(&mut buf).unwrap() {
            records.push(r);
        }
        if records.len() < 2 {
            conn.read_buf(&mut buf).await.unwrap();
        }
    }
    let Record::GetValuesResult { data } = &records[0] else { panic!("{records:?}") };
    let pairs = parse_pairs(data.clone()).unwrap();
    let names: Vec<&[u8]> = pairs.iter().map(|(n, _)| &n[..]).collect();
    assert_eq!(names, [&b"FCGI_MAX_CONNS"[..], b"FCGI_MAX_REQS", b"FCGI_MPXS_CONNS"]);
    assert_eq!(pairs[2].1, "1");
    assert_eq!(records[1], Record::UnknownType { kind: 99 });
}

#[tokio::test]
async fn other_roles_are_refused() {
    // FCGI-11
    let d = daemon(DaemonConfig::default()).await;
    let mut conn = UnixStream::connect(&d.socket).await.unwrap();
    let mut out = BytesMut::new();
    encode_begin_request(&mut out, 1, Role::Authorizer, true);
    conn.write_all(&out).await.unwrap();
    let got = answers(&mut conn, &[1]).await;
    assert_eq!(got[&1].1, ProtocolStatus::UnknownRole as u8);
}

#[tokio::test]
async fn an_abort_drops_the_request() {
    // FCGI-5, APP-7
    let d = daemon(DaemonConfig::default()).await;
    let mut conn = UnixStream::connect(&d.socket).await.unwrap();
    let mut out = BytesMut::new();
    begin(&mut out, 1, "/hang", b"", true);
    conn.write_all(&out).await.unwrap();
    d.hanging.notified().await;
    out.clear();
    encode_abort_request(&mut out, 1);
    conn.write_all(&out).await.unwrap();
    let got = answers(&mut conn, &[1]).await;
    assert_eq!(got[&1].1, 0);
    assert_eq!(d.drops.load(Ordering::SeqCst), 1, "the aborted request's state was not dropped");
}

#[tokio::test]
async fn a_front_that_goes_away_drops_its_requests() {
    // APP-7
    let d = daemon(DaemonConfig::default()).await;
    let mut conn = UnixStream::connect(&d.socket).await.unwrap();
    let mut out = BytesMut::new();
    begin(&mut out, 1, "/hang", b"", true);
    conn.write_all(&out).await.unwrap();
    d.hanging.notified().await;
    drop(conn);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while d.drops.load(Ordering::SeqCst) != 1 {
        assert!(tokio::time::Instant::now() < deadline, "the request was not dropped within 5 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn without_keep_conn_the_daemon_closes_after_the_request() {
    // FCGI-3
    let d = daemon(DaemonConfig::default()).await;
    let mut conn = UnixStream::connect(&d.socket).await.unwrap();
    let mut out = BytesMut::new();
    begin(&mut out, 1, "/once", b"", false);
    conn.write_all(&out).await.unwrap();
    answers(&mut conn, &[1]).await;
    let mut rest = Vec::new();
    let n = tokio::time::timeout(Duration::from_secs(5), conn.read_to_end(&mut rest)).await.unwrap().unwrap();
    assert_eq!(n, 0);
}

#[tokio::test]
async fn malformed_bytes_close_that_connection_only() {
    // FCGI-6, SRV-7
    let d = daemon(DaemonConfig::default()).await;
    for garbage in [
        &b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..],
        &[1, 1, 0, 0, 0, 8, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0][..], // BEGIN with id 0
        &[1, 1, 0, 1, 0xff, 0xff, 0, 0][..],                   // BEGIN claiming 64 KiB
        &[9; 64][..],
    ] {
        let mut conn = UnixStream::connect(&d.socket).await.unwrap();
        conn.write_all(garbage).await.unwrap();
        let mut rest = Vec::new();
        let closed = tokio::time::timeout(Duration::from_secs(5), conn.read_to_end(&mut rest)).await;
        assert!(closed.is_ok(), "connection left open after {garbage:?}");
    }
    // Records for a request that does not exist are ignored, not fatal.
    let mut conn = UnixStream::connect(&d.socket).await.unwrap();
    let mut out = BytesMut::new();
    encode_stream(&mut out, RecordType::Stdin, 9, b"stray");
    encode_abort_request(&mut out, 9);
    begin(&mut out, 1, "/same-connection", b"", true);
    conn.write_all(&out).await.unwrap();
    assert!(answers(&mut conn, &[1]).await[&1].0.ends_with("/same-connection 0"));
    // The daemon still serves.
    let mut conn = UnixStream::connect(&d.socket).await.unwrap();
    let mut out = BytesMut::new();
    begin(&mut out, 1, "/after", b"", true);
    conn.write_all(&out).await.unwrap();
    assert!(answers(&mut conn, &[1]).await[&1].0.ends_with("/after 0"));
}

#[tokio::test]
async fn oversized_or_bad_params_fail_the_request_not_the_daemon() {
    // CGI-5, FCGI-6
    let mut config = DaemonConfig::default();
    config.max_params_bytes = 1024;
    let d = daemon(config).await;
    let mut conn = UnixStream::connect(&d.socket).await.unwrap();
    let mut out = BytesMut::new();
    encode_begin_request(&mut out, 1, Role::Responder, true);
    let big = vec![b'v'; 4000];
    encode_params(&mut out, 1, [(&b"HTTP_X_BIG"[..], &big[..])]);
    encode_empty(&mut out, RecordType::Params, 1);
    encode_empty(&mut out, RecordType::Stdin, 1);
    // And a request with no method.
    encode_begin_request(&mut out, 2, Role::Responder, true);
    encode_params(&mut out, 2, [(&b"REQUEST_URI"[..], &b"/"[..])]);
    encode_empty(&mut out, RecordType::Params, 2);
    encode_empty(&mut out, RecordType::Stdin, 2);
    conn.write_all(&out).await.unwrap();
    let got = answers(&mut conn, &[1, 2]).await;
    assert!(got[&1].0.starts_with("Status: 431"), "{:?}", got[&1]);
    assert!(got[&2].0.starts_with("Status: 400") && got[&2].0.contains("REQUEST_METHOD"), "{:?}", got[&2]);
    out.clear();
    begin(&mut out, 3, "/still", b"x", true);
    conn.write_all(&out).await.unwrap();
    assert!(answers(&mut conn, &[3]).await[&3].0.ends_with("/still 1"));
}
