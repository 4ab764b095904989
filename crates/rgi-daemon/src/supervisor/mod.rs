//! The supervisor: starts each group's daemons, watches them, and keeps
//! the group at strength — respawning crashes with backoff, recycling
//! after `max-requests` or `restart-interval`, replacing stuck processes,
//! and reloading gracefully (new processes first, old ones drain).
//!
//! As in gunicorn's arbiter and nginx's master, nothing happens in a
//! signal handler: signals and events are messages to one loop per group,
//! which reaps exits, enforces deadlines and spawns up to the target.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use rand::Rng;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::pool::{Backend, BackendAddr, BackendState, ExitReport, Group, GroupHealth, Pool, PoolConfig, PoolEvent};
use crate::sys;

mod process;
mod socket_dir;

pub use process::{describe_exit, EXIT_LOAD_FAILED};
pub use socket_dir::SocketDir;

use process::Ids;

/// Why the supervisor could not do something.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SupervisorError {
    /// A group's configuration cannot work.
    #[error("group {group}: {reason}")]
    Config {
        /// The group.
        group: String,
        /// Why.
        reason: String,
    },
    /// The socket directory is unsafe or unusable (DMN-10).
    #[error("socket directory {path}: {reason}")]
    SocketDir {
        /// The directory.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A socket could not be made.
    #[error("socket {path}: {reason}")]
    Socket {
        /// The socket.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A daemon could not be started.
    #[error("group {group}: cannot start {program}: {source}")]
    Spawn {
        /// The group.
        group: String,
        /// The program.
        program: String,
        /// Why.
        source: std::io::Error,
    },
    /// A daemon did not end up with the ids it was meant to have (DMN-11).
    #[error("group {group}: daemon pid {pid} did not drop its privileges: {reason}")]
    Privileges {
        /// The group.
        group: String,
        /// The daemon.
        pid: u32,
        /// What was seen.
        reason: String,
    },
}

/// One process group's configuration.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct GroupConfig {
    /// The group's name (in logs, status and socket names).
    pub name: String,
    /// The program and its arguments.
    pub command: Vec<String>,
    /// Processes to keep running.
    pub processes: usize,
    /// Requests each process handles at once (`RGI_CONCURRENCY`).
    pub concurrency: usize,
    /// Worker threads of each process's runtime (`RGI_THREADS`).
    pub threads: Option<usize>,
    /// Run as this user (needs root; verified after start).
    pub user: Option<String>,
    /// Run with this group.
    pub group: Option<String>,
    /// File creation mask of the processes.
    pub umask: Option<u32>,
    /// Working directory of the processes.
    pub working_dir: Option<PathBuf>,
    /// Extra environment.
    pub env: Vec<(String, String)>,
    /// The settings file, passed as `RGI_SETTINGS`.
    pub settings: Option<PathBuf>,
    /// The process name `ps` shows.
    pub display_name: Option<String>,
    /// Recycle a process after this many requests (0: never), plus a random
    /// jitter up to `max_requests_jitter` so processes do not all recycle at once.
    pub max_requests: u64,
    /// See `max_requests`.
    pub max_requests_jitter: u64,
    /// Recycle a process after it has run this long.
    pub restart_interval: Option<Duration>,
    /// Time a process gets to finish its requests when retired or stopped.
    pub graceful_timeout: Duration,
    /// Time a new process gets to become ready.
    pub startup_timeout: Duration,
    /// Reload the group when this file's modification time changes.
    pub reload_file: Option<PathBuf>,
    /// Run in development mode (`RGI_DEPLOYMENT=dev`).
    pub dev: bool,
    /// How the group's pool forwards.
    pub pool: PoolConfig,
}

impl GroupConfig {
    /// A group running `command` with defaults: 2 processes, 100 requests
    /// at once each, 30 s graceful and startup timeouts.
    pub fn new(name: &str, command: Vec<String>) -> Self {
        Self {
            name: name.to_string(),
            command,
            processes: 2,
            concurrency: 100,
            threads: None,
            user: None,
            group: None,
            umask: None,
            working_dir: None,
            env: Vec::new(),
            settings: None,
            display_name: None,
            max_requests: 0,
            max_requests_jitter: 0,
            restart_interval: None,
            graceful_timeout: Duration::from_secs(30),
            startup_timeout: Duration::from_secs(30),
            reload_file: None,
            dev: false,
            pool: PoolConfig::default(),
        }
    }
}

/// What can be asked of a running group.
#[derive(Debug)]
enum Command {
    Reload,
    Shutdown(oneshot::Sender<()>),
}

/// Asks a group to reload.
#[derive(Debug, Clone)]
pub struct Reloader {
    commands: mpsc::UnboundedSender<Command>,
}

impl Reloader {
    /// See [`SupervisedGroup::reload`].
    pub fn reload(&self) {
        let _ = self.commands.send(Command::Reload);
    }
}

/// Where the latest generation of a group's processes stands: the first
/// start is generation 0, each reload the next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rollout {
    /// Its processes are starting.
    Starting {
        /// The generation.
        generation: u64,
    },
    /// Every slot is served by a ready process of this generation.
    Ready {
        /// The generation.
        generation: u64,
    },
    /// A process of this generation failed to start (it may still be
    /// retried; a later `Ready` supersedes this).
    Failed {
        /// The generation.
        generation: u64,
        /// How the process ended.
        reason: String,
    },
}

impl Rollout {
    /// The generation it is about.
    pub fn generation(&self) -> u64 {
        match self {
            Rollout::Starting { generation } | Rollout::Ready { generation } | Rollout::Failed { generation, .. } => {
                *generation
            }
        }
    }
}

/// A supervised group: its pool and a handle on its loop.
#[derive(Debug)]
pub struct SupervisedGroup {
    group: Arc<Group>,
    commands: mpsc::UnboundedSender<Command>,
    rollout: watch::Receiver<Rollout>,
    task: JoinHandle<()>,
}

impl SupervisedGroup {
    /// Starts the group's processes and its supervising loop.
    pub fn start(config: GroupConfig, dir: Arc<SocketDir>) -> Result<Self, SupervisorError> {
        if config.command.is_empty() {
            return Err(SupervisorError::Config { group: config.name.clone(), reason: "empty command".into() });
        }
        if config.processes == 0 {
            return Err(SupervisorError::Config {
                group: config.name.clone(),
                reason: "processes must be at least 1".into(),
            });
        }
        let ids = Ids::resolve(&config)?;
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let (pool_tx, pool_rx) = mpsc::unbounded_channel();
        let (commands, commands_rx) = mpsc::unbounded_channel();
        let group = Group::new(&config.name, config.pool.clone(), Some(pool_tx));
        let (rollout_tx, rollout) = watch::channel(Rollout::Starting { generation: 0 });
        let state = GroupLoop {
            rollout: rollout_tx,
            reload_seen: config.reload_file.as_deref().and_then(modified),
            config,
            ids,
            dir,
            group: Arc::clone(&group),
            procs: HashMap::new(),
            slots: Vec::new(),
            generation: 0,
            events: events_tx,
            stopping: None,
        };
        let task = tokio::spawn(state.run(events_rx, pool_rx, commands_rx));
        Ok(Self { group, commands, rollout, task })
    }

    /// Where the latest generation stands, to watch (a development
    /// server waits on it after each rebuild).
    pub fn rollout(&self) -> watch::Receiver<Rollout> {
        self.rollout.clone()
    }

    /// The group's pool, to mount in a server.
    pub fn pool(&self) -> Pool {
        Pool::new(Arc::clone(&self.group))
    }

    /// The shared group state (for status pages).
    pub fn group(&self) -> &Arc<Group> {
        &self.group
    }

    /// Replaces every process gracefully: new ones start and become ready,
    /// then the old ones drain (DMN-8).
    pub fn reload(&self) {
        let _ = self.commands.send(Command::Reload);
    }

    /// A handle that can ask for a reload from elsewhere (a signal task).
    pub fn reloader(&self) -> Reloader {
        Reloader { commands: self.commands.clone() }
    }

    /// Stops every process: SIGTERM, then SIGKILL after the graceful
    /// timeout; returns when all have exited.
    pub async fn shutdown(self) {
        let (done, wait) = oneshot::channel();
        if self.commands.send(Command::Shutdown(done)).is_ok() {
            let _ = wait.await;
        }
        let _ = self.task.await;
    }
}

/// Events the loop hears about its processes.
#[derive(Debug)]
enum Event {
    Exited { pid: u32, status: std::process::ExitStatus },
    Ready { pid: u32 },
    NotReady { pid: u32, reason: String },
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

struct GroupLoop {
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
}

/// Give up respawning after this many consecutive failures to start.
const MAX_START_FAILURES: u32 = 5;
/// A process that lived this long before dying is a crash, not a failure
/// to start: its slot's failure count starts over.
const STABLE_AFTER: Duration = Duration::from_secs(10);

impl GroupLoop {
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
        let stderr_tail = Arc::new(Mutex::new(VecDeque::new()));
        if let Some(out) = child.stdout.take() {
            tokio::spawn(forward_output(out, self.config.name.clone(), pid, None));
        }
        if let Some(err) = child.stderr.take() {
            tokio::spawn(forward_output(err, self.config.name.clone(), pid, Some(Arc::clone(&stderr_tail))));
        }
        let events = self.events.clone();
        tokio::spawn(async move {
            if let Ok(status) = child.wait().await {
                let _ = events.send(Event::Exited { pid, status });
            }
        });
        let events = self.events.clone();
        let probe_socket = socket.clone();
        let startup = self.config.startup_timeout;
        tokio::spawn(async move {
            let event = match tokio::time::timeout(startup, probe(&probe_socket)).await {
                Ok(Ok(())) => Event::Ready { pid },
                Ok(Err(reason)) => Event::NotReady { pid, reason },
                Err(_) => Event::NotReady { pid, reason: format!("not ready within {} s", startup.as_secs_f64()) },
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
        let s = &mut self.slots[slot];
        s.failures += 1;
        s.current = None;
        if s.failures >= MAX_START_FAILURES {
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
            Event::NotReady { pid, reason } => {
                if let Some(p) = self.procs.get_mut(&pid) {
                    if p.phase == Phase::Starting {
                        tracing::error!(group = %self.config.name, pid, %reason, "daemon did not become ready; stopping it");
                        p.failed_start = true;
                        p.phase = Phase::Stopping;
                        p.deadline = Some(Instant::now() + Duration::from_secs(2));
                        let _ = sys::kill(pid, libc::SIGKILL);
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
        self.group.stats.restarts.fetch_add(1, Ordering::Relaxed);
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
        let how = describe_exit(status);
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
        self.group.stats.restarts.fetch_add(1, Ordering::Relaxed);
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
        for (&pid, p) in &mut self.procs {
            p.backend.set_state(BackendState::Draining);
            if p.phase != Phase::Stopping {
                p.phase = Phase::Stopping;
                let _ = sys::kill(pid, libc::SIGTERM);
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
                        let _ = sys::kill(pid, signal);
                        p.phase = Phase::Stopping;
                        p.deadline = Some(now + self.config.graceful_timeout);
                    }
                }
                Phase::Stopping if p.deadline.is_some_and(|d| now >= d) => {
                    tracing::warn!(group = %self.config.name, pid, "daemon did not stop in time; SIGKILL");
                    let _ = sys::kill(pid, libc::SIGKILL);
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
