//! One client connection: hyper serving it, the idle watch, and shutdown.

use std::future::Future;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use hyper_util::rt::TokioIo;
use tokio_util::sync::CancellationToken;

use crate::listener::Stream;
use crate::protocol::{Builders, Version};
use crate::service::{ConnService, Shared};

/// What a connection's watchdog reads: bytes read (counted by the socket
/// wrapper), requests started, requests in flight, and how many bytes had
/// been read when the last request ended.
#[derive(Debug, Default)]
pub(crate) struct ConnState {
    pub(crate) bytes_read: AtomicU64,
    in_flight: AtomicUsize,
    requests: AtomicU64,
    bytes_at_last_end: AtomicU64,
    /// The socket's descriptor while the connection's stream lives.
    fd: AtomicI32,
    /// A duplicate of the socket once a `101` went out: the connection is
    /// the application's now, and the server closes it under the
    /// application only when the grace period ends (UPG-4).
    upgraded: Mutex<Option<OwnedFd>>,
    /// The stream was dropped (by hyper, or after an upgrade by the
    /// application).
    pub(crate) stream_gone: tokio::sync::Notify,
}

impl ConnState {
    /// The stream is gone (its descriptor with it).
    pub(crate) fn stream_closed(&self) {
        self.fd.store(-1, Ordering::Relaxed);
        self.stream_gone.notify_one();
    }

    /// A `101` is on its way: keeps a handle on the socket, taken while the
    /// stream (and so the descriptor) is certainly alive.
    pub(crate) fn upgrading(&self) {
        let fd = self.fd.load(Ordering::Relaxed);
        if fd < 0 {
            return;
        }
        // SAFETY: the stream that owns `fd` is alive: hyper holds it until
        // the 101 this request answers has been written.
        let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
        match borrowed.try_clone_to_owned() {
            Ok(dup) => *self.upgraded.lock().unwrap_or_else(PoisonError::into_inner) = Some(dup),
            Err(err) => tracing::warn!(error = %err, "cannot keep a handle on an upgraded connection"),
        }
    }

    pub(crate) fn start(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.requests.fetch_add(1, Ordering::Relaxed);
        InFlight(Arc::clone(self))
    }
}

/// A request in progress; dropping it ends the request.
#[derive(Debug)]
pub(crate) struct InFlight(Arc<ConnState>);

impl InFlight {
    /// The connection it is on.
    pub(crate) fn state(&self) -> &ConnState {
        &self.0
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let bytes = self.0.bytes_read.load(Ordering::Relaxed);
        self.0.bytes_at_last_end.store(bytes, Ordering::Relaxed);
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Serves one connection until the client closes it, is too slow to send
/// a request head or idles past the keep-alive timeout (SRV-3), or the
/// server stops: `shutdown` lets the request in flight finish (SRV-9),
/// `abort` drops it.
pub(crate) async fn serve(
    builders: Arc<Builders>,
    shared: Arc<Shared>,
    stream: Stream,
    info: rgi_gateway::Connection,
    shutdown: CancellationToken,
    abort: CancellationToken,
) {
    let state = Arc::new(ConnState { fd: AtomicI32::new(stream.raw_fd()), ..ConnState::default() });
    let limits = &shared.config.limits;
    // The head's time (SRV-3) runs from the connection's start, including
    // the wait for its first bytes below.
    let watchdog = Watchdog::new(limits.header_read_timeout, limits.keep_alive_timeout);
    let ticks = Watchdog::ticker(limits.header_read_timeout, limits.keep_alive_timeout);
    let version = tokio::select! {
        version = builders.version(&stream) => Some(version),
        () = tokio::time::sleep(limits.header_read_timeout) => None,
        // Nothing was asked yet, so nothing is lost.
        () = shutdown.cancelled() => return,
        () = abort.cancelled() => return,
    };
    let io = TokioIo::new(stream.counting(Arc::clone(&state)));
    let service = ConnService::new(shared.clone(), info, Arc::clone(&state));
    let service = hyper::service::service_fn(move |req| service.call(req));
    let abort_upgraded = abort.clone();
    let control = Control {
        stop: Box::pin(async move { shutdown.cancelled().await }),
        kill: Box::pin(async move { abort.cancelled().await }),
        ticks,
        watchdog,
        closing: false,
        state: Arc::clone(&state),
    };
    let ended = match version {
        // No first byte within the head's time.
        None => Some(Ok(Closed::SlowHead)),
        Some(Version::Http1) => {
            let conn = builders.http1.serve_connection(io, service).with_upgrades();
            Driven::new(conn, |c| c.graceful_shutdown(), control).await.map(|r| r.map_err(Into::into))
        }
        Some(Version::Detect) => {
            let conn = builders.auto.serve_connection_with_upgrades(io, service);
            Driven::new(conn, |c| c.graceful_shutdown(), control).await
        }
    };
    match ended {
        Some(Err(err)) => log_connection_error(&*err, &info),
        Some(Ok(Closed::SlowHead)) => {
            let remote = info.remote.map_or_else(|| "unix".to_string(), |r| r.to_string());
            tracing::info!(%remote, "connection closed: request head not received in time");
        }
        Some(Ok(Closed::Normally)) | None => {}
    }
    let upgraded = state.upgraded.lock().unwrap_or_else(PoisonError::into_inner).take();
    if let Some(socket) = upgraded {
        // The connection is the application's (a WebSocket, say); this task
        // stays, so a graceful stop waits for it, until the application
        // drops it or the grace period ends (UPG-4).
        tokio::select! {
            () = state.stream_gone.notified() => {}
            () = abort_upgraded.cancelled() => {
                let remote = info.remote.map_or_else(|| "unix".to_string(), |r| r.to_string());
                tracing::info!(%remote, "grace period over: closing an upgraded connection");
                let _ = socket2::SockRef::from(&socket).shutdown(std::net::Shutdown::Both);
            }
        }
    }
}

/// The connection's watchers: shutdown, abort, and the watchdog.
struct Control {
    stop: Pin<Box<dyn Future<Output = ()> + Send>>,
    kill: Pin<Box<dyn Future<Output = ()> + Send>>,
    ticks: tokio::time::Interval,
    watchdog: Watchdog,
    closing: bool,
    state: Arc<ConnState>,
}

/// Closes connections that send a request head too slowly (slowloris) or
/// idle too long, from a coarse tick rather than a timer re-armed for
/// every request: hyper's own header timer would cost more per request
/// than the rest of the server's work. A limit is enforced within a tick
/// (a quarter of the shorter timeout) of its expiry.
struct Watchdog {
    header_timeout: Duration,
    idle_timeout: Duration,
    requests_seen: u64,
    bytes_seen: u64,
    /// Since when the connection has had no request in flight and no
    /// new bytes (idle), or bytes of an unfinished head (slow head).
    quiet_since: Instant,
    head_since: Option<Instant>,
}

enum Verdict {
    Fine,
    SlowHead,
    Idle,
}

impl Watchdog {
    fn new(header_timeout: Duration, idle_timeout: Duration) -> Self {
        let now = Instant::now();
        // A new connection owes a request head at once (SRV-3).
        Self { header_timeout, idle_timeout, requests_seen: 0, bytes_seen: 0, quiet_since: now, head_since: Some(now) }
    }

    fn ticker(header_timeout: Duration, idle_timeout: Duration) -> tokio::time::Interval {
        let period = (header_timeout.min(idle_timeout) / 4).max(Duration::from_millis(10));
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks
    }

    fn check(&mut self, state: &ConnState, now: Instant) -> Verdict {
        let requests = state.requests.load(Ordering::Relaxed);
        let bytes = state.bytes_read.load(Ordering::Relaxed);
        let busy = state.in_flight.load(Ordering::Relaxed) > 0;
        if busy || requests != self.requests_seen {
            self.requests_seen = requests;
            self.bytes_seen = bytes;
            self.quiet_since = now;
            self.head_since = None;
            return Verdict::Fine;
        }
        // Nothing in flight: bytes read since the last request ended are
        // the start of a head that has not completed.
        if bytes > state.bytes_at_last_end.load(Ordering::Relaxed) || self.head_since.is_some() {
            let since = *self.head_since.get_or_insert(now);
            if now.duration_since(since) >= self.header_timeout {
                return Verdict::SlowHead;
            }
        } else if bytes == self.bytes_seen && now.duration_since(self.quiet_since) >= self.idle_timeout {
            return Verdict::Idle;
        }
        self.bytes_seen = bytes;
        Verdict::Fine
    }
}

enum Event {
    None,
    GracefulShutdown,
    SlowHead,
    Abort,
}

impl Control {
    fn poll(&mut self, cx: &mut Context<'_>) -> Event {
        if self.kill.as_mut().poll(cx).is_ready() {
            return Event::Abort;
        }
        if self.closing {
            return Event::None;
        }
        if self.stop.as_mut().poll(cx).is_ready() {
            self.closing = true;
            return Event::GracefulShutdown;
        }
        while self.ticks.poll_tick(cx).is_ready() {
            match self.watchdog.check(&self.state, Instant::now()) {
                Verdict::Fine => {}
                Verdict::Idle => {
                    tracing::debug!("closing idle keep-alive connection");
                    self.closing = true;
                    return Event::GracefulShutdown;
                }
                Verdict::SlowHead => {
                    // Nothing is in flight, so dropping loses no request.
                    return Event::SlowHead;
                }
            }
        }
        Event::None
    }
}

/// Drives the connection, polling the watchers only when one of them woke
/// the task: polling them on every wake-up (every request) would cost more
/// than the rest of the server's per-request work.
struct Driven<C> {
    conn: Pin<Box<C>>,
    graceful_shutdown: fn(Pin<&mut C>),
    control: Control,
    flag: Arc<ControlFlag>,
    control_waker: Waker,
    registered: Option<Waker>,
}

/// How a connection ended without an error.
enum Closed {
    Normally,
    SlowHead,
}

/// Set by the watchers' waker; the task's own waker is kept to pass the
/// wake-up on (and only rewritten when it changes, which is rare).
struct ControlFlag {
    woken: AtomicBool,
    task: Mutex<Option<Waker>>,
}

impl Wake for ControlFlag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        if let Some(task) = self.task.lock().unwrap_or_else(PoisonError::into_inner).as_ref() {
            task.wake_by_ref();
        }
    }
}

impl<C> Driven<C> {
    fn new(conn: C, graceful_shutdown: fn(Pin<&mut C>), control: Control) -> Self {
        let flag = Arc::new(ControlFlag { woken: AtomicBool::new(true), task: Mutex::new(None) });
        let control_waker = Waker::from(Arc::clone(&flag));
        Self { conn: Box::pin(conn), graceful_shutdown, control, flag, control_waker, registered: None }
    }
}

impl<C, E> Future for Driven<C>
where
    C: Future<Output = Result<(), E>>,
{
    /// `None` when aborted.
    type Output = Option<Result<Closed, E>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        if !this.registered.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            *this.flag.task.lock().unwrap_or_else(PoisonError::into_inner) = Some(cx.waker().clone());
            this.registered = Some(cx.waker().clone());
        }
        if this.flag.woken.swap(false, Ordering::AcqRel) {
            let mut control_cx = Context::from_waker(&this.control_waker);
            match this.control.poll(&mut control_cx) {
                Event::Abort => return Poll::Ready(None),
                Event::SlowHead => return Poll::Ready(Some(Ok(Closed::SlowHead))),
                Event::GracefulShutdown => (this.graceful_shutdown)(this.conn.as_mut()),
                Event::None => {}
            }
        }
        this.conn.as_mut().poll(cx).map(|r| Some(r.map(|()| Closed::Normally)))
    }
}

/// Logs why hyper ended a connection. Refused requests (SRV-1, SRV-2) are
/// warnings so they show with the default filter (SRV-11).
fn log_connection_error(err: &(dyn std::error::Error + 'static), info: &rgi_gateway::Connection) {
    let remote = info.remote.map_or_else(|| "unix".to_string(), |r| r.to_string());
    let Some(err) = err.downcast_ref::<hyper::Error>() else {
        tracing::debug!(%remote, error = %err, "connection ended");
        return;
    };
    if err.is_parse_too_large() {
        tracing::warn!(%remote, "request refused (431): header section too large or too many fields");
    } else if err.is_parse() {
        tracing::warn!(%remote, error = %err, "request refused (400): malformed request");
    } else if err.is_timeout() {
        tracing::info!(%remote, "connection closed: request head not received in time");
    } else {
        tracing::debug!(%remote, error = %err, "connection ended");
    }
}
