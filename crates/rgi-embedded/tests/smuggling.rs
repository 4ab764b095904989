//! Request-smuggling shapes and malformed heads: each is refused, the
//! connection is closed, no application sees it, and the server goes on
//! (SRV-1, SRV-7, SRV-11, ENV-6, PATH-3).
#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rgi_core::{from_fn, Body, Request, Response};
use support::*;
use tokio::io::AsyncWriteExt;

/// (name, raw request, expected status)
const CASES: &[(&str, &[u8], u16)] = &[
    // Read as chunked, then the connection closes (RFC 9112 section 6.1).
    (
        "content-length and transfer-encoding",
        b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        200,
    ),
    (
        "transfer-encoding and content-length",
        b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
        200,
    ),
    (
        "two different content-lengths",
        b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        400,
    ),
    ("content-length list", b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1, 2\r\n\r\nab", 400),
    ("non-numeric content-length", b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: abc\r\n\r\n", 400),
    ("negative content-length", b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n", 400),
    ("signed content-length", b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: +3\r\n\r\nabc", 400),
    (
        "overflowing content-length",
        b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        400,
    ),
    ("unknown transfer coding", b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
    (
        "unknown coding before chunked",
        b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        400,
    ),
    ("chunked not last", b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", 400),
    (
        "chunked twice",
        b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
    ),
    ("bad chunk size", b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n", 400),
    (
        "overflowing chunk size",
        b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffffff\r\nab\r\n0\r\n\r\n",
        400,
    ),
    ("obsolete line folding", b"GET / HTTP/1.1\r\nHost: t\r\nX-A: a\r\n b\r\n\r\n", 400),
    ("bare CR in a field", b"GET / HTTP/1.1\r\nHost: t\r\nX-A: a\rb\r\n\r\n", 400),
    ("NUL in a field", b"GET / HTTP/1.1\r\nHost: t\r\nX-A: a\0b\r\n\r\n", 400),
    ("space before the colon", b"GET / HTTP/1.1\r\nHost : t\r\n\r\n", 400),
    ("missing Host", b"GET / HTTP/1.1\r\n\r\n", 400),
    ("two Hosts", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    ("invalid Host", b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
    ("bad escape in the path", b"GET /a%zz HTTP/1.1\r\nHost: t\r\n\r\n", 400),
    ("relative path", b"GET a/b HTTP/1.1\r\nHost: t\r\n\r\n", 400),
    ("garbage request line", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400),
];

#[tokio::test]
async fn smuggling_shapes_are_refused_and_the_connection_closed() {
    bounded(async {
        let smuggled = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&smuggled);
        let app = from_fn(move |req: Request| {
            let seen = Arc::clone(&seen);
            async move {
                if req.environ().path_info() == "/smuggled" {
                    seen.fetch_add(1, Ordering::SeqCst);
                }
                // A request whose chunk framing is broken reaches the
                // application (the head was fine); its body read fails.
                let body = req.into_body().collect(u64::MAX).await?;
                Ok(Response::new(Body::from(body)))
            }
        });
        let server = TestServer::with_app(app).await;
        for (name, raw, status) in CASES {
            let mut conn = server.connect().await;
            conn.write_all(raw).await.unwrap();
            // A smuggled second request after the first must never be served.
            let _ = conn.write_all(b"GET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n").await;
            let resp = read_response(&mut conn).await.unwrap_or_else(|| panic!("{name}: no response"));
            assert_eq!(resp.status, *status, "{name}");
            assert!(closed_within(&mut conn, Duration::from_secs(5)).await, "{name}: connection left open");
            assert!(server.still_serving().await, "{name}: server stopped serving");
        }
        assert_eq!(smuggled.load(Ordering::SeqCst), 0, "a request smuggled behind another was served");
    })
    .await;
}

#[tokio::test]
async fn http10_without_host_is_served() {
    // ENV-6, ENV-12: only HTTP/1.1 requires Host.
    bounded(async {
        let server = TestServer::with_app(ok_app()).await;
        assert_eq!(server.raw(b"GET / HTTP/1.0\r\n\r\n").await.status, 200);
    })
    .await;
}
