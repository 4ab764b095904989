//! A real WebSocket client (tokio-tungstenite) for the echo endpoints the
//! tests talk to: every message comes back as it was sent.

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// An open WebSocket.
pub type Socket = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens a WebSocket to `url` (`ws://addr/path`); the server must switch.
pub async fn connect(url: &str) -> Result<Socket, String> {
    let (socket, response) =
        tokio_tungstenite::connect_async(url).await.map_err(|e| format!("{url}: cannot open a WebSocket: {e}"))?;
    if response.status() != 101 {
        return Err(format!("{url}: answered {} instead of 101", response.status()));
    }
    Ok(socket)
}

/// Sends `message` and expects it back.
pub async fn echo(socket: &mut Socket, message: Message) -> Result<(), String> {
    socket.send(message.clone()).await.map_err(|e| format!("cannot send: {e}"))?;
    match socket.next().await {
        Some(Ok(answer)) if answer == message => Ok(()),
        Some(Ok(answer)) => Err(format!("sent {} bytes, got back {answer:?}", message.len())),
        Some(Err(err)) => Err(format!("no echo: {err}")),
        None => Err("no echo: the connection ended".into()),
    }
}

/// The whole conversation the issue asks of every mode: 1,000 echoes, a
/// 1 MiB message, a ping answered by a pong, and the close handshake.
pub async fn conversation(url: &str) -> Result<(), String> {
    let mut socket = connect(url).await?;
    for i in 0..1000 {
        echo(&mut socket, Message::text(format!("message {i}")))
            .await
            .map_err(|e| format!("{url}: message {i}: {e}"))?;
    }
    let big: Vec<u8> = (0..1u32 << 20).map(|i| (i % 251) as u8).collect();
    echo(&mut socket, Message::binary(big)).await.map_err(|e| format!("{url}: 1 MiB: {e}"))?;
    let ping = b"are you there".to_vec();
    socket.send(Message::Ping(ping.clone().into())).await.map_err(|e| format!("{url}: ping: {e}"))?;
    match socket.next().await {
        Some(Ok(Message::Pong(pong))) if pong == ping => {}
        other => return Err(format!("{url}: no pong: {other:?}")),
    }
    socket.close(None).await.map_err(|e| format!("{url}: close: {e}"))?;
    // The server answers with its close frame (or ends the stream).
    match socket.next().await {
        None | Some(Ok(Message::Close(_)) | Err(_)) => Ok(()),
        Some(Ok(other)) => Err(format!("{url}: after close: {other:?}")),
    }
}

/// Opens `n` sockets at once and has each echo a message of its own.
pub async fn many(url: &str, n: usize) -> Result<Vec<Socket>, String> {
    let opened = futures_util::future::join_all((0..n).map(|_| connect(url))).await;
    let mut sockets = opened.into_iter().collect::<Result<Vec<_>, _>>()?;
    for (i, socket) in sockets.iter_mut().enumerate() {
        echo(socket, Message::text(format!("socket {i}"))).await.map_err(|e| format!("{url}: socket {i}: {e}"))?;
    }
    Ok(sockets)
}
