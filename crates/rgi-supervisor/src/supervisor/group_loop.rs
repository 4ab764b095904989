//! One group's loop: reaps exits, enforces deadlines, spawns up to the
//! target and rolls reloads out.

use std::collections::{HashMap, VecDeque};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use rand::Rng;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::pool::{Backend, BackendAddr, BackendState, ExitReport, Group, GroupHealth, PoolEvent};
use crate::sys;

use super::handle::{Command, Rollout};
use super::process::{self, describe_exit, Ids, EXIT_LOAD_FAILED};
use super::{GroupConfig, SocketDir};

/// Events the loop hears about its processes.
#[derive(Debug)]
enum Event {
    Exited {
        pid: u32,
        status: std::process::ExitStatus,
    },
    Ready {
        pid: u32,
    },
    /// `stuck`: it did not answer in time (rather than closing the
    /// connection, which a process that is exiting does).
    NotReady {
        pid: u32,
        reason: String,
        stuck: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Starting,
    Ready,
    /// Takes no requests; stopped once idle (or killed past `deadline`).
    Draining {
        kill: bool,
    },
    /// Sent SIGTERM (or SIGKILL); waiting for it to exit.
    Stopping,
}

struct Proc {
    /// Signals go through this, never through a bare pid that the exit
    /// task may already have reaped (and the kernel handed on).
    handle: sys::ProcessHandle,
    backend: Arc<Backend>,
    socket: PathBuf,
    slot: usize,
    generation: u64,
    phase: Phase,
    started: Instant,
    deadline: Option<Instant>,
    request_limit: Option<u64>,
    /// Replaced by a newer process of its slot once that one is ready.
    replaced: bool,
    /// Never became ready: its exit counts as a failed start.
    failed_start: bool,
    /// Why the supervisor sent it SIGKILL, so its exit is reported as
    /// that rather than as a kill from outside (e.g. the OOM killer).
    killed_because: Option<String>,
    stderr_tail: Arc<Mutex<VecDeque<String>>>,
}

#[derive(Default)]
struct Slot {
    /// Consecutive failures to start or quick crashes.
    failures: u32,
    spawn_at: Option<Instant>,
    /// The process that serves (or is starting to serve) this slot.
    current: Option<u32>,
}

pub(super) struct GroupLoop {
    rollout: watch::Sender<Rollout>,
    config: GroupConfig,
    ids: Ids,
    dir: Arc<SocketDir>,
    group: Arc<Group>,
    procs: HashMap<u32, Proc>,
    slots: Vec<Slot>,
    generation: u64,
    events: mpsc::UnboundedSender<Event>,
    reload_seen: Option<SystemTime>,
    stopping: Option<(oneshot::Sender<()>, Instant)>,
    /// The generation the loop gave up on: none of its slots respawns.
    given_up: Option<u64>,
    /// When the processes' memory was last looked at (`max_rss`).
    rss_checked: Instant,
}

/// Give up respawning after this many consecutive failures to start.
const MAX_START_FAILURES: u32 = 5;
/// A process that lived this long before dying is a crash, not a failure
/// to start: its slot's failure count starts over.
const STABLE_AFTER: Duration = Duration::from_secs(10);
/// How long a process that failed its readiness probe has to exit by
/// itself.
const EXIT_GRACE: Duration = Duration::from_secs(1);
/// How often the processes' memory is read for `max_rss`.
const RSS_EVERY: Duration = Duration::from_secs(1);
/// How long an exit waits for the rest of the process's stderr.
const STDERR_DRAIN: Duration = Duration::from_millis(500);

impl GroupLoop {
    /// Starts the loop of the group `group`, configured by `config`.
    pub(super) fn start(
        config: GroupConfig,
        ids: Ids,
        dir: Arc<SocketDir>,
        group: Arc<Group>,
        pool_events: mpsc::UnboundedReceiver<PoolEvent>,
        commands: mpsc::UnboundedReceiver<Command>,
        rollout: watch::Sender<Rollout>,
    ) -> JoinHandle<()> {
        let (events_tx, events) = mpsc::unbounded_channel();
        let state = GroupLoop {
            rollout,
            reload_seen: config.reload_file.as_deref().and_then(modified),
            config,
            ids,
            dir,
            group,
            procs: HashMap::new(),
            slots: Vec::new(),
            generation: 0,
            events: events_tx,
            stopping: None,
            given_up: None,
            rss_checked: Instant::now(),
        };
        tokio::spawn(state.run(events, pool_events, commands))
    }

    async fn run(
        mut self,
        mut events: mpsc::UnboundedReceiver<Event>,
        mut pool_events: mpsc::UnboundedReceiver<PoolEvent>,
        mut commands: mpsc::UnboundedReceiver<Command>,
    ) {
        self.slots =
            (0..self.config.processes).map(|_| Slot { spawn_at: Some(Instant::now()), ..Slot::default() }).collect();
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                Some(event) = events.recv() => self.on_event(event),
                Some(event) = pool_events.recv() => match event {
                    PoolEvent::Stuck { pid } => self.on_stuck(pid),
                    PoolEvent::Recycle { pid } => self.replace(pid, "maximum requests reached"),
                },
                Some(command) = commands.recv() => match command {
                    Command::Reload => self.reload("reload requested"),
                    Command::Shutdown(done) => self.begin_shutdown(done),
                },
                _ = tick.tick() => {}
            }
            self.enforce();
            if self.stopping.is_some() && self.procs.is_empty() {
                if let Some((done, _)) = self.stopping.take() {
                    let _ = done.send(());
                }
                tracing::info!(group = %self.config.name, "all daemons stopped");
                return;
            }
        }
    }

    fn name(&self) -> &str {
        &self.config.name
    }

    /// Starts a process for `slot`.
    fn spawn(&mut self, slot: usize) {
        let generation = self.generation;
        let nonce: u32 = rand::rng().random();
        let socket_name = format!("{}-{generation}-{slot}-{nonce:08x}.sock", self.config.name);
        let started = self.dir.bind(&socket_name).and_then(|(socket, listener)| {
            process::spawn(&self.config, self.ids, listener, slot, self.config.processes).map(|child| (socket, child))
        });
        let (socket, mut child) = match started {
            Ok(started) => started,
            Err(err) => {
                tracing::error!(group = %self.name(), slot, error = %err, "cannot start a daemon");
                self.fail_start(slot, &err.to_string());
                return;
            }
        };
        let Some(pid) = child.id() else {
            tracing::error!(group = %self.name(), slot, "daemon exited as it started");
            self.fail_start(slot, "exited as it started");
            return;
        };
        // Opened before the exit task may wait for (and so reap) the child.
        let handle = sys::ProcessHandle::open(pid);
        let stderr_tail = Arc::new(Mutex::new(VecDeque::new()));
        if let Some(out) = child.stdout.take() {
            tokio::spawn(forward_output(out, self.config.name.clone(), pid, None));
        }
        let stderr_done = child.stderr.take().map(|err| {
            tokio::spawn(forward_output(err, self.config.name.clone(), pid, Some(Arc::clone(&stderr_tail))))
        });
        let events = self.events.clone();
        tokio::spawn(async move {
            if let Ok(status) = child.wait().await {
                // The exit report quotes the last stderr lines: let the
                // reader get to the end of the pipe first (bounded, since
                // a process the daemon started may still hold it open).
                if let Some(done) = stderr_done {
                    let _ = tokio::time::timeout(STDERR_DRAIN, done).await;
                }
                let _ = events.send(Event::Exited { pid, status });
            }
        });
        let events = self.events.clone();
        let probe_socket = socket.clone();
        let startup = self.config.startup_timeout;
        tokio::spawn(async move {
            let event = match tokio::time::timeout(startup, probe(&probe_socket)).await {
                Ok(Ok(())) => Event::Ready { pid },
                Ok(Err(reason)) => Event::NotReady { pid, reason, stuck: false },
                Err(_) => Event::NotReady {
                    pid,
                    reason: format!("not ready within {} s", startup.as_secs_f64()),
                    stuck: true,
                },
            };
            let _ = events.send(event);
        });
        let backend = Arc::new(Backend::new(Some(pid), BackendAddr::Unix(socket.clone()), self.config.concurrency));
        let request_limit = (self.config.max_requests > 0)
            .then(|| self.config.max_requests + rand::rng().random_range(0..=self.config.max_requests_jitter));
        if let Some(limit) = request_limit {
            // The pool says so the moment it is reached; the tick below is
            // the fallback.
            backend.set_request_limit(limit);
        }
        self.group.add(Arc::clone(&backend));
        tracing::info!(group = %self.name(), pid, slot, generation, "daemon started");
        self.procs.insert(
            pid,
            Proc {
                handle,
                backend,
                socket,
                slot,
                generation,
                phase: Phase::Starting,
                started: Instant::now(),
                deadline: None,
                request_limit,
                replaced: false,
                failed_start: false,
                killed_because: None,
                stderr_tail,
            },
        );
        self.slots[slot].current = Some(pid);
        self.slots[slot].spawn_at = None;
    }

    /// A slot's process could not start: retry later, or give up.
    fn fail_start(&mut self, slot: usize, reason: &str) {
        let generation = self.generation;
        self.rollout.send_replace(Rollout::Failed { generation, reason: reason.to_string() });
        if !self.procs.values().any(|p| p.phase == Phase::Ready) {
            // Nothing serves: waiting requests learn it now, not after
            // every retry has failed.
            self.group.set_health(GroupHealth::Failing(reason.to_string()));
        }
        let s = &mut self.slots[slot];
        s.failures += 1;
        s.current = None;
        if self.given_up == Some(generation) {
            s.spawn_at = None;
        } else if s.failures >= MAX_START_FAILURES {
            s.spawn_at = None;
            let failures = s.failures;
            self.give_up(&format!("{failures} failed starts in a row; last: {reason}"));
        } else {
            let delay = Duration::from_millis(100) * 2u32.saturating_pow(s.failures.min(7));
            s.spawn_at = Some(Instant::now() + delay.min(Duration::from_secs(10)));
        }
    }

    /// Stops respawning the group; its requests get 503 with the reason,
    /// unless older processes still serve (a failed reload).
    fn give_up(&mut self, reason: &str) {
        let generation = self.generation;
        self.given_up = Some(generation);
        self.rollout.send_replace(Rollout::Failed { generation, reason: reason.to_string() });
        for slot in &mut self.slots {
            slot.spawn_at = None;
        }
        let serving = self.procs.values().any(|p| p.phase == Phase::Ready);
        if serving {
            tracing::error!(group = %self.name(), %reason, "new daemons fail to start; the running ones keep serving");
        } else {
            tracing::error!(group = %self.name(), %reason, "group stopped: its application cannot start");
            self.group.set_health(GroupHealth::Failed(reason.to_string()));
        }
    }

    fn on_event(&mut self, event: Event) {
        match event {
            Event::Ready { pid } => self.on_ready(pid),
            Event::NotReady { pid, reason, stuck } => {
                if let Some(p) = self.procs.get_mut(&pid) {
                    if p.phase == Phase::Starting {
                        tracing::error!(group = %self.config.name, pid, %reason, "daemon did not become ready; stopping it");
                        p.failed_start = true;
                        p.phase = Phase::Stopping;
                        if stuck {
                            let _ = p.handle.signal(libc::SIGKILL);
                            p.killed_because = Some(reason);
                            p.deadline = Some(Instant::now() + Duration::from_secs(2));
                        } else {
                            // It closed the connection: most likely it is
                            // exiting, and its exit status (78: the
                            // application failed to load) must not be
                            // masked by our SIGKILL. The tick kills it if
                            // it lingers.
                            p.deadline = Some(Instant::now() + EXIT_GRACE);
                        }
                    }
                }
            }
            Event::Exited { pid, status } => self.on_exit(pid, status),
        }
    }

    fn on_ready(&mut self, pid: u32) {
        let Some(p) = self.procs.get_mut(&pid) else { return };
        if p.phase != Phase::Starting {
            return;
        }
        p.phase = Phase::Ready;
        p.backend.set_state(BackendState::Ready);
        let (slot, generation) = (p.slot, p.generation);
        tracing::info!(group = %self.config.name, pid, slot, "daemon ready");
        self.slots[slot].failures = 0;
        self.group.set_health(GroupHealth::Up);
        self.group.wake();
        // Whoever this one replaces now drains (DMN-8).
        let old: Vec<u32> = self
            .procs
            .iter()
            .filter(|(&other, p)| {
                other != pid && p.slot == slot && p.generation <= generation && p.phase == Phase::Ready
            })
            .map(|(&other, _)| other)
            .collect();
        for other in old {
            self.retire(other, false, "replaced");
        }
        let current = self.generation;
        let all_ready = self.slots.iter().all(|slot| {
            slot.current
                .and_then(|pid| self.procs.get(&pid))
                .is_some_and(|p| p.generation == current && p.phase == Phase::Ready)
        });
        if all_ready {
            self.rollout.send_replace(Rollout::Ready { generation: current });
        }
    }

    /// Takes a process out of service; it stops once idle, or is killed
    /// past the graceful timeout. `kill` stops it with SIGKILL (a stuck one).
    fn retire(&mut self, pid: u32, kill: bool, why: &str) {
        let graceful = self.config.graceful_timeout;
        let Some(p) = self.procs.get_mut(&pid) else { return };
        if matches!(p.phase, Phase::Draining { .. } | Phase::Stopping) {
            return;
        }
        tracing::info!(group = %self.config.name, pid, why, "retiring daemon");
        p.phase = Phase::Draining { kill };
        p.deadline = Some(Instant::now() + graceful);
        p.backend.set_state(BackendState::Draining);
    }

    /// Starts a replacement for `pid`'s slot now (recycling, stuck, reload).
    fn replace(&mut self, pid: u32, why: &str) {
        let Some(p) = self.procs.get_mut(&pid) else { return };
        if p.replaced || !matches!(p.phase, Phase::Ready | Phase::Starting) {
            return;
        }
        p.replaced = true;
        let slot = p.slot;
        tracing::info!(group = %self.config.name, pid, slot, why, "starting a replacement");
        self.group.stats.count_restart(why);
        self.spawn(slot);
    }

    fn on_stuck(&mut self, pid: u32) {
        let Some(p) = self.procs.get(&pid) else { return };
        if p.phase != Phase::Ready {
            return;
        }
        tracing::warn!(group = %self.config.name, pid, "a request passed its deadline; replacing the daemon (DMN-7)");
        self.replace(pid, "request deadline passed");
        // Killed as soon as its other requests are done.
        let graceful = self.config.graceful_timeout;
        if let Some(p) = self.procs.get_mut(&pid) {
            p.phase = Phase::Draining { kill: true };
            p.deadline = Some(Instant::now() + graceful);
            p.backend.set_state(BackendState::Draining);
        }
    }

    fn on_exit(&mut self, pid: u32, status: std::process::ExitStatus) {
        let Some(p) = self.procs.remove(&pid) else { return };
        self.group.remove(&p.backend);
        let _ = std::fs::remove_file(&p.socket);
        let how = match &p.killed_because {
            Some(why) if status.signal() == Some(libc::SIGKILL) => format!("{why} (killed)"),
            _ => describe_exit(status),
        };
        let expected = matches!(p.phase, Phase::Stopping | Phase::Draining { .. }) && !p.failed_start;
        let lived = p.started.elapsed();
        if expected {
            tracing::info!(group = %self.config.name, pid, "daemon {how}");
        } else {
            let tail: Vec<String> =
                p.stderr_tail.lock().unwrap_or_else(PoisonError::into_inner).iter().cloned().collect();
            tracing::error!(
                group = %self.config.name, pid, lived_secs = lived.as_secs_f64(), last_stderr = ?tail,
                "daemon {how}"
            );
            self.group.set_last_exit(ExitReport { pid, how: how.clone(), stderr_tail: tail });
        }
        let slot = p.slot;
        if self.slots[slot].current != Some(pid) || self.stopping.is_some() {
            return;
        }
        self.slots[slot].current = None;
        if expected && !p.replaced {
            self.slots[slot].spawn_at = Some(Instant::now());
            return;
        }
        if expected {
            return;
        }
        self.group.stats.count_restart(if p.failed_start { "failed to start" } else { "crashed" });
        if status.code() == Some(EXIT_LOAD_FAILED) {
            let tail = p.stderr_tail.lock().unwrap_or_else(PoisonError::into_inner).back().cloned().unwrap_or_default();
            // A load failure will not cure itself: no crash loop (DMN-6).
            self.give_up(&format!("pid {pid} {how}: {tail}"));
            return;
        }
        if lived >= STABLE_AFTER || p.phase == Phase::Ready {
            self.slots[slot].failures = 0;
            self.slots[slot].spawn_at = Some(Instant::now());
        } else {
            self.fail_start(slot, &how);
        }
    }

    fn reload(&mut self, why: &str) {
        if self.stopping.is_some() {
            return;
        }
        self.generation += 1;
        self.rollout.send_replace(Rollout::Starting { generation: self.generation });
        tracing::info!(group = %self.config.name, generation = self.generation, why, "reloading: new daemons first, then the old ones drain");
        self.group.set_health(GroupHealth::Up);
        let current: Vec<u32> =
            self.procs.iter().filter(|(_, p)| p.phase == Phase::Ready).map(|(&pid, _)| pid).collect();
        for slot in 0..self.slots.len() {
            self.slots[slot].failures = 0;
            match self.slots[slot].current {
                Some(pid) if current.contains(&pid) => self.replace(pid, why),
                _ => self.slots[slot].spawn_at = Some(Instant::now()),
            }
        }
    }

    fn begin_shutdown(&mut self, done: oneshot::Sender<()>) {
        let deadline = Instant::now() + self.config.graceful_timeout;
        tracing::info!(group = %self.config.name, "stopping daemons");
        for slot in &mut self.slots {
            slot.spawn_at = None;
        }
        for p in self.procs.values_mut() {
            p.backend.set_state(BackendState::Draining);
            if p.phase != Phase::Stopping {
                p.phase = Phase::Stopping;
                let _ = p.handle.signal(libc::SIGTERM);
            }
            p.deadline = Some(deadline);
        }
        self.stopping = Some((done, deadline));
    }

    /// The loop's rounds: deadlines, recycling, the reload file, spawning.
    fn enforce(&mut self) {
        let now = Instant::now();
        let mut recycle = Vec::new();
        for (&pid, p) in &mut self.procs {
            match p.phase {
                Phase::Draining { kill } => {
                    let idle = p.backend.in_flight() == 0;
                    let late = p.deadline.is_some_and(|d| now >= d);
                    if idle || late {
                        let signal = if kill || late { libc::SIGKILL } else { libc::SIGTERM };
                        let _ = p.handle.signal(signal);
                        if signal == libc::SIGKILL {
                            p.killed_because = Some(if late {
                                "still busy when its graceful timeout ended".to_string()
                            } else {
                                "a request passed its deadline".to_string()
                            });
                        }
                        p.phase = Phase::Stopping;
                        p.deadline = Some(now + self.config.graceful_timeout);
                    }
                }
                Phase::Stopping if p.deadline.is_some_and(|d| now >= d) => {
                    tracing::warn!(group = %self.config.name, pid, "daemon did not stop in time; SIGKILL");
                    let _ = p.handle.signal(libc::SIGKILL);
                    p.killed_because = Some("did not stop in time".to_string());
                    p.deadline = Some(now + Duration::from_secs(5));
                }
                Phase::Ready if !p.replaced => {
                    if p.request_limit.is_some_and(|limit| p.backend.served() >= limit) {
                        recycle.push((pid, "maximum requests reached"));
                    } else if self.config.restart_interval.is_some_and(|i| p.started.elapsed() >= i) {
                        recycle.push((pid, "restart interval passed"));
                    }
                }
                _ => {}
            }
        }
        if let Some(max) = self.config.max_rss.filter(|_| now.duration_since(self.rss_checked) >= RSS_EVERY) {
            self.rss_checked = now;
            for (&pid, p) in &self.procs {
                if p.phase != Phase::Ready || p.replaced {
                    continue;
                }
                if let Some(rss) = sys::rss_bytes(pid).filter(|&rss| rss > max) {
                    tracing::info!(group = %self.config.name, pid, rss, max_rss = max, "memory over max-rss");
                    recycle.push((pid, "maximum RSS reached"));
                }
            }
        }
        for (pid, why) in recycle {
            self.replace(pid, why);
        }
        if self.stopping.is_some() {
            return;
        }
        if let Some(file) = &self.config.reload_file {
            let seen = modified(file);
            if seen.is_some() && seen != self.reload_seen {
                self.reload_seen = seen;
                self.reload("reload file touched");
            }
        }
        for slot in 0..self.slots.len() {
            if self.slots[slot].current.is_none() && self.slots[slot].spawn_at.is_some_and(|at| now >= at) {
                self.spawn(slot);
            }
        }
    }
}

fn modified(path: &std::path::Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Readiness: a daemon answers GET_VALUES only once its application
/// started (DMN-5).
async fn probe(socket: &std::path::Path) -> Result<(), String> {
    use bytes::BytesMut;
    use rgi_fastcgi::{encode_get_values, Decoder, Record};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let mut conn = tokio::net::UnixStream::connect(socket).await.map_err(|e| format!("cannot connect: {e}"))?;
    let mut out = BytesMut::new();
    encode_get_values(&mut out, &["FCGI_MPXS_CONNS"]);
    conn.write_all(&out).await.map_err(|e| format!("cannot ask: {e}"))?;
    let mut buf = BytesMut::new();
    loop {
        if let Some(record) = Decoder::new().decode(&mut buf).map_err(|e| e.to_string())? {
            return match record {
                Record::GetValuesResult { .. } => Ok(()),
                other => Err(format!("answered {other:?} to GET_VALUES")),
            };
        }
        if conn.read_buf(&mut buf).await.map_err(|e| e.to_string())? == 0 {
            return Err("closed the connection before answering (it exited)".into());
        }
    }
}

/// Passes a daemon's output to the log, line by line, keeping the last
/// lines of stderr for the message when it dies.
async fn forward_output<R: tokio::io::AsyncRead + Unpin>(
    out: R,
    group: String,
    pid: u32,
    tail: Option<Arc<Mutex<VecDeque<String>>>>,
) {
    let mut lines = BufReader::new(out).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        match &tail {
            Some(tail) => {
                // The daemon's own log lines already carry their level.
                eprintln_line(&group, pid, &line);
                let mut t = tail.lock().unwrap_or_else(PoisonError::into_inner);
                if t.len() == 20 {
                    t.pop_front();
                }
                t.push_back(line);
            }
            None => tracing::info!(%group, pid, "daemon stdout: {line}"),
        }
    }
}

#[allow(clippy::print_stderr, reason = "a daemon's stderr goes to the server's stderr, prefixed with its origin")]
fn eprintln_line(group: &str, pid: u32, line: &str) {
    eprintln!("[{group} {pid}] {line}");
}
