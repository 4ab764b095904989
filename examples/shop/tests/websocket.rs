//! The shop's WebSocket (`/ws`, axum's `WebSocketUpgrade`, unchanged)
//! in every mode, with a real client (tokio-tungstenite), next to plain
//! `axum::serve` (UPG-1 to UPG-4, UPG-7).
#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use rgi_test_support::{get, listening_addr, request, workspace_binary, ws, LoggedChild};
use support::Deployment;
use tokio_tungstenite::tungstenite::Message;

mod support;

fn embedded() -> (LoggedChild, SocketAddr) {
    let mut command = Command::new(workspace_binary("shop"));
    command.current_dir(env!("CARGO_MANIFEST_DIR")).env("RGI_BIND", "127.0.0.1:0").env("RGI_LOG", "info");
    LoggedChild::spawn("shop", command, Duration::from_secs(60), listening_addr)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

#[test]
fn the_websocket_talks_in_every_mode_as_under_axum_serve() {
    // UPG-1, UPG-3, UPG-7: axum::serve at / and nested under /shop, rgi
    // embedded, rgi-server's daemons at / and under /shop, and rgi-dev.
    let dir = tempfile::tempdir().unwrap();
    let deployments = Deployment::start_all(dir.path());
    std::thread::scope(|scope| {
        for deployment in &deployments {
            scope.spawn(move || {
                let url = deployment.ws_url("/ws");
                let talked = runtime().block_on(async {
                    ws::conversation(&url).await?;
                    // Many at once, each its own conversation.
                    ws::many(&url, 50).await.map(drop)
                });
                if let Err(err) = talked {
                    panic!("{}: {err}\n{}", deployment.name(), deployment.log());
                }
            });
        }
    });
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
fn hostile_upgrades_and_vanishing_clients_cost_nothing_else() {
    // UPG-1, UPG-2, UPG-7: embedded and behind rgi-server's daemons, at /
    // and under /shop. Nothing is tunnelled; each gets a plain answer, and
    // the server goes on.
    let dir = tempfile::tempdir().unwrap();
    let deployments = Deployment::start(dir.path(), &["embedded", "rgi-server"]);
    std::thread::scope(|scope| {
        for deployment in &deployments {
            scope.spawn(move || {
                refuses_bad_upgrades(deployment);
                survives_a_vanishing_client(deployment);
            });
        }
    });
}

fn refuses_bad_upgrades(deployment: &Deployment) {
    let name = deployment.name();
    let target = deployment.path("/ws");
    let head = |extra: &str, version: &str| {
        format!(
            "GET {target} HTTP/{version}\r\nHost: shop.test\r\nConnection: Upgrade, close\r\nUpgrade: websocket\r\n\
             Sec-WebSocket-Version: 13\r\n{extra}\r\n"
        )
    };
    let key = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
    let with_body = head(&format!("{key}Content-Length: 5\r\n"), "1.1").replacen("\r\n\r\n", "\r\n\r\nhello", 1);
    let cases = [
        ("no Sec-WebSocket-Key", head("", "1.1")),
        ("HTTP/1.0", head(key, "1.0")),
        ("a body", with_body.clone()),
        ("an unknown protocol", head(key, "1.1").replace("Upgrade: websocket", "Upgrade: h2c")),
    ];
    for (what, raw) in cases {
        let (status, body) = request(deployment.addr(), &raw);
        assert!((400..500).contains(&status), "{name}: {what}: {status} {body}");
    }
    let (status, body) = request(deployment.addr(), &with_body);
    assert_eq!(status, 400, "{name}: {body}");
    assert!(body.contains("an upgrade request has no body"), "{name}: {body}");
    assert_eq!(get(deployment.addr(), &deployment.path("/api/products")).0, 200, "{name}");
}

fn survives_a_vanishing_client(deployment: &Deployment) {
    let url = deployment.ws_url("/ws");
    let rt = runtime();
    rt.block_on(async {
        let mut socket = ws::connect(&url).await.unwrap();
        ws::echo(&mut socket, Message::text("hello")).await.unwrap();
        // Gone without a close frame.
        drop(socket);
    });
    if let Err(err) = rt.block_on(ws::conversation(&url)) {
        panic!("{}: after a client vanished: {err}", deployment.name());
    }
    assert_eq!(get(deployment.addr(), &deployment.path("/api/products")).0, 200, "{}", deployment.name());
}
