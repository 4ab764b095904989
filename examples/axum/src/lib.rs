//! An ordinary axum `Router`, written without any rgi in it, served
//! through rgi by [`rgi::tower::from_service`]: embedded, as a daemon, or
//! under the development server, without a change (APP-8).

use std::net::SocketAddr;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Path, Query};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde_json::{json, Value};

/// The router, as any axum application would have it.
pub fn router() -> Router {
    Router::new()
        .route("/", get(|| async { "Hello from axum, served by rgi!" }))
        .route("/users/{id}", get(|Path(id): Path<u32>| async move { Json(json!({ "id": id })) }))
        .route(
            "/search",
            get(|Query(q): Query<std::collections::HashMap<String, String>>| async move { Json(json!(q)) }),
        )
        .route("/echo", post(|body: String| async move { body }))
        // A URL the application makes for itself carries its mount prefix
        // (SCRIPT_NAME), so it works at / and under any prefix.
        .route(
            "/login",
            get(|Extension(environ): Extension<rgi::Environ>| async move {
                axum::response::Redirect::to(&format!("{}/users/1", environ.script_name()))
            }),
        )
        // The client's address, as under axum::serve with connect info.
        .route("/peer", get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.ip().to_string() }))
        // rgi puts the gateway variables in the request's extensions.
        .route(
            "/environ",
            get(|Extension(environ): Extension<rgi::Environ>| async move {
                Json(json!({
                    "script_name": environ.script_name(),
                    "path_info": environ.path_info(),
                    "mode": environ.deployment().mode().as_str(),
                }))
            }),
        )
        // A WebSocket echo, as in axum's own examples: rgi hands the
        // upgraded connection over in every mode (UPG-1, UPG-7).
        .route("/ws", get(|upgrade: WebSocketUpgrade| async move { upgrade.on_upgrade(echo) }))
        .fallback(|| async { (axum::http::StatusCode::NOT_FOUND, Json(Value::String("no such route".into()))) })
}

/// Sends back every text and binary message until the client closes the
/// socket (the library answers pings itself).
async fn echo(mut socket: WebSocket) {
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
}
