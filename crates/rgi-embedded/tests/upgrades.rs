//! Upgrades as the embedded server sees them, with a native application
//! (axum's WebSockets are in examples/shop/tests/websocket.rs): which
//! requests keep their Upgrade field, which 101s go out (UPG-1 to UPG-3),
//! and rgi-core's own `OnUpgrade` (UPG-10).
#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

mod support;

use futures_util::{StreamExt, TryStreamExt};
use rgi_core::upgrade::OnUpgrade;
use rgi_core::{from_fn, Body, Request, Response};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Answers 101 with `Upgrade: echo` when `?upgrade` is asked, 101 without
/// an Upgrade field for `?bare`; else 200 with the Upgrade and Connection
/// fields it was given.
fn app() -> impl rgi_core::Application {
    from_fn(|req: Request| async move {
        let query = req.environ().query_string().to_string();
        let seen = |name: &str| req.headers().get(name).map(|v| v.to_str().unwrap_or("?").to_string());
        let text = format!("upgrade={:?} connection={:?}", seen("upgrade"), seen("connection"));
        let mut response = Response::new(Body::from(text));
        if query == "upgrade" || query == "bare" {
            *response.status_mut() = http::StatusCode::SWITCHING_PROTOCOLS;
            if query == "upgrade" {
                response.headers_mut().insert("upgrade", http::HeaderValue::from_static("echo"));
            }
        }
        Ok(response)
    })
}

/// A response head, read a byte at a time: after a 101, the bytes that
/// follow are the new protocol's, not to be buffered away.
async fn read_head(conn: &mut tokio::net::TcpStream) -> String {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        assert_eq!(conn.read(&mut byte).await.unwrap(), 1, "closed after {:?}", String::from_utf8_lossy(&head));
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap()
}

#[tokio::test]
async fn only_an_upgrade_request_keeps_its_upgrade_field() {
    // UPG-1, HDR-4
    bounded(async {
        let server = TestServer::with_app(app()).await;
        let asked =
            server.raw(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: keep-alive, Upgrade\r\nUpgrade: echo\r\n\r\n").await;
        assert_eq!(asked.body_text(), r#"upgrade=Some("echo") connection=Some("upgrade")"#);
        let http10 = server.raw(b"GET / HTTP/1.0\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n").await;
        assert_eq!(http10.body_text(), "upgrade=None connection=None");
        let not_named = server.raw(b"GET / HTTP/1.1\r\nHost: t\r\nUpgrade: echo\r\nConnection: close\r\n\r\n").await;
        assert_eq!(not_named.body_text(), "upgrade=None connection=None");
    })
    .await;
}

#[tokio::test]
async fn a_101_goes_out_only_to_an_upgrade_request_with_an_upgrade_field() {
    // UPG-3
    bounded(async {
        let server = TestServer::with_app(app()).await;
        let unasked = server.raw(b"GET /?upgrade HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").await;
        assert_eq!(unasked.status, 500, "{}", unasked.body_text());
        let bare = server.raw(b"GET /?bare HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n").await;
        assert_eq!(bare.status, 500, "{}", bare.body_text());
        // A 101 is a head alone (readers of final responses skip it).
        let mut conn = server.connect().await;
        conn.write_all(b"GET /?upgrade HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
            .await
            .unwrap();
        let head = read_head(&mut conn).await.to_ascii_lowercase();
        assert!(head.starts_with("http/1.1 101"), "{head}");
        assert!(head.contains("\r\nupgrade: echo\r\n") && head.contains("\r\nconnection: upgrade\r\n"), "{head}");
        assert!(server.still_serving().await);
    })
    .await;
}

#[tokio::test]
async fn an_upgrade_request_with_a_body_is_refused() {
    // UPG-2
    bounded(async {
        let server = TestServer::with_app(app()).await;
        let with_body = server
            .raw(b"GET /?upgrade HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: echo\r\nContent-Length: 3\r\n\r\nabc")
            .await;
        assert_eq!(with_body.status, 400);
        assert!(with_body.body_text().contains("an upgrade request has no body"), "{}", with_body.body_text());
        let chunked = server
            .raw(b"GET /?upgrade HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: echo\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
            .await;
        assert_eq!(chunked.status, 400);
        assert!(server.still_serving().await);
    })
    .await;
}

/// Upgrades to a byte echo through hyper's `OnUpgrade`, as axum's
/// WebSocketUpgrade does.
fn echo_app() -> impl rgi_core::Application {
    from_fn(|req: Request| async move {
        let mut req = req.into_http();
        let on_upgrade = hyper::upgrade::on(&mut req);
        tokio::spawn(async move {
            let Ok(upgraded) = on_upgrade.await else { return };
            let mut io = hyper_util::rt::TokioIo::new(upgraded);
            let mut buf = [0u8; 1024];
            while let Ok(n @ 1..) = io.read(&mut buf).await {
                if io.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        });
        let mut response = Response::new(Body::empty());
        *response.status_mut() = http::StatusCode::SWITCHING_PROTOCOLS;
        response.headers_mut().insert("upgrade", http::HeaderValue::from_static("echo"));
        Ok(response)
    })
}

#[tokio::test]
async fn a_graceful_stop_waits_for_upgraded_connections_until_the_grace_period_ends() {
    // UPG-4
    bounded(async {
        let mut config = rgi_embedded::Config::default();
        config.grace_period = std::time::Duration::from_secs(2);
        let server = TestServer::with_config(config, echo_app()).await;
        let mut conn = server.connect().await;
        conn.write_all(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n").await.unwrap();
        read_head(&mut conn).await;
        let mut echo = [0u8; 5];
        conn.write_all(b"hello").await.unwrap();
        conn.read_exact(&mut echo).await.unwrap();
        assert_eq!(&echo, b"hello");
        let started = std::time::Instant::now();
        let stopping = tokio::spawn(server.shutdown());
        // Still the application's while the grace period runs.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        conn.write_all(b"again").await.unwrap();
        conn.read_exact(&mut echo).await.unwrap();
        assert_eq!(&echo, b"again");
        assert!(!stopping.is_finished(), "the server stopped under an open upgraded connection");
        // Then closed, and the server stops.
        let mut rest = Vec::new();
        let _ = conn.read_to_end(&mut rest).await;
        stopping.await.unwrap().unwrap();
        let took = started.elapsed();
        assert!(took >= std::time::Duration::from_secs(2), "stopped after {took:?}, before the grace period ended");
        assert!(took < std::time::Duration::from_secs(10), "stopped only after {took:?}");
    })
    .await;
}

/// Echoes through rgi-core's own `OnUpgrade`: the client's bytes after the
/// 101 are the request's upgraded body, and the 101's body is the way back.
fn native_echo_app() -> impl rgi_core::Application {
    from_fn(|mut req: Request| async move {
        let Some(upgrade) = req.extensions_mut().remove::<OnUpgrade>() else {
            let mut refused = Response::new(Body::from("upgrade required"));
            *refused.status_mut() = http::StatusCode::UPGRADE_REQUIRED;
            return Ok(refused);
        };
        let replies = futures_util::stream::once(upgrade).map(|r| r.map(Body::into_data_stream)).try_flatten();
        let mut response = Response::new(Body::from_stream(replies));
        *response.status_mut() = http::StatusCode::SWITCHING_PROTOCOLS;
        response.headers_mut().insert("upgrade", http::HeaderValue::from_static("echo"));
        Ok(response)
    })
}

#[tokio::test]
async fn a_native_application_talks_through_its_on_upgrade() {
    // UPG-10
    bounded(async {
        let server = TestServer::with_app(native_echo_app()).await;
        let plain = server.raw(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").await;
        assert_eq!(plain.status, 426, "no OnUpgrade without an upgrade request");
        let mut conn = server.connect().await;
        conn.write_all(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n").await.unwrap();
        let head = read_head(&mut conn).await;
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        let mut echo = [0u8; 5];
        conn.write_all(b"hello").await.unwrap();
        conn.read_exact(&mut echo).await.unwrap();
        assert_eq!(&echo, b"hello");
        // A large message, written while its echo is read.
        let big: Vec<u8> = (0..1u32 << 20).map(|i| (i % 251) as u8).collect();
        let (mut read, mut write) = conn.into_split();
        let sent = big.clone();
        let writer = tokio::spawn(async move {
            write.write_all(&sent).await.unwrap();
            // The client is done: the application's incoming body ends,
            // so does its reply, and the server closes its side.
            write.shutdown().await.unwrap();
        });
        let mut back = Vec::new();
        read.read_to_end(&mut back).await.unwrap();
        writer.await.unwrap();
        assert!(back == big, "echoed {} of {} bytes, or different ones", back.len(), big.len());
        let after = server.raw(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").await;
        assert_eq!(after.status, 426, "the server goes on");
    })
    .await;
}
