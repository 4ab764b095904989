//! The daemon side: an application served over FastCGI (responder role),
//! as the same binary does when started with a listening socket on fd 0.

use std::future::Future;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use rgi_core::{Application, Deployment};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::socket::{Acceptor, Socket, StdListener, StdStream};

mod conn;
mod request;
mod response;
mod stream;

/// How a daemon serves.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DaemonConfig {
    /// Requests the application handles at once; more wait their turn
    /// (mod_wsgi's `threads`). Default 100.
    pub concurrency: usize,
    /// Largest PARAMS stream accepted, in bytes (the head's limit, as
    /// `RGI_MAX_HEADER_BYTES`); more is answered `431`. Default 64 KiB.
    pub max_params_bytes: usize,
    /// Most header fields (`HTTP_*` and `CONTENT_*` variables) in a
    /// request; more is answered `431`. Default 100.
    pub max_header_count: usize,
    /// Largest single header field (name and value) in bytes; a larger one
    /// is answered `431`. Default 16 KiB.
    pub max_header_field_bytes: usize,
    /// Largest request body; `None` for no limit. Default 16 MiB.
    pub max_body_bytes: Option<u64>,
    /// Time in-flight requests get after a stop signal. Default 30 s.
    pub grace_period: Duration,
    /// After answering a request without `FCGI_KEEP_CONN` before the front
    /// sent all of it, how long the daemon waits for each next piece of
    /// the rest before it closes anyway (FCGI-3). Default 5 s.
    pub linger_timeout: Duration,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        Self {
            concurrency: 100,
            max_params_bytes: 64 * 1024,
            max_header_count: 100,
            max_header_field_bytes: 16 * 1024,
            max_body_bytes: Some(16 * 1024 * 1024),
            grace_period: Duration::from_secs(30),
            linger_timeout: Duration::from_secs(5),
        }
    }
}

/// What the fuzz target `fastcgi_params` runs on each input, kept here so
/// the corpus replay test runs exactly the same code on stable: the bytes
/// as a front's PARAMS stream, decoded under the default limit, then made
/// into a request as the daemon does. It must never panic.
#[doc(hidden)]
pub fn fuzz_params(input: &[u8]) {
    let config = DaemonConfig::default();
    let mut decoder = rgi_fastcgi::ParamsDecoder::new(config.max_params_bytes);
    // Fed in pieces, as records bring it.
    for piece in input.chunks(61) {
        if decoder.push(bytes::Bytes::copy_from_slice(piece)).is_err() {
            return;
        }
    }
    let Ok(params) = decoder.finish() else { return };
    let deployment = Arc::new(Deployment::new(rgi_core::Mode::Daemon, Arc::new(rgi_core::Settings::empty())));
    if let Ok(request) = request::build(&config, &deployment, &params, request::Stdin::Whole(Vec::new())) {
        // What was accepted holds together: the mount split is a split of
        // the path the request carries.
        let environ = request.environ();
        let path = request.uri().path();
        assert!(path.starts_with(environ.raw_script_name()), "{path} vs {}", environ.raw_script_name());
    }
}

/// Where a daemon accepts front connections.
#[derive(Debug)]
pub enum DaemonListener {
    /// A Unix socket (the supervisor's, or `RGI_FASTCGI=unix:/path`).
    Unix(UnixListener),
    /// TCP (`RGI_FASTCGI=127.0.0.1:9000`, for a front on another host).
    Tcp(TcpListener),
}

/// Serves the connections on a daemon socket that do not speak FastCGI
/// (their first byte is not FastCGI's version, 1): HTTP/1.1 from a front
/// that needs the upgrades FastCGI cannot carry (UPG-6). It gets the
/// stream, unread, and the daemon's two stop signals: `stop` (finish the
/// request in flight, then close) and `abort` (close now, at the end of
/// the grace period). The daemon's graceful stop waits for its future.
pub type HttpSide = Arc<dyn Fn(StdStream, CancellationToken, CancellationToken) -> BoxFuture + Send + Sync>;

/// The future an [`HttpSide`] returns.
pub type BoxFuture = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

/// FastCGI records start with the protocol version.
const FCGI_VERSION_1: u8 = 1;

pub(crate) struct Shared {
    pub(crate) app: Arc<dyn Application>,
    pub(crate) config: DaemonConfig,
    pub(crate) deployment: Arc<Deployment>,
    pub(crate) permits: Semaphore,
}

/// Serves `app` over FastCGI on `listener` until `shutdown` completes, then
/// lets requests in flight finish within the grace period (SRV-9).
///
/// The application's `startup` runs first; its failure is returned before
/// a connection is accepted, which is how a supervisor's readiness probe
/// (GET_VALUES) tells a loaded daemon from one that failed (DMN-5).
pub async fn serve(
    listener: DaemonListener,
    app: Arc<dyn Application>,
    deployment: Arc<Deployment>,
    config: DaemonConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), rgi_core::Error> {
    serve_with_http(listener, app, deployment, config, None, shutdown).await
}

/// Like [`serve`], with `http` serving the socket's connections that
/// speak HTTP instead of FastCGI (UPG-6); without it, every connection is
/// read as FastCGI.
pub async fn serve_with_http(
    listener: DaemonListener,
    app: Arc<dyn Application>,
    deployment: Arc<Deployment>,
    config: DaemonConfig,
    http: Option<HttpSide>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), rgi_core::Error> {
    // Polled once first: a signal handler it installs is then in place
    // before the daemon says it is ready.
    let mut shutdown = std::pin::pin!(shutdown);
    let stop_early = std::future::poll_fn(|cx| Poll::Ready(shutdown.as_mut().poll(cx).is_ready())).await;
    app.startup().await?;
    let shared = Arc::new(Shared { permits: Semaphore::new(config.concurrency.max(1)), app, config, deployment });
    let tokens = Tokens { stopping: CancellationToken::new(), abort: CancellationToken::new() };
    let tracker = TaskTracker::new();
    tracing::info!(pid = std::process::id(), mode = %shared.deployment.mode(), "daemon ready for FastCGI connections");
    let accepting = accept_loop(listener, Arc::clone(&shared), http, tracker.clone(), tokens.clone());
    if !stop_early {
        tokio::select! {
            () = accepting => {}
            () = shutdown => {}
        }
    }
    tokens.stopping.cancel();
    tracker.close();
    let grace = shared.config.grace_period;
    if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
        tracing::warn!(connections = tracker.len(), "grace period over; dropping the connections still open");
        // Upgraded connections are shut down by their own tasks (UPG-4):
        // a moment for them, so their peers see the close now.
        tokens.abort.cancel();
        let _ = tokio::time::timeout(Duration::from_millis(200), tracker.wait()).await;
    }
    shared.app.shutdown().await;
    Ok(())
}

/// The daemon's stop signals, as its connections see them.
#[derive(Clone)]
struct Tokens {
    /// Finish the requests in flight, then close.
    stopping: CancellationToken,
    /// The grace period is over: close now.
    abort: CancellationToken,
}

async fn accept_loop(
    listener: DaemonListener,
    shared: Arc<Shared>,
    http: Option<HttpSide>,
    tracker: TaskTracker,
    tokens: Tokens,
) {
    let acceptor = match listener.into_acceptor() {
        Ok(acceptor) => acceptor,
        Err(err) => {
            tracing::error!(error = %err, "cannot watch the FastCGI listener");
            return;
        }
    };
    loop {
        match acceptor.accept().await {
            Ok(socket) => match &http {
                None => {
                    tracker.spawn(conn::serve(socket, Arc::clone(&shared), tokens.stopping.clone()));
                }
                Some(http) => {
                    tracker.spawn(sniff(socket, Arc::clone(&shared), Arc::clone(http), tokens.clone()));
                }
            },
            Err(err) => {
                tracing::warn!(error = %err, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Serves a connection as FastCGI or, when its first byte cannot start a
/// FastCGI record, as HTTP (UPG-6). Both wait for the peer's first bytes
/// anyway, so looking costs one `recv` per connection, and fronts keep
/// their connections.
async fn sniff(socket: Socket, shared: Arc<Shared>, http: HttpSide, tokens: Tokens) {
    let first = tokio::select! {
        first = socket.peek_byte() => first,
        () = tokens.stopping.cancelled() => return,
    };
    match first {
        Ok(Some(byte)) if byte != FCGI_VERSION_1 => http(socket.into_std(), tokens.stopping, tokens.abort).await,
        // FastCGI, or a connection that ends before it says anything.
        _ => conn::serve(socket, shared, tokens.stopping).await,
    }
}

impl DaemonListener {
    fn into_acceptor(self) -> std::io::Result<Acceptor> {
        let listener = match self {
            DaemonListener::Unix(l) => StdListener::Unix(l.into_std()?),
            DaemonListener::Tcp(l) => StdListener::Tcp(l.into_std()?),
        };
        Acceptor::new(listener)
    }
}
