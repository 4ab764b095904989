//! Upgrade requests (WebSockets) to a daemon. FastCGI cannot carry a
//! connection past its `101`, so the pool opens a connection of its own
//! to the chosen daemon's socket and speaks HTTP/1.1 on it (the daemon
//! tells the two protocols apart by the first byte). Once both sides have
//! switched, the client's connection and the daemon's are spliced for as
//! long as either lives (UPG-7).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use http::header::{HeaderValue, CONNECTION, UPGRADE};
use http::StatusCode;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use rgi_core::{Body, Request, Response};
use rgi_gateway::proxy::forwarded::{FIELDS, X_FORWARDED_PREFIX};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};

use super::exchange::describe;
use super::{Backend, BackendAddr, Group, Purpose};

/// Forwards an upgrade request to a daemon; on its `101`, answers `101`
/// and splices the two connections in a task of their own.
pub(crate) async fn forward(group: &Arc<Group>, mut request: Request) -> Response {
    let protocol =
        request.headers().get(UPGRADE).map_or_else(String::new, |p| String::from_utf8_lossy(p.as_bytes()).into_owned());
    let Some(client) = request.extensions_mut().remove::<OnUpgrade>() else {
        // The front cannot hand this connection over: say so rather than
        // let the client wait on a 101 nothing follows (UPG-5).
        tracing::info!(group = %group.name, %protocol, "upgrade refused: this front cannot hand the connection over");
        return rgi_gateway::respond::plain(
            StatusCode::NOT_IMPLEMENTED,
            &format!("upgrading to {protocol:?} is not available here: the server in front of the application cannot hand the connection over"),
        );
    };
    // Counted from now, not from the 101: sockets opened at once are then
    // spread, and the limit holds however many ask together.
    let Some(mut open) = Open::reserve(group) else {
        let limit = group.config.max_upgraded;
        return group.refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many upgraded connections open",
            &format!(
                "upgrade to {protocol:?} refused: {limit} upgraded connections are open, the group's max-upgraded"
            ),
        );
    };
    let slot = match group.acquire_except(None, Purpose::Tunnel).await {
        Ok(slot) => slot,
        Err(refusal) => return refusal,
    };
    let backend = Arc::clone(&slot.backend);
    open.on(&backend);
    let mut sender = match handshake(&backend.addr, group.config.connect_timeout).await {
        Ok(sender) => sender,
        Err(err) => {
            let detail = format!("{}: cannot open a connection for an upgrade: {err}", describe(&backend));
            return group.refuse(StatusCode::BAD_GATEWAY, "the daemon could not be reached", &detail);
        }
    };
    let sent = sender.send_request(outgoing(request));
    let answered = match group.config.request_timeout {
        Some(limit) => tokio::time::timeout(limit, sent).await.map_err(|_| limit),
        None => Ok(sent.await),
    };
    drop(slot);
    let mut response = match answered {
        Ok(Ok(response)) => response,
        Ok(Err(err)) => {
            let detail = format!("{}: the upgrade request failed: {err}", describe(&backend));
            return group.refuse(StatusCode::BAD_GATEWAY, "the daemon failed to answer", &detail);
        }
        Err(limit) => {
            let detail =
                format!("{}: no answer to an upgrade request within {} s", describe(&backend), limit.as_secs_f64());
            return group.refuse(StatusCode::GATEWAY_TIMEOUT, "the daemon did not answer in time", &detail);
        }
    };
    if response.status() != StatusCode::SWITCHING_PROTOCOLS {
        // The application declined (a 400 for a bad handshake, say): its
        // answer goes back as it is.
        return response.map(Body::wrap);
    }
    let daemon = hyper::upgrade::on(&mut response);
    group.stats.upgrades.fetch_add(1, Ordering::Relaxed);
    tokio::spawn(splice(client, daemon, open));
    let (parts, _) = response.into_parts();
    Response::from_parts(parts, Body::empty())
}

/// The request as the daemon gets it over HTTP: the client's, with what
/// FastCGI would have passed as parameters in forwarding fields the
/// daemon takes from its front alone: the client's address
/// (`X-Forwarded-For`), the scheme (`X-Forwarded-Proto`) and the mount
/// prefix (`X-Forwarded-Prefix`). The client's own such fields go.
fn outgoing(request: Request) -> http::Request<http_body_util::Empty<bytes::Bytes>> {
    let (request, environ) = request.into_parts();
    let (mut head, _empty) = request.into_parts();
    for name in FIELDS.iter().chain([&X_FORWARDED_PREFIX]) {
        head.headers.remove(name);
    }
    let mut set = |name: http::HeaderName, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            head.headers.insert(name, value);
        }
    };
    if let Some(client) = environ.remote_addr() {
        set(http::HeaderName::from_static("x-forwarded-for"), &client.ip().to_string());
    }
    set(http::HeaderName::from_static("x-forwarded-proto"), environ.url_scheme().as_str());
    if !environ.raw_script_name().is_empty() {
        set(X_FORWARDED_PREFIX, environ.raw_script_name());
    }
    head.headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
    head.uri = http::Uri::from(environ.target().clone());
    head.version = http::Version::HTTP_11;
    http::Request::from_parts(head, http_body_util::Empty::new())
}

type Sender = hyper::client::conn::http1::SendRequest<http_body_util::Empty<bytes::Bytes>>;

/// A new HTTP/1.1 connection to a daemon's socket, within `timeout`; its
/// connection task runs until the daemon's side of the tunnel is handed
/// over.
async fn handshake(addr: &BackendAddr, timeout: std::time::Duration) -> Result<Sender, String> {
    let connected = tokio::time::timeout(timeout, async {
        match addr {
            BackendAddr::Unix(path) => start(UnixStream::connect(path).await?).await,
            BackendAddr::Tcp(addr) => start(TcpStream::connect(addr).await?).await,
        }
    });
    match connected.await {
        Ok(result) => result.map_err(|e| e.to_string()),
        Err(_) => Err(format!("connecting took over {} s", timeout.as_secs_f64())),
    }
}

async fn start<S>(stream: S) -> std::io::Result<Sender>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (sender, conn) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(std::io::Error::other)?;
    tokio::spawn(async move { drop(conn.with_upgrades().await) });
    Ok(sender)
}

/// An open tunnel (or one being opened), counted for the group's limit
/// and its process's share while it lives.
struct Open {
    group: Arc<Group>,
    backend: Option<Arc<Backend>>,
}

impl Open {
    /// A place under the group's limit, if there is one.
    fn reserve(group: &Arc<Group>) -> Option<Self> {
        let before = group.stats.upgraded.fetch_add(1, Ordering::AcqRel);
        let open = Self { group: Arc::clone(group), backend: None };
        (before < group.config.max_upgraded).then_some(open)
    }

    /// The tunnel goes to `backend`.
    fn on(&mut self, backend: &Arc<Backend>) {
        backend.tunnels.fetch_add(1, Ordering::AcqRel);
        self.backend = Some(Arc::clone(backend));
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.group.stats.upgraded.fetch_sub(1, Ordering::AcqRel);
        if let Some(backend) = &self.backend {
            backend.tunnels.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// Copies both ways between the client and the daemon once both have
/// switched, until either side ends: a WebSocket has no half-close, so
/// the end of one direction (after its last bytes are passed on) ends the
/// tunnel. A daemon that exits or crashes closes its own tunnels only.
async fn splice(client: OnUpgrade, daemon: OnUpgrade, open: Open) {
    let (client, daemon) = match tokio::try_join!(client, daemon) {
        Ok(both) => both,
        Err(err) => {
            tracing::debug!(group = %open.group.name, error = %err, "an upgrade did not complete");
            return;
        }
    };
    let (mut client_read, mut client_write) = tokio::io::split(TokioIo::new(client));
    let (mut daemon_read, mut daemon_write) = tokio::io::split(TokioIo::new(daemon));
    let ended = tokio::select! {
        up = tokio::io::copy(&mut client_read, &mut daemon_write) => ("client", up),
        down = tokio::io::copy(&mut daemon_read, &mut client_write) => ("daemon", down),
    };
    let pid = open.backend.as_ref().and_then(|b| b.pid);
    tracing::debug!(group = %open.group.name, ?pid, ended_by = ended.0, outcome = ?ended.1, "tunnel closed");
    // The other side learns at once; a peer that does not read any more
    // must not hold the task.
    let close = async {
        let _ = client_write.shutdown().await;
        let _ = daemon_write.shutdown().await;
    };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), close).await;
}
