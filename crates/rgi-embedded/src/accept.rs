//! Accepting connections: the connection limit, the PROXY header and the
//! TLS handshake before a connection is served, and, at shutdown, the
//! connections already queued in the kernel.

use std::sync::Arc;
use std::time::Duration;

use rgi_core::Scheme;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;
use tokio_util::task::TaskTracker;

use crate::conn;
use crate::listener::{Listener, Stream};
use crate::protocol::Builders;
use crate::server::Tokens;
use crate::service::Shared;

/// What every connection of one listener is served with.
struct Serving {
    shared: Arc<Shared>,
    builder: Arc<Builders>,
    tracker: TaskTracker,
    tokens: Tokens,
    tls: Option<TlsAcceptor>,
    proxy_protocol: bool,
}

pub(crate) async fn accept_loop(
    listener: Listener,
    shared: Arc<Shared>,
    builder: Arc<Builders>,
    connections: Arc<Semaphore>,
    tracker: TaskTracker,
    tokens: Tokens,
) {
    let tls = listener.tls().map(|t| t.acceptor());
    let proxy_protocol = listener.proxy_protocol();
    let accepting = tokens.accepting.clone();
    let this = Serving { shared, builder, tracker, tokens, tls, proxy_protocol };
    loop {
        // SRV-3: past the connection limit, wait; the kernel queues the rest.
        let permit = tokio::select! {
            permit = Arc::clone(&connections).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return,
            },
            () = accepting.cancelled() => break,
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = accepting.cancelled() => break,
        };
        match accepted {
            Ok((stream, local, remote)) => this.serve(stream, local, remote, permit),
            Err(err) => {
                // Out of descriptors or a connection reset before accept:
                // not fatal; back off a little so a storm does not spin.
                tracing::warn!(error = %err, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    // Connections the kernel completed but nobody accepted yet would be
    // reset when the listener closes, after their clients sent a request:
    // a front cannot tell whether it was served, and does not retry a
    // POST. They are taken and served (told to close) instead.
    let mut queued = 0usize;
    while let Ok(permit) = Arc::clone(&connections).try_acquire_owned() {
        match listener.try_accept() {
            Ok(Some((stream, local, remote))) => {
                this.serve(stream, local, remote, permit);
                queued += 1;
            }
            Ok(None) | Err(_) => break,
        }
    }
    if queued > 0 {
        tracing::info!(connections = queued, "served the connections queued when accepting stopped");
    }
}

impl Serving {
    fn serve(
        &self,
        stream: Stream,
        local: Option<std::net::SocketAddr>,
        remote: Option<std::net::SocketAddr>,
        permit: OwnedSemaphorePermit,
    ) {
        let scheme = if self.tls.is_some() { Scheme::Https } else { Scheme::Http };
        let mut info = rgi_gateway::Connection { local, remote, scheme };
        let (builder, shared) = (Arc::clone(&self.builder), Arc::clone(&self.shared));
        let (stopping, abort) = (self.tokens.stopping.clone(), self.tokens.abort.clone());
        let (tls, proxy_protocol) = (self.tls.clone(), self.proxy_protocol);
        self.tracker.spawn(async move {
            let mut stream = stream;
            if proxy_protocol && !proxy_header(&shared, &mut stream, &mut info).await {
                return;
            }
            let stream = match (tls, stream) {
                (Some(acceptor), Stream::Tcp(tcp)) => {
                    // The handshake counts against the head's time (SRV-3).
                    let limit = shared.config.limits.header_read_timeout;
                    match tokio::time::timeout(limit, acceptor.accept(tcp)).await {
                        Ok(Ok(tls)) => Stream::Tls(Box::new(tls)),
                        Ok(Err(err)) => {
                            tracing::info!(remote = ?info.remote, error = %err, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::info!(remote = ?info.remote, "TLS handshake not done in time");
                            return;
                        }
                    }
                }
                (_, stream) => stream,
            };
            conn::serve(builder, shared, stream, info, stopping, abort).await;
            drop(permit);
        });
    }
}

/// Reads the PROXY header of a connection on a PROXY protocol listener,
/// within the head's time (SRV-3), and takes its client as the
/// connection's (PRX-1, PRX-2, PRX-4). False when the connection must be
/// closed, logged with why.
async fn proxy_header(shared: &Shared, stream: &mut Stream, info: &mut rgi_gateway::Connection) -> bool {
    let peer = info.remote.map_or_else(|| "unix".to_string(), |r| r.to_string());
    let trusted = &shared.config.trusted_proxies;
    if info.remote.is_some_and(|r| !trusted.is_empty() && !trusted.contains(r.ip())) {
        tracing::warn!(%peer, "connection closed: a PROXY protocol listener takes connections from trusted proxies only");
        return false;
    }
    let read = async {
        match stream {
            Stream::Tcp(tcp) => crate::proxy_header::read(tcp).await,
            Stream::Unix(unix) => crate::proxy_header::read(unix).await,
            Stream::Tls(_) => Err("TLS before the PROXY header".to_string()),
        }
    };
    match tokio::time::timeout(shared.config.limits.header_read_timeout, read).await {
        Ok(Ok(header)) => {
            if let Some(client) = header.source {
                info.remote = Some(client);
            }
            true
        }
        Ok(Err(reason)) => {
            tracing::warn!(%peer, %reason, "connection closed: no valid PROXY protocol header");
            false
        }
        Err(_) => {
            tracing::warn!(%peer, "connection closed: PROXY protocol header not received in time");
            false
        }
    }
}
