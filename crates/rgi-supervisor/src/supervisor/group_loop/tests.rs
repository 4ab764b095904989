//! The loop's decisions against a table of pretend processes: no process
//! is started, so each runs in milliseconds.

use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

use super::*;
use crate::pool::BackendAddr;

/// Pretend processes: pids handed out in order, signals recorded.
#[derive(Default)]
struct Table {
    next_pid: u32,
    /// (pid, slot, generation) of every start.
    started: Vec<(u32, usize, u64)>,
    signals: Vec<(u32, i32)>,
    /// How many of the next starts fail.
    failing: usize,
    rss: HashMap<u32, u64>,
}

impl Processes for Table {
    fn spawn(&mut self, slot: usize, generation: u64, _: &mpsc::UnboundedSender<Event>) -> Result<Spawned, String> {
        if self.failing > 0 {
            self.failing -= 1;
            return Err("no such program".into());
        }
        self.next_pid += 1;
        let pid = 1000 + self.next_pid;
        self.started.push((pid, slot, generation));
        let addr = BackendAddr::Unix(format!("/nonexistent/{pid}.sock").into());
        Ok(Spawned { pid, addr, stderr_tail: Arc::default() })
    }

    fn signal(&mut self, pid: u32, signal: i32) {
        self.signals.push((pid, signal));
    }

    fn forget(&mut self, _pid: u32) {}

    fn rss(&self, pid: u32) -> Option<u64> {
        self.rss.get(&pid).copied()
    }
}

fn group_loop(processes: usize, tune: impl FnOnce(&mut GroupConfig)) -> GroupLoop<Table> {
    let mut config = GroupConfig::new("t", vec!["app".into()]);
    config.processes = processes;
    config.graceful_timeout = Duration::from_secs(5);
    tune(&mut config);
    let group = Group::new("t", config.pool.clone(), None);
    let (rollout, _) = watch::channel(Rollout::Starting { generation: 0 });
    let (events, _) = mpsc::unbounded_channel();
    GroupLoop::new(config, Table::default(), group, rollout, events)
}

fn pids(l: &GroupLoop<Table>) -> Vec<u32> {
    l.processes.started.iter().map(|(pid, ..)| *pid).collect()
}

fn reasons(l: &GroupLoop<Table>) -> Vec<(String, u64)> {
    l.group.stats.restarts_by_reason().into_iter().collect()
}

fn killed_by(signal: i32) -> ExitStatus {
    ExitStatus::from_raw(signal)
}

fn exited(code: i32) -> ExitStatus {
    ExitStatus::from_raw(code << 8)
}

/// Starts the group and makes every process ready.
fn started(processes: usize, tune: impl FnOnce(&mut GroupConfig)) -> GroupLoop<Table> {
    let mut l = group_loop(processes, tune);
    l.enforce();
    for pid in pids(&l) {
        l.on_event(Event::Ready { pid });
    }
    l
}

/// Lets a slot's pending respawn happen now, as time passing would.
fn due_now(l: &mut GroupLoop<Table>, slot: usize) {
    if l.slots[slot].spawn_at.is_some() {
        l.slots[slot].spawn_at = Some(Instant::now());
    }
}

#[test]
fn the_group_starts_at_strength_and_is_up_once_ready() {
    let mut l = group_loop(3, |_| {});
    l.enforce();
    assert_eq!(l.processes.started.iter().map(|(_, slot, _)| *slot).collect::<Vec<_>>(), [0, 1, 2]);
    assert!(l.procs.values().all(|p| p.phase == Phase::Starting));
    for pid in pids(&l) {
        l.on_event(Event::Ready { pid });
    }
    assert!(l.procs.values().all(|p| p.phase == Phase::Ready));
    assert_eq!(l.group.health(), GroupHealth::Up);
    assert_eq!(*l.rollout.borrow(), Rollout::Ready { generation: 0 });
}

#[test]
fn a_crash_is_respawned_at_once_in_its_slot() {
    // DMN-4
    let mut l = started(2, |_| {});
    let [first, second] = pids(&l)[..] else { panic!() };
    l.on_exit(first, killed_by(libc::SIGSEGV));
    assert!(!l.procs.contains_key(&first));
    l.enforce();
    let (replacement, slot, _) = *l.processes.started.last().unwrap();
    assert_eq!(slot, 0, "the crashed process's slot is refilled");
    assert!(replacement != first && replacement != second);
    assert_eq!(reasons(&l), [("crashed".to_string(), 1)]);
}

#[test]
fn failed_starts_back_off_doubling_then_the_group_gives_up() {
    // DMN-6
    let mut l = group_loop(1, |_| {});
    l.processes.failing = usize::MAX;
    let mut delays = Vec::new();
    for _ in 0..MAX_START_FAILURES {
        due_now(&mut l, 0);
        let before = Instant::now();
        l.enforce();
        if let Some(at) = l.slots[0].spawn_at {
            delays.push(at.duration_since(before).as_millis());
        }
    }
    // 0.2 s, 0.4 s, 0.8 s, 1.6 s (within scheduling slack), then no more.
    assert_eq!(delays.len(), 4, "{delays:?}");
    for (delay, expected) in delays.iter().zip([200, 400, 800, 1600]) {
        assert!((expected..expected + 100).contains(delay), "{delays:?}");
    }
    assert_eq!(l.slots[0].spawn_at, None, "gave up: nothing is scheduled");
    assert!(matches!(l.group.health(), GroupHealth::Failed(reason) if reason.contains("5 failed starts")));
    due_now(&mut l, 0);
    l.enforce();
    assert!(l.processes.started.is_empty());
}

#[test]
fn a_group_that_gave_up_stays_failed_when_its_other_slots_fail_late() {
    // DMN-6: slot 0 fails five times and the group gives up; slot 1's
    // process failing afterwards must not make it "failing" (retrying).
    let mut l = group_loop(2, |_| {});
    l.enforce();
    let late = pids(&l)[1];
    for _ in 0..MAX_START_FAILURES {
        let pid = l.slots[0].current.unwrap();
        l.on_exit(pid, exited(1));
        due_now(&mut l, 0);
        l.enforce();
    }
    assert!(matches!(l.group.health(), GroupHealth::Failed(_)), "{:?}", l.group.health());
    l.on_exit(late, exited(1));
    assert!(matches!(l.group.health(), GroupHealth::Failed(_)), "{:?}", l.group.health());
    assert!(matches!(*l.rollout.borrow(), Rollout::Failed { .. }));
}

#[test]
fn a_load_failure_is_not_retried() {
    // DMN-6, DEP-4: exit status 78 will not cure itself.
    let mut l = group_loop(1, |_| {});
    l.enforce();
    let pid = pids(&l)[0];
    l.on_event(Event::NotReady { pid, reason: "closed the connection".into(), stuck: false });
    l.on_exit(pid, exited(EXIT_LOAD_FAILED));
    assert!(matches!(l.group.health(), GroupHealth::Failed(_)));
    assert_eq!(l.slots[0].spawn_at, None);
    l.enforce();
    assert_eq!(pids(&l), [pid], "no second start");
}

#[test]
fn a_process_that_never_gets_ready_is_killed_and_counts_as_a_failed_start() {
    // DMN-5
    let mut l = group_loop(1, |_| {});
    l.enforce();
    let pid = pids(&l)[0];
    l.on_event(Event::NotReady { pid, reason: "not ready within 30 s".into(), stuck: true });
    assert_eq!(l.processes.signals, [(pid, libc::SIGKILL)]);
    l.on_exit(pid, killed_by(libc::SIGKILL));
    assert_eq!(l.slots[0].failures, 1);
    assert!(l.slots[0].spawn_at.is_some_and(|at| at > Instant::now()), "retried after a backoff");
}

#[test]
fn recycling_starts_the_replacement_before_the_old_one_drains() {
    // DMN-4: a process past its restart interval is replaced without
    // failing a request: the new one starts first.
    let hour = Duration::from_secs(3600);
    let mut l = started(1, |c| c.restart_interval = Some(hour));
    let old = pids(&l)[0];
    l.enforce();
    assert_eq!(pids(&l), [old], "not due yet");
    l.procs.get_mut(&old).unwrap().started -= 2 * hour;
    l.enforce();
    let new = *pids(&l).last().unwrap();
    assert_ne!(new, old);
    assert_eq!(l.procs[&old].phase, Phase::Ready, "the old one serves until the new one is ready");
    assert!(l.processes.signals.is_empty());
    l.on_event(Event::Ready { pid: new });
    assert_eq!(l.procs[&old].phase, Phase::Draining { kill: false });
    // Idle, it is stopped politely.
    l.enforce();
    assert_eq!(l.processes.signals, [(old, libc::SIGTERM)]);
    assert_eq!(reasons(&l), [("restart interval passed".to_string(), 1)]);
    // Its exit is expected: nothing more starts for it.
    let started_before = pids(&l).len();
    l.on_exit(old, exited(0));
    l.enforce();
    assert_eq!(pids(&l).len(), started_before);
}

#[test]
fn a_process_over_max_rss_is_recycled() {
    // DMN-16
    let mut l = started(2, |c| c.max_rss = Some(100 << 20));
    let [big, small] = pids(&l)[..] else { panic!() };
    l.processes.rss.insert(big, 200 << 20);
    l.processes.rss.insert(small, 10 << 20);
    l.rss_checked = Instant::now() - RSS_EVERY;
    l.enforce();
    assert!(l.procs[&big].replaced && !l.procs[&small].replaced);
    assert_eq!(reasons(&l), [("maximum RSS reached".to_string(), 1)]);
}

#[test]
fn a_reload_serves_from_the_new_generation_before_the_old_drains() {
    // DMN-8
    let mut l = started(2, |_| {});
    let old = pids(&l);
    l.reload("test");
    let new: Vec<u32> = l.processes.started.iter().filter(|(_, _, g)| *g == 1).map(|(pid, ..)| *pid).collect();
    assert_eq!(new.len(), 2, "a whole new generation starts");
    assert!(old.iter().all(|pid| l.procs[pid].phase == Phase::Ready), "the old generation still serves");
    assert_eq!(*l.rollout.borrow(), Rollout::Starting { generation: 1 });
    l.on_event(Event::Ready { pid: new[0] });
    assert_eq!(l.procs[&old[0]].phase, Phase::Draining { kill: false });
    assert_eq!(l.procs[&old[1]].phase, Phase::Ready, "slot 1's new process is not ready yet");
    assert_eq!(*l.rollout.borrow(), Rollout::Starting { generation: 1 });
    l.on_event(Event::Ready { pid: new[1] });
    assert_eq!(*l.rollout.borrow(), Rollout::Ready { generation: 1 });
}

#[test]
fn a_failed_reload_keeps_the_old_generation_serving() {
    // DMN-8
    let mut l = started(1, |_| {});
    let old = pids(&l)[0];
    l.processes.failing = usize::MAX;
    l.reload("test");
    for _ in 0..MAX_START_FAILURES {
        due_now(&mut l, 0);
        l.enforce();
    }
    assert_eq!(l.procs[&old].phase, Phase::Ready);
    assert!(!matches!(l.group.health(), GroupHealth::Failed(_)), "the old generation still serves");
    assert!(matches!(&*l.rollout.borrow(), Rollout::Failed { generation: 1, .. }));
}

#[test]
fn a_stuck_request_replaces_its_process_and_kills_it_once_idle() {
    // DMN-7
    let mut l = started(1, |_| {});
    let stuck = pids(&l)[0];
    l.on_stuck(stuck);
    let replacement = *pids(&l).last().unwrap();
    assert_ne!(replacement, stuck);
    assert_eq!(l.procs[&stuck].phase, Phase::Draining { kill: true });
    l.enforce();
    assert_eq!(l.processes.signals, [(stuck, libc::SIGKILL)]);
}

#[test]
fn shutdown_stops_every_process_and_spawns_nothing_more() {
    // SRV-9
    let mut l = started(2, |_| {});
    let (done, _) = oneshot::channel();
    l.begin_shutdown(done);
    let mut signals = l.processes.signals.clone();
    signals.sort_unstable();
    assert_eq!(signals, pids(&l).into_iter().map(|pid| (pid, libc::SIGTERM)).collect::<Vec<_>>());
    for pid in pids(&l) {
        l.on_exit(pid, exited(0));
    }
    l.enforce();
    assert_eq!(pids(&l).len(), 2, "nothing respawned while stopping");
    assert!(l.procs.is_empty());
}
