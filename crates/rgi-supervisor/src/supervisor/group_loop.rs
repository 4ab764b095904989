//! One group's loop: reaps exits, enforces deadlines, spawns up to the
//! target and rolls reloads out.

use std::collections::HashMap;
use std::os::unix::process::ExitStatusExt;
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use rand::Rng;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::pool::{Backend, BackendState, ExitReport, Group, GroupHealth, PoolEvent};

use super::handle::{Command, Rollout};
use super::os_processes::{OsProcesses, Processes, Spawned};
use super::process::{describe_exit, Ids, EXIT_LOAD_FAILED};
use super::{GroupConfig, SocketDir};

/// Events the loop hears about its processes.
#[derive(Debug)]
pub(super) enum Event {
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
    backend: Arc<Backend>,
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
    stderr_tail: super::os_processes::StderrTail,
}

#[derive(Default)]
struct Slot {
    /// Consecutive failures to start or quick crashes.
    failures: u32,
    spawn_at: Option<Instant>,
    /// The process that serves (or is starting to serve) this slot.
    current: Option<u32>,
}

pub(super) struct GroupLoop<P> {
    rollout: watch::Sender<Rollout>,
    config: GroupConfig,
    /// Starts and signals the processes: the OS, or a table in tests.
    processes: P,
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

impl GroupLoop<OsProcesses> {
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
        let processes = OsProcesses::new(config.clone(), ids, dir);
        let state = GroupLoop::new(config, processes, group, rollout, events_tx);
        tokio::spawn(state.run(events, pool_events, commands))
    }
}

impl<P: Processes> GroupLoop<P> {
    fn new(
        config: GroupConfig,
        processes: P,
        group: Arc<Group>,
        rollout: watch::Sender<Rollout>,
        events: mpsc::UnboundedSender<Event>,
    ) -> Self {
        let slots = (0..config.processes).map(|_| Slot { spawn_at: Some(Instant::now()), ..Slot::default() }).collect();
        Self {
            rollout,
            reload_seen: config.reload_file.as_deref().and_then(modified),
            config,
            processes,
            group,
            procs: HashMap::new(),
            slots,
            generation: 0,
            events,
            stopping: None,
            given_up: None,
            rss_checked: Instant::now(),
        }
    }

    async fn run(
        mut self,
        mut events: mpsc::UnboundedReceiver<Event>,
        mut pool_events: mpsc::UnboundedReceiver<PoolEvent>,
        mut commands: mpsc::UnboundedReceiver<Command>,
    ) {
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
        let Spawned { pid, addr, stderr_tail } = match self.processes.spawn(slot, generation, &self.events) {
            Ok(spawned) => spawned,
            Err(reason) => {
                tracing::error!(group = %self.name(), slot, error = %reason, "cannot start a daemon");
                self.fail_start(slot, &reason);
                return;
            }
        };
        let backend = Arc::new(Backend::new(Some(pid), addr, self.config.concurrency));
        let request_limit = (self.config.max_requests > 0)
            .then(|| self.config.max_requests + rand::rng().random_range(0..=self.config.max_requests_jitter));
        if let Some(limit) = request_limit {
            // The pool says so the moment it is reached; the tick below is
            // the fallback.
            backend.set_request_limit(limit);
        }
        self.group.add(Arc::clone(&backend));
        let cwd = self.config.working_dir.as_deref().map_or_else(|| ".".into(), |d| d.display().to_string());
        tracing::info!(group = %self.name(), pid, slot, generation, %cwd, "daemon started");
        self.procs.insert(
            pid,
            Proc {
                backend,
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
        let s = &mut self.slots[slot];
        s.failures += 1;
        s.current = None;
        if self.given_up == Some(generation) {
            // The group already gave up; a late failure of another slot
            // must not make its state "failing" (retrying) again.
            s.spawn_at = None;
            return;
        }
        self.rollout.send_replace(Rollout::Failed { generation, reason: reason.to_string() });
        if !self.procs.values().any(|p| p.phase == Phase::Ready) {
            // Nothing serves: waiting requests learn it now, not after
            // every retry has failed.
            self.group.set_health(GroupHealth::Failing(reason.to_string()));
        }
        let s = &mut self.slots[slot];
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
                            self.processes.signal(pid, libc::SIGKILL);
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
        self.processes.forget(pid);
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
        let deadline = Instant::now() + self.config.graceful_timeout + EXIT_GRACE;
        tracing::info!(group = %self.config.name, "stopping daemons");
        for slot in &mut self.slots {
            slot.spawn_at = None;
        }
        for (&pid, p) in &mut self.procs {
            p.backend.set_state(BackendState::Draining);
            if p.phase != Phase::Stopping {
                p.phase = Phase::Stopping;
                self.processes.signal(pid, libc::SIGTERM);
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
                        self.processes.signal(pid, signal);
                        if signal == libc::SIGKILL {
                            p.killed_because = Some(if late {
                                "still busy when its graceful timeout ended".to_string()
                            } else {
                                "a request passed its deadline".to_string()
                            });
                        }
                        p.phase = Phase::Stopping;
                        // The daemon itself gives its connections the
                        // graceful timeout (RGI_GRACE_PERIOD); a moment more
                        // lets it close them and exit on its own.
                        p.deadline = Some(now + self.config.graceful_timeout + EXIT_GRACE);
                    }
                }
                Phase::Stopping if p.deadline.is_some_and(|d| now >= d) => {
                    tracing::warn!(group = %self.config.name, pid, "daemon did not stop in time; SIGKILL");
                    self.processes.signal(pid, libc::SIGKILL);
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
                if let Some(rss) = self.processes.rss(pid).filter(|&rss| rss > max) {
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

#[cfg(test)]
mod tests;
