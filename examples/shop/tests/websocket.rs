//! The shop's WebSocket (`/ws`, axum's `WebSocketUpgrade`, unchanged)
//! through rgi's embedded server, with a real client (tokio-tungstenite),
//! next to plain `axum::serve` (UPG-1 to UPG-4).
#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use rgi_test_support::{get, listening_addr, request, workspace_binary, LoggedChild};
use tokio_tungstenite::tungstenite::Message;

fn embedded() -> (LoggedChild, SocketAddr) {
    let mut command = Command::new(workspace_binary("shop"));
    command.current_dir(env!("CARGO_MANIFEST_DIR")).env("RGI_BIND", "127.0.0.1:0").env("RGI_LOG", "info");
    LoggedChild::spawn("shop", command, Duration::from_secs(60), listening_addr)
}

fn plain_axum() -> (LoggedChild, SocketAddr) {
    let mut command = Command::new(workspace_binary("shop-axum"));
    command.current_dir(env!("CARGO_MANIFEST_DIR")).arg("127.0.0.1:0");
    LoggedChild::spawn("shop-axum", command, Duration::from_secs(60), listening_addr)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// 1,000 echoes, a 1 MiB message, a ping, and the close handshake.
async fn conversation(addr: SocketAddr) {
    let (mut socket, response) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws")).await.unwrap();
    assert_eq!(response.status(), 101);
    for i in 0..1000 {
        socket.send(Message::text(format!("message {i}"))).await.unwrap();
        let echo = socket.next().await.unwrap().unwrap();
        assert_eq!(echo, Message::text(format!("message {i}")));
    }
    let big: Vec<u8> = (0..1u32 << 20).map(|i| (i % 251) as u8).collect();
    socket.send(Message::binary(big.clone())).await.unwrap();
    assert_eq!(socket.next().await.unwrap().unwrap(), Message::binary(big));
    socket.send(Message::Ping(b"are you there".to_vec().into())).await.unwrap();
    assert_eq!(socket.next().await.unwrap().unwrap(), Message::Pong(b"are you there".to_vec().into()));
    socket.close(None).await.unwrap();
    // The server answers with its close frame (or ends the stream).
    match socket.next().await {
        None | Some(Ok(Message::Close(_)) | Err(_)) => {}
        Some(Ok(other)) => panic!("after close: {other:?}"),
    }
}

#[test]
fn the_websocket_talks_through_rgi_as_under_axum_serve() {
    // UPG-1, UPG-3
    let (_axum, axum_addr) = plain_axum();
    let (_shop, addr) = embedded();
    let rt = runtime();
    rt.block_on(conversation(axum_addr));
    rt.block_on(conversation(addr));
    // Many at once, each its own conversation.
    rt.block_on(async {
        let sockets = (0..50).map(|_| tokio_tungstenite::connect_async(format!("ws://{addr}/ws")));
        let mut sockets: Vec<_> =
            futures_util::future::join_all(sockets).await.into_iter().map(|r| r.unwrap().0).collect();
        for (i, socket) in sockets.iter_mut().enumerate() {
            socket.send(Message::text(format!("socket {i}"))).await.unwrap();
        }
        for (i, socket) in sockets.iter_mut().enumerate() {
            assert_eq!(socket.next().await.unwrap().unwrap(), Message::text(format!("socket {i}")));
        }
    });
}

#[test]
fn a_client_that_vanishes_costs_nothing_else() {
    let (shop, addr) = embedded();
    let rt = runtime();
    rt.block_on(async {
        let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws")).await.unwrap();
        socket.send(Message::text("hello")).await.unwrap();
        socket.next().await.unwrap().unwrap();
        // Gone without a close frame.
        drop(socket);
    });
    rt.block_on(conversation(addr));
    assert_eq!(get(addr, "/api/products").0, 200);
    drop(shop);
}

#[test]
fn a_graceful_stop_waits_for_open_websockets() {
    // UPG-4: SIGTERM stops accepting, but an open socket goes on until its
    // client closes it (within the grace period); then the server exits.
    let (mut shop, addr) = embedded();
    let rt = runtime();
    let mut socket = rt.block_on(async {
        let (socket, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws")).await.unwrap();
        socket
    });
    shop.signal(libc::SIGTERM);
    shop.wait_log(Duration::from_secs(10), "the stop to begin", |log| log.contains("shutting down"));
    rt.block_on(async {
        for i in 0..10 {
            socket.send(Message::text(format!("still here {i}"))).await.unwrap();
            assert_eq!(socket.next().await.unwrap().unwrap(), Message::text(format!("still here {i}")));
        }
    });
    assert!(rgi_test_support::alive(shop.pid()), "the server did not wait for the open socket");
    rt.block_on(async {
        socket.close(None).await.unwrap();
        while let Some(Ok(_)) = socket.next().await {}
    });
    assert!(shop.wait(Duration::from_secs(15)).success(), "{}", shop.log());
}

#[test]
fn bad_upgrade_requests_are_refused_and_the_server_goes_on() {
    // UPG-1, UPG-2: nothing is tunnelled; each gets a plain answer.
    let (shop, addr) = embedded();
    let head = |extra: &str, version: &str| {
        format!(
            "GET /ws HTTP/{version}\r\nHost: shop.test\r\nConnection: Upgrade, close\r\nUpgrade: websocket\r\n\
             Sec-WebSocket-Version: 13\r\n{extra}\r\n"
        )
    };
    let key = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
    let cases = [
        ("no Sec-WebSocket-Key", head("", "1.1")),
        ("HTTP/1.0", head(key, "1.0")),
        ("a body", head(&format!("{key}Content-Length: 5\r\n"), "1.1").replacen("\r\n\r\n", "\r\n\r\nhello", 1)),
        ("an unknown protocol", head(key, "1.1").replace("Upgrade: websocket", "Upgrade: h2c")),
    ];
    for (what, raw) in cases {
        let (status, body) = request(addr, &raw);
        assert!((400..500).contains(&status), "{what}: {status} {body}");
    }
    let (status, body) =
        request(addr, &head(&format!("{key}Content-Length: 5\r\n"), "1.1").replacen("\r\n\r\n", "\r\n\r\nhello", 1));
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("an upgrade request has no body"), "{body}");
    assert_eq!(get(addr, "/api/products").0, 200);
    drop(shop);
}
