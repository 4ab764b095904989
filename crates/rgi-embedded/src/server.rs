//! The server: listeners, mounts, and its life from startup to shutdown.

use std::future::Future;
use std::sync::Arc;
use std::task::Poll;

use rgi_core::{Application, Deployment, Mode, Settings};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::error::Error;
use crate::listener::{Listener, Stream};
use crate::mounts::Mounts;
use crate::protocol::Builders;
use crate::service::Shared;

/// Builds a [`Server`].
///
/// ```no_run
/// # async fn run() -> Result<(), rgi_embedded::Error> {
/// use rgi_core::{from_fn, Body};
/// use rgi_embedded::{BindAddr, Listener, Server};
///
/// let hello = from_fn(|_| async { Ok(http::Response::new(Body::from("Hello, World!"))) });
/// let server = Server::builder().mount("/", hello)?.build();
/// let listener = Listener::bind(&"127.0.0.1:8000".parse::<BindAddr>()?).await?;
/// server.serve(vec![listener], rgi_embedded::shutdown_signal()).await
/// # }
/// ```
#[derive(Debug, Default)]
pub struct Builder {
    config: Config,
    mounts: Mounts,
    deployment: Option<Arc<Deployment>>,
}

impl Builder {
    /// The configuration.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Mounts an application at a prefix; see [`Mounts::add`].
    pub fn mount(mut self, prefix: &str, app: impl Application) -> Result<Self, Error> {
        self.mounts.add(prefix, app)?;
        Ok(self)
    }

    /// Mounts an already shared application.
    pub fn mount_arc(mut self, prefix: &str, app: Arc<dyn Application>) -> Result<Self, Error> {
        self.mounts.add_arc(prefix, app)?;
        Ok(self)
    }

    /// Replaces the mount table.
    pub fn mounts(mut self, mounts: Mounts) -> Self {
        self.mounts = mounts;
        self
    }

    /// The deployment facts requests carry (ENV-9); by default embedded
    /// mode, multithreaded, one process, empty settings.
    pub fn deployment(mut self, deployment: Arc<Deployment>) -> Self {
        self.deployment = Some(deployment);
        self
    }

    /// The server.
    pub fn build(self) -> Server {
        let deployment =
            self.deployment.unwrap_or_else(|| Arc::new(Deployment::new(Mode::Embedded, Arc::new(Settings::empty()))));
        let draining = std::sync::atomic::AtomicBool::new(false);
        let hyper = Arc::new(Builders::new(&self.config));
        Server { shared: Arc::new(Shared { config: self.config, mounts: self.mounts, deployment, draining }), hyper }
    }
}

/// An HTTP server hosting applications at mount prefixes.
#[derive(Debug, Clone)]
pub struct Server {
    shared: Arc<Shared>,
    hyper: Arc<Builders>,
}

/// A connection accepted elsewhere in the process, for
/// [`Server::serve_connection`]; it must be in non-blocking mode.
#[derive(Debug)]
pub enum HandedStream {
    /// A TCP connection.
    Tcp(std::net::TcpStream),
    /// A Unix socket connection.
    Unix(std::os::unix::net::UnixStream),
}

impl Server {
    /// A builder.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// Serves on `listeners` until `shutdown` completes, then stops
    /// gracefully (SRV-9): no new connections, in-flight requests get the
    /// grace period, then what remains is closed.
    ///
    /// Each application's `startup` runs before the first connection is
    /// accepted, and its `shutdown` after the last one closed (APP-4).
    pub async fn serve<F>(self, listeners: Vec<Listener>, shutdown: F) -> Result<(), Error>
    where
        F: Future<Output = ()> + Send,
    {
        if listeners.is_empty() {
            return Err(Error::NoListener);
        }
        // Polled once before anything is announced, so that a signal handler
        // the future installs (shutdown_signal's) is in place by the time a
        // supervisor or test reads "listening" and may send SIGTERM.
        let mut shutdown = std::pin::pin!(shutdown);
        let stop_early = std::future::poll_fn(|cx| Poll::Ready(shutdown.as_mut().poll(cx).is_ready())).await;
        for mount in self.shared.mounts.iter() {
            mount.app.startup().await.map_err(|source| Error::Startup { prefix: mount.prefix.clone(), source })?;
        }
        let builder = Arc::clone(&self.hyper);
        let connections = Arc::new(Semaphore::new(self.shared.config.limits.max_connections));
        let accepting = CancellationToken::new();
        let stopping = CancellationToken::new();
        let abort = CancellationToken::new();
        let tracker = TaskTracker::new();
        let mut cleanup = Vec::new();
        for listener in listeners {
            let addr = listener.local_addr().map_or_else(|_| "an inherited socket".to_string(), |a| a.to_string());
            let listener = listener.into_registered().map_err(|source| Error::Bind { addr, source })?;
            if let Ok(addr) = listener.local_addr() {
                tracing::info!(%addr, mode = %self.shared.deployment.mode(), "listening");
            }
            cleanup.extend(listener.owned_path());
            let job = crate::accept::accept_loop(
                listener,
                Arc::clone(&self.shared),
                Arc::clone(&builder),
                Arc::clone(&connections),
                tracker.clone(),
                Tokens { accepting: accepting.clone(), stopping: stopping.clone(), abort: abort.clone() },
            );
            tracker.spawn(job);
        }
        if !stop_early {
            shutdown.await;
        }
        let grace = self.shared.config.grace_period;
        tracing::info!(
            grace_secs = grace.as_secs_f64(),
            "shutting down: no new connections, finishing requests in flight"
        );
        accepting.cancel();
        tracker.close();
        let drain = self.shared.config.drain_period;
        if !drain.is_zero() {
            // Clients on HTTP/1 are asked to go with their next response
            // and reconnect (to whoever accepts now); only those still idle
            // at the end are closed under them.
            self.shared.draining.store(true, std::sync::atomic::Ordering::Relaxed);
            if tokio::time::timeout(drain, tracker.wait()).await.is_err() {
                tracing::info!(connections = tracker.len(), "drain period over; closing idle connections");
            }
        }
        stopping.cancel();
        if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
            tracing::warn!(connections = tracker.len(), "grace period over; closing the remaining connections");
            abort.cancel();
            tracker.wait().await;
        }
        for path in cleanup {
            let _ = std::fs::remove_file(path);
        }
        for mount in self.shared.mounts.iter() {
            mount.app.shutdown().await;
        }
        tracing::info!("stopped");
        Ok(())
    }
}

impl Server {
    /// Serves one connection that another part of this process accepted:
    /// the HTTP side of a daemon socket, which hands over the connections
    /// that do not speak FastCGI (UPG-6). The server's listeners, and its
    /// applications' `startup` and `shutdown`, are not involved: whoever
    /// accepted the connection runs those.
    ///
    /// `stop` asks the connection to finish its request in flight and
    /// close (SRV-9); `abort` closes it at once, upgraded or not (UPG-4).
    /// The future ends when the connection is closed; an upgraded one
    /// only when the application dropped it, or at `abort`.
    pub async fn serve_connection(&self, stream: HandedStream, stop: CancellationToken, abort: CancellationToken) {
        let (stream, local, remote) = match stream {
            HandedStream::Tcp(tcp) => {
                let remote = tcp.peer_addr().ok();
                match tokio::net::TcpStream::from_std(tcp) {
                    Ok(tcp) => crate::listener::tcp_accepted(tcp, remote),
                    Err(err) => return tracing::warn!(error = %err, "cannot serve a handed connection"),
                }
            }
            HandedStream::Unix(unix) => match tokio::net::UnixStream::from_std(unix) {
                Ok(unix) => (Stream::Unix(unix), None, None),
                Err(err) => return tracing::warn!(error = %err, "cannot serve a handed connection"),
            },
        };
        let info = rgi_gateway::Connection { local, remote, scheme: rgi_core::Scheme::Http };
        crate::conn::serve(Arc::clone(&self.hyper), Arc::clone(&self.shared), stream, info, stop, abort).await;
    }
}

/// The stages of a server's stop, as its tasks see them.
pub(crate) struct Tokens {
    /// Stop accepting (the listener closes).
    pub(crate) accepting: CancellationToken,
    /// Close connections once their request in flight is answered.
    pub(crate) stopping: CancellationToken,
    /// Close connections now.
    pub(crate) abort: CancellationToken,
}

/// Completes on `SIGTERM` or `SIGINT` (Ctrl-C).
pub async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    match (term, int) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM received"),
                _ = int.recv() => tracing::info!("SIGINT received"),
            }
        }
        _ => {
            tracing::error!("cannot install signal handlers; stop the server by other means");
            std::future::pending::<()>().await;
        }
    }
}
