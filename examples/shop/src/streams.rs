//! Bodies that stream: uploads read as they arrive, server-sent events,
//! a large generated download, and a WebSocket.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Multipart, Query};
use axum::http::{header, StatusCode};
use axum::response::sse::{Event, Sse};
use axum::response::IntoResponse;
use axum::Json;
use futures_util::stream::{self, Stream};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

/// Reads every part of a multipart upload as it arrives, and answers with
/// each part's name, size and SHA-256.
pub(crate) async fn upload(mut multipart: Multipart) -> impl IntoResponse {
    let mut parts = Vec::new();
    loop {
        let mut field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(err) => return (err.status(), Json(json!({ "error": err.body_text() }))),
        };
        let name = field.name().unwrap_or_default().to_string();
        let file_name = field.file_name().map(str::to_string);
        let (mut size, mut digest) = (0usize, Sha256::new());
        loop {
            match field.chunk().await {
                Ok(Some(chunk)) => {
                    size += chunk.len();
                    digest.update(&chunk);
                }
                Ok(None) => break,
                Err(err) => return (err.status(), Json(json!({ "error": err.body_text() }))),
            }
        }
        let sha256: String = digest.finalize().iter().map(|b| format!("{b:02x}")).collect();
        parts.push(json!({ "name": name, "file_name": file_name, "size": size, "sha256": sha256 }));
    }
    (StatusCode::OK, Json(json!({ "parts": parts })))
}

#[derive(Debug, Deserialize)]
pub(crate) struct Ticks {
    n: u32,
    ms: u64,
}

/// `n` events, one every `ms` milliseconds, each sent when it happens.
pub(crate) async fn events(Query(ticks): Query<Ticks>) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let every = Duration::from_millis(ticks.ms);
    Sse::new(stream::unfold(0, move |i| async move {
        if i == ticks.n {
            return None;
        }
        tokio::time::sleep(every).await;
        Some((Ok(Event::default().event("tick").id(i.to_string()).data(format!("tick {i}"))), i + 1))
    }))
}

#[derive(Debug, Deserialize)]
pub(crate) struct Size {
    kib: usize,
}

/// `kib` KiB of text, streamed 1 KiB at a time.
pub(crate) async fn big(Query(size): Query<Size>) -> impl IntoResponse {
    let mut line = "0123456789abcdef".repeat(64).into_bytes();
    line[1023] = b'\n';
    let line = Bytes::from(line);
    let chunks = stream::iter((0..size.kib).map(move |_| Ok::<_, Infallible>(line.clone())));
    ([(header::CONTENT_TYPE, "text/plain")], Body::from_stream(chunks))
}

/// A WebSocket that echoes every text and binary message (the library
/// answers pings), until the client closes it.
pub(crate) async fn echo_socket(upgrade: WebSocketUpgrade) -> impl IntoResponse {
    upgrade.max_message_size(2 << 20).on_upgrade(|mut socket: WebSocket| async move {
        while let Some(Ok(message)) = socket.recv().await {
            let echo = match message {
                Message::Text(_) | Message::Binary(_) => message,
                Message::Close(_) => break,
                Message::Ping(_) | Message::Pong(_) => continue,
            };
            if socket.send(echo).await.is_err() {
                break;
            }
        }
    })
}
