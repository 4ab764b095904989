//! The front's side: a group of daemons behind one
//! [`Application`](rgi_core::Application).

use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use http::StatusCode;
use rgi_core::{async_trait, Application, Error, Request, Response};
use rgi_gateway::respond::plain;
use tokio::sync::{mpsc, Notify};

mod conn;
mod exchange;
mod tunnel;

pub use conn::BackendAddr;
use conn::Conn;

/// How a pool forwards.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PoolConfig {
    /// Time to connect to a daemon; past it the request gets `503`. Default 5 s.
    pub connect_timeout: Duration,
    /// Time a request may wait for a free daemon; past it `503`. Default 30 s.
    pub queue_timeout: Duration,
    /// Time a daemon has to send a response head; past it the request gets
    /// `504` and the daemon is replaced (DMN-7). `None`: no limit.
    /// Default 60 s.
    pub request_timeout: Option<Duration>,
    /// Most upgraded connections (WebSockets) open at once through the
    /// group; more are answered `503` (UPG-8). Default 4096.
    pub max_upgraded: usize,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            queue_timeout: Duration::from_secs(30),
            request_timeout: Some(Duration::from_secs(60)),
            max_upgraded: 4096,
        }
    }
}

/// What a backend is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum BackendState {
    /// Started, not yet answering.
    Starting = 0,
    /// Taking requests.
    Ready = 1,
    /// Finishing its requests; takes no new ones.
    Draining = 2,
    /// Gone.
    Gone = 3,
}

impl BackendState {
    fn from_u8(v: u8) -> Self {
        match v {
            0 => Self::Starting,
            1 => Self::Ready,
            2 => Self::Draining,
            _ => Self::Gone,
        }
    }

    /// Its name in status reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::Ready => "ready",
            Self::Draining => "draining",
            Self::Gone => "gone",
        }
    }
}

/// One daemon process (or one FastCGI address) of a group.
pub struct Backend {
    /// The process id, when rgi started it.
    pub pid: Option<u32>,
    /// Where it listens.
    pub addr: BackendAddr,
    concurrency: usize,
    in_flight: AtomicUsize,
    /// Upgraded connections open through it.
    tunnels: AtomicUsize,
    served: AtomicU64,
    /// Requests after which the supervisor wants to recycle it.
    limit: AtomicU64,
    state: AtomicU8,
    idle: Mutex<Vec<Conn>>,
    started: Instant,
}

impl Backend {
    /// A backend taking up to `concurrency` requests at once.
    pub fn new(pid: Option<u32>, addr: BackendAddr, concurrency: usize) -> Self {
        Self {
            pid,
            addr,
            concurrency: concurrency.max(1),
            in_flight: AtomicUsize::new(0),
            tunnels: AtomicUsize::new(0),
            served: AtomicU64::new(0),
            limit: AtomicU64::new(u64::MAX),
            state: AtomicU8::new(BackendState::Starting as u8),
            idle: Mutex::new(Vec::new()),
            started: Instant::now(),
        }
    }

    /// Its state.
    pub fn state(&self) -> BackendState {
        BackendState::from_u8(self.state.load(Ordering::Acquire))
    }

    /// Changes its state; leaving `Ready` drops its idle connections.
    pub fn set_state(&self, state: BackendState) {
        self.state.store(state as u8, Ordering::Release);
        if state != BackendState::Ready {
            self.idle.lock().unwrap_or_else(PoisonError::into_inner).clear();
        }
    }

    /// Requests in flight now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Upgraded connections (WebSockets) open through it now.
    pub fn tunnels(&self) -> usize {
        self.tunnels.load(Ordering::Acquire)
    }

    /// Requests it has answered.
    pub fn served(&self) -> u64 {
        self.served.load(Ordering::Relaxed)
    }

    /// Asks to hear (as [`PoolEvent::Recycle`]) when it has answered this
    /// many requests.
    pub fn set_request_limit(&self, limit: u64) {
        self.limit.store(limit, Ordering::Relaxed);
    }

    /// Counts an answered request; true when that reaches the limit.
    pub(crate) fn count_served(&self) -> bool {
        self.served.fetch_add(1, Ordering::Relaxed) + 1 == self.limit.load(Ordering::Relaxed)
    }

    /// How long ago it started.
    pub fn age(&self) -> Duration {
        self.started.elapsed()
    }

    /// The process's resident memory in bytes, when it has a pid and
    /// `/proc` can tell.
    pub fn rss_bytes(&self) -> Option<u64> {
        self.pid.and_then(crate::sys::rss_bytes)
    }

    fn take_idle(&self) -> Option<Conn> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner).pop()
    }

    fn put_idle(&self, conn: Conn) {
        if self.state() == BackendState::Ready {
            let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
            if idle.len() < self.concurrency {
                idle.push(conn);
            }
        }
    }
}

impl fmt::Debug for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Backend")
            .field("pid", &self.pid)
            .field("addr", &self.addr)
            .field("state", &self.state())
            .field("in_flight", &self.in_flight())
            .finish()
    }
}

/// What a pool tells whoever supervises its processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolEvent {
    /// A request to this process passed its deadline: replace the process.
    Stuck {
        /// The process.
        pid: u32,
    },
    /// The process answered as many requests as it may: recycle it.
    Recycle {
        /// The process.
        pid: u32,
    },
}

/// Whether a group can take requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupHealth {
    /// Serving (or about to).
    Up,
    /// Its application failed to load: requests get `503`; the reason
    /// goes to the log and [`Refusal`], not to clients.
    Failed(String),
    /// No daemon serves and the latest ones failed to start (the
    /// supervisor still retries): requests get `503` at once instead of
    /// waiting for a start that keeps failing.
    Failing(String),
}

/// Counters a status page shows.
#[derive(Debug, Default)]
pub struct GroupStats {
    /// Requests forwarded.
    pub requests: AtomicU64,
    /// Requests waiting for a free daemon now.
    pub queued: AtomicUsize,
    /// Times a request found every daemon busy and had to wait (php-fpm's
    /// "max children reached").
    pub max_reached: AtomicU64,
    /// Processes restarted (crashes, recycling, reloads).
    pub restarts: AtomicU64,
    /// Requests answered 502, 503 or 504 by the pool.
    pub failed: AtomicU64,
    /// Upgraded connections (WebSockets) open now.
    pub upgraded: AtomicUsize,
    /// Connections upgraded so far.
    pub upgrades: AtomicU64,
    /// Time requests spent waiting for a free daemon, in microseconds.
    queued_micros: AtomicU64,
    /// Processes replaced or restarted, by reason.
    restart_reasons: Mutex<std::collections::BTreeMap<String, u64>>,
}

impl GroupStats {
    /// Time requests have spent waiting for a free daemon, in seconds.
    pub fn queued_seconds(&self) -> f64 {
        self.queued_micros.load(Ordering::Relaxed) as f64 / 1e6
    }

    /// Processes replaced or restarted so far, by reason ("maximum RSS
    /// reached", "crashed", ...).
    pub fn restarts_by_reason(&self) -> std::collections::BTreeMap<String, u64> {
        self.restart_reasons.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Counts a restart for `reason`.
    pub fn count_restart(&self, reason: &str) {
        self.restarts.fetch_add(1, Ordering::Relaxed);
        *self.restart_reasons.lock().unwrap_or_else(PoisonError::into_inner).entry(reason.to_string()).or_default() +=
            1;
    }
}

/// Marks a response the pool made itself because no daemon could answer
/// (502, 503, 504), with the reason; a development server turns it into
/// a page about the application's crash.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Refusal {
    /// What went wrong.
    pub message: String,
}

/// How a daemon ended when it was not asked to: what a status or error
/// page shows about the last crash.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExitReport {
    /// The process.
    pub pid: u32,
    /// How it ended, e.g. `exited with status 3` (DMN-9).
    pub how: String,
    /// Its last lines of standard error.
    pub stderr_tail: Vec<String>,
}

/// The state a pool and its supervisor share.
pub struct Group {
    /// The group's name.
    pub name: String,
    config: PoolConfig,
    backends: RwLock<Vec<Arc<Backend>>>,
    slot_freed: Notify,
    health: Mutex<GroupHealth>,
    last_exit: Mutex<Option<ExitReport>>,
    /// Counters for status pages.
    pub stats: GroupStats,
    events: Option<mpsc::UnboundedSender<PoolEvent>>,
}

impl fmt::Debug for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Group").field("name", &self.name).field("backends", &self.backends()).finish()
    }
}

impl Group {
    /// A group with no backends yet; `events` reaches its supervisor.
    pub fn new(name: &str, config: PoolConfig, events: Option<mpsc::UnboundedSender<PoolEvent>>) -> Arc<Self> {
        Arc::new(Self {
            name: name.to_string(),
            config,
            backends: RwLock::new(Vec::new()),
            slot_freed: Notify::new(),
            health: Mutex::new(GroupHealth::Up),
            last_exit: Mutex::new(None),
            stats: GroupStats::default(),
            events,
        })
    }

    /// Most upgraded connections open at once (`max-upgraded`).
    pub fn max_upgraded(&self) -> usize {
        self.config.max_upgraded
    }

    /// The last daemon that ended unasked, if any.
    pub fn last_exit(&self) -> Option<ExitReport> {
        self.last_exit.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    pub(crate) fn set_last_exit(&self, report: ExitReport) {
        *self.last_exit.lock().unwrap_or_else(PoisonError::into_inner) = Some(report);
    }

    /// A copy of the backend list.
    pub fn backends(&self) -> Vec<Arc<Backend>> {
        self.backends.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Adds a backend.
    pub fn add(&self, backend: Arc<Backend>) {
        self.backends.write().unwrap_or_else(PoisonError::into_inner).push(backend);
        self.slot_freed.notify_waiters();
    }

    /// Removes a backend (by identity).
    pub fn remove(&self, backend: &Arc<Backend>) {
        backend.set_state(BackendState::Gone);
        self.backends.write().unwrap_or_else(PoisonError::into_inner).retain(|b| !Arc::ptr_eq(b, backend));
    }

    /// Wakes requests waiting for a backend (one became ready).
    pub fn wake(&self) {
        self.slot_freed.notify_waiters();
    }

    /// Whether the group can serve.
    pub fn health(&self) -> GroupHealth {
        self.health.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Marks the group as failed (or up again); waiting requests are told.
    pub fn set_health(&self, health: GroupHealth) {
        *self.health.lock().unwrap_or_else(PoisonError::into_inner) = health;
        self.slot_freed.notify_waiters();
    }

    /// The least busy ready backend with room (other than `except`), its
    /// slot taken.
    fn pick(&self, except: Option<&Arc<Backend>>, purpose: Purpose) -> Option<Slot> {
        let backends = self.backends.read().unwrap_or_else(PoisonError::into_inner);
        let load = |b: &Backend| match purpose {
            Purpose::Request => b.in_flight(),
            // A tunnel lives long: spread them by how many each holds.
            Purpose::Tunnel => b.tunnels(),
        };
        let mut best: Option<&Arc<Backend>> = None;
        for b in backends.iter() {
            if except.is_some_and(|e| Arc::ptr_eq(e, b)) {
                continue;
            }
            let free = b.state() == BackendState::Ready && b.in_flight() < b.concurrency;
            if free && best.is_none_or(|x| load(b) < load(x)) {
                best = Some(b);
            }
        }
        let b = best?;
        if b.in_flight.fetch_add(1, Ordering::AcqRel) >= b.concurrency {
            b.in_flight.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Slot { backend: Arc::clone(b), group: None })
    }

    /// Whether a backend other than `failed` is serving or about to: a
    /// sibling a failed request may go to.
    pub(crate) fn has_sibling(&self, failed: &Arc<Backend>) -> bool {
        let backends = self.backends.read().unwrap_or_else(PoisonError::into_inner);
        backends
            .iter()
            .any(|b| !Arc::ptr_eq(b, failed) && matches!(b.state(), BackendState::Ready | BackendState::Starting))
    }

    /// Waits for a slot, at most the queue timeout.
    async fn acquire(self: &Arc<Self>) -> Result<Slot, Response> {
        self.acquire_except(None, Purpose::Request).await
    }

    /// Waits for a slot on a backend other than `except` (one that just
    /// failed), at most the queue timeout.
    pub(crate) async fn acquire_except(
        self: &Arc<Self>,
        except: Option<&Arc<Backend>>,
        purpose: Purpose,
    ) -> Result<Slot, Response> {
        let began = tokio::time::Instant::now();
        let deadline = began + self.config.queue_timeout;
        let mut waited = false;
        // Whatever way this ends, the time it waited is counted.
        let _queued = QueueTimer { began, waited: &self.stats.queued_micros };
        loop {
            let notified = self.slot_freed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(mut slot) = self.pick(except, purpose) {
                slot.group = Some(Arc::clone(self));
                return Ok(slot);
            }
            match self.health() {
                GroupHealth::Up => {}
                GroupHealth::Failed(reason) => {
                    return Err(self.refuse(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "its application failed to load",
                        &format!("application failed to load: {reason}"),
                    ))
                }
                GroupHealth::Failing(reason) => {
                    return Err(self.refuse(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "its daemons cannot start",
                        &format!("daemons cannot start: {reason}"),
                    ))
                }
            }
            if !waited {
                waited = true;
                self.stats.max_reached.fetch_add(1, Ordering::Relaxed);
            }
            self.stats.queued.fetch_add(1, Ordering::Relaxed);
            let woke = tokio::time::timeout_at(deadline, notified).await;
            self.stats.queued.fetch_sub(1, Ordering::Relaxed);
            if woke.is_err() {
                let secs = self.config.queue_timeout.as_secs_f64();
                let message = format!("no daemon free within {secs} s");
                return Err(self.refuse(StatusCode::SERVICE_UNAVAILABLE, &message, &message));
            }
        }
    }

    /// The front's own answer for a request this group could not serve,
    /// naming the group and the cause (DMN-4, DMN-6), marked [`Refusal`].
    /// The client reads only `public`; `detail` (which may name sockets,
    /// programs and files) goes to the log and the [`Refusal`].
    pub(crate) fn refuse(&self, status: StatusCode, public: &str, detail: &str) -> Response {
        self.stats.failed.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(group = %self.name, status = status.as_u16(), "{detail}");
        let mut response = plain(status, &format!("group {}: {public}", self.name));
        response.extensions_mut().insert(Refusal { message: detail.to_string() });
        response
    }

    pub(crate) fn report(&self, event: PoolEvent) {
        if let Some(events) = &self.events {
            let _ = events.send(event);
        }
    }
}

/// What a backend is picked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// A request: the least busy backend.
    Request,
    /// An upgrade: the backend with the fewest open tunnels.
    Tunnel,
}

/// Adds the time since `began` to a counter when dropped.
struct QueueTimer<'a> {
    began: tokio::time::Instant,
    waited: &'a AtomicU64,
}

impl Drop for QueueTimer<'_> {
    fn drop(&mut self) {
        let micros = u64::try_from(self.began.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.waited.fetch_add(micros, Ordering::Relaxed);
    }
}

/// A request's claim on one backend; released on drop.
pub(crate) struct Slot {
    backend: Arc<Backend>,
    group: Option<Arc<Group>>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.backend.in_flight.fetch_sub(1, Ordering::AcqRel);
        if let Some(group) = &self.group {
            group.slot_freed.notify_one();
        }
    }
}

/// A daemon group as an application: each request goes to a daemon over
/// FastCGI (DMN-3).
#[derive(Clone, Debug)]
pub struct Pool {
    group: Arc<Group>,
}

impl Pool {
    /// The pool of `group`.
    pub fn new(group: Arc<Group>) -> Self {
        Self { group }
    }

    /// A pool over fixed FastCGI addresses, with no supervisor (daemons
    /// started by something else).
    pub fn fixed(name: &str, addrs: Vec<BackendAddr>, concurrency: usize, config: PoolConfig) -> Self {
        let group = Group::new(name, config, None);
        for addr in addrs {
            let backend = Arc::new(Backend::new(None, addr, concurrency));
            backend.set_state(BackendState::Ready);
            group.add(backend);
        }
        Self { group }
    }

    /// The shared group state.
    pub fn group(&self) -> &Arc<Group> {
        &self.group
    }
}

#[async_trait]
impl Application for Pool {
    async fn call(&self, request: Request) -> Result<Response, Error> {
        let group = &self.group;
        group.stats.requests.fetch_add(1, Ordering::Relaxed);
        // FastCGI carries no upgraded connection: an upgrade request goes
        // to a daemon over HTTP on the same socket (UPG-7).
        if request.headers().contains_key(http::header::UPGRADE) {
            return Ok(tunnel::forward(group, request).await);
        }
        let slot = match group.acquire().await {
            Ok(slot) => slot,
            Err(refusal) => return Ok(refusal),
        };
        Ok(exchange::forward(group, slot, request).await)
    }
}
