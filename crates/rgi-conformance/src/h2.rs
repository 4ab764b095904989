//! The runner's HTTP/2 transport (hyper's client): the same vectors,
//! replayed as HTTP/2 requests, cleartext (prior knowledge) or over TLS
//! (ALPN `h2`).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio_rustls::rustls::ClientConfig;

use crate::client::{connect_tcp, handshake, WireResponse};

/// A request body as the frames the vector says.
pub(crate) type Frames = StreamBody<futures_util::stream::Iter<std::vec::IntoIter<Result<Frame<Bytes>, Infallible>>>>;

/// One HTTP/2 connection; its requests are streams on it.
pub(crate) struct H2 {
    sender: SendRequest<Frames>,
    timeout: Duration,
    /// The client's port, as the server sees it.
    pub(crate) local_port: u16,
}

impl H2 {
    pub(crate) async fn connect(
        addr: &str,
        timeout: Duration,
        tls: Option<&Arc<ClientConfig>>,
    ) -> Result<Self, String> {
        let tcp = connect_tcp(addr, timeout).await?;
        let local_port = tcp.local_addr().map(|a| a.port()).unwrap_or(0);
        let builder = hyper::client::conn::http2::Builder::new(TokioExecutor::new());
        let sender = match tls {
            None => {
                let (sender, conn) = builder.handshake(TokioIo::new(tcp)).await.map_err(|e| format!("h2c: {e}"))?;
                tokio::spawn(conn);
                sender
            }
            Some(config) => {
                let tls = handshake(tcp, addr, config, b"h2", timeout).await?;
                if tls.get_ref().1.alpn_protocol() != Some(b"h2") {
                    return Err(format!("{addr} did not agree to h2 by ALPN"));
                }
                let (sender, conn) = builder.handshake(TokioIo::new(tls)).await.map_err(|e| format!("h2: {e}"))?;
                tokio::spawn(conn);
                sender
            }
        };
        Ok(Self { sender, timeout, local_port })
    }

    /// Sends `request` and reads its whole response.
    pub(crate) async fn exchange(&mut self, request: http::Request<Frames>) -> Result<WireResponse, String> {
        let timeout = self.timeout;
        let answer = async {
            self.sender.ready().await.map_err(|e| format!("the connection failed: {e}"))?;
            let response = self.sender.send_request(request).await.map_err(|e| format!("the request failed: {e}"))?;
            let (head, body) = response.into_parts();
            let body = body.collect().await.map_err(|e| format!("the body failed: {e}"))?.to_bytes();
            let headers = head
                .headers
                .iter()
                .map(|(n, v)| (n.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
                .collect();
            Ok(WireResponse { status: head.status.as_u16(), headers, body: body.to_vec(), had_continue: false })
        };
        tokio::time::timeout(timeout, answer).await.map_err(|_| "no answer in time".to_string())?
    }
}

/// A body of these frames.
pub(crate) fn frames(frames: Vec<Frame<Bytes>>) -> Frames {
    let frames: Vec<Result<Frame<Bytes>, Infallible>> = frames.into_iter().map(Ok).collect();
    StreamBody::new(futures_util::stream::iter(frames))
}
