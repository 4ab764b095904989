//! Fault tests with real processes: crashes under load, reloads under
//! load, failed starts, hung handlers, recycling (DMN-*).
#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

mod support;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rgi_test_support::{alive, get, KeepAlive};
use support::*;

const TWO: &str = r#"
[server]
status = "/server-status"

[groups.t]
command = ["{app}"]
processes = 2
concurrency = 50
threads = 1
graceful-timeout = 5

[[mounts]]
prefix = "/"
group = "t"
"#;

#[test]
fn a_killed_daemon_fails_only_its_own_non_idempotent_requests_and_is_replaced() {
    // DMN-4, DMN-9, DMN-15, SRV-7
    let server = ServerProc::start(TWO);
    let pids = server.wait_ready("t", 2, Duration::from_secs(20));
    let addr = server.addr;
    let post = "POST /slow?ms=1500 HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    let handles: Vec<_> = (0..50)
        .map(|i| {
            std::thread::spawn(move || {
                if i % 2 == 0 {
                    ("GET", get(addr, "/slow?ms=1500"))
                } else {
                    ("POST", rgi_test_support::request(addr, post))
                }
            })
        })
        .collect();
    // Every request is at a daemon (each is slow) before one is killed.
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.in_flight("t") < 50 {
        assert!(Instant::now() < deadline, "the 50 requests never were all in flight:\n{}", server.status());
        std::thread::sleep(Duration::from_millis(10));
    }
    let victim = pids[0];
    // SAFETY: kill(2) on a daemon of the server we started.
    assert_eq!(unsafe { libc::kill(i32::try_from(victim).unwrap(), libc::SIGKILL) }, 0);
    let killed_at = Instant::now();
    let results: Vec<(&str, (u16, String))> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let failed_gets: Vec<_> = results.iter().filter(|(m, (s, _))| *m == "GET" && *s != 200).collect();
    assert!(failed_gets.is_empty(), "GETs went to another daemon, yet these failed: {failed_gets:?}");
    let failed_posts: Vec<_> = results.iter().filter(|(m, (s, _))| *m == "POST" && *s != 200).collect();
    assert!(failed_posts.iter().all(|(_, (s, _))| *s == 502), "failures other than 502: {failed_posts:?}");
    assert!(!failed_posts.is_empty(), "the killed daemon had no POST in flight");
    let ok: Vec<_> = results.iter().filter(|(_, (s, _))| *s == 200).collect();
    assert!(ok.iter().all(|(_, (_, b))| !b.ends_with(&format!(" {victim}"))), "a response came from the killed daemon");
    // A replacement serves within a second of the kill.
    let replacement = loop {
        let ready = server.pids("t", "ready");
        if let Some(&new) = ready.iter().find(|p| !pids.contains(p)) {
            break new;
        }
        assert!(killed_at.elapsed() < Duration::from_secs(1), "no replacement within 1 s:\n{}", server.status());
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(alive(replacement));
    let (status, _) = get(addr, "/");
    assert_eq!(status, 200);
    // The exit is logged with its pid, signal and likely cause.
    let log = server.log();
    assert!(
        log.contains(&format!("pid={victim}")) && log.contains("SIGKILL") && log.contains("possibly out of memory"),
        "{log}"
    );
}

#[test]
fn a_daemon_killed_under_load_costs_no_get() {
    // DMN-15: 32 kept-alive clients, as wrk -c32, and one daemon SIGKILLed
    // while they run.
    let server = ServerProc::start(TWO);
    let pids = server.wait_ready("t", 2, Duration::from_secs(20));
    let addr = server.addr;
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let clients = load_clients(addr, 32, "/slow?ms=5", &stop, &done);
    let wait_for = |n: u64| wait_for_requests(&done, n, Duration::from_secs(30));
    wait_for(300);
    // SAFETY: kill(2) on a daemon of the server we started.
    assert_eq!(unsafe { libc::kill(i32::try_from(pids[0]).unwrap(), libc::SIGKILL) }, 0);
    let at_kill = done.load(Ordering::Relaxed);
    wait_for(at_kill + 600);
    stop.store(true, Ordering::Relaxed);
    let failures: Vec<String> = clients.into_iter().flat_map(|c| c.join().unwrap()).collect();
    assert!(
        failures.is_empty(),
        "{} failed GETs: {:?}\nlog:\n{}",
        failures.len(),
        &failures[..failures.len().min(5)],
        server.log()
    );
    assert!(server.log().contains("sending the request to another daemon"), "no request was in flight at the kill");
}

#[test]
fn a_reload_under_load_fails_no_request() {
    // DMN-8
    let server = ServerProc::start(TWO);
    let first = server.wait_ready("t", 2, Duration::from_secs(20));
    let addr = server.addr;
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let clients = load_clients(addr, 4, "/", &stop, &done);
    let started = Instant::now();
    let mut reloads = 0;
    while started.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_secs(4));
        server.signal(libc::SIGHUP);
        reloads += 1;
    }
    stop.store(true, Ordering::Relaxed);
    let failures: Vec<String> = clients.into_iter().flat_map(|c| c.join().unwrap()).collect();
    assert!(
        failures.is_empty(),
        "{} failed requests during {reloads} reloads: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    assert!(done.load(Ordering::Relaxed) > 1000, "too few requests to mean anything: {}", done.load(Ordering::Relaxed));
    let now = server.wait_ready("t", 2, Duration::from_secs(20));
    assert!(now.iter().all(|p| !first.contains(p)), "the processes were not replaced");
    for pid in first {
        assert!(!alive(pid), "old daemon {pid} still running");
    }
}

#[test]
fn an_application_that_cannot_start_stops_its_group_but_not_the_server() {
    // DMN-6, DEP-4
    let server = ServerProc::start(
        r#"
[server]
status = "/server-status"

[groups.broken]
command = ["{app}"]
processes = 2
env = { RGI_TEST_FAIL_START = "1" }

[groups.fine]
command = ["{app}"]
processes = 1

[[mounts]]
prefix = "/broken"
group = "broken"

[[mounts]]
prefix = "/"
group = "fine"
"#,
    );
    server.wait_ready("fine", 1, Duration::from_secs(20));
    server.wait_log(Duration::from_secs(20), "the group to stop", |l| {
        l.contains("group stopped: its application cannot start")
    });
    let (status, body) = get(server.addr, "/broken/x");
    assert_eq!(status, 503);
    // The client learns which group and why; the reason's details (which
    // may name files) are the log's.
    assert!(body.contains("group broken") && body.contains("application failed to load"), "{body}");
    assert!(!body.contains("RGI_TEST_FAIL_START"), "details leaked to the client: {body}");
    assert!(server.log().contains("RGI_TEST_FAIL_START"), "the log lacks the reason:\n{}", server.log());
    // No crash loop: the group has stopped trying (its state says so), and
    // it made only the first attempts.
    let starts = server.log().matches("daemon started group=broken").count();
    assert!(starts <= 2, "{starts} starts: a crash loop; log:\n{}", server.log());
    assert!(server.status().contains("state: failed"));
    assert_eq!(get(server.addr, "/").0, 200, "the other group still serves");
}

#[test]
fn a_hung_handler_gets_504_and_its_slot_comes_back() {
    // DMN-7
    let server = ServerProc::start(
        r#"
[server]
status = "/server-status"

[groups.t]
command = ["{app}"]
processes = 1
concurrency = 1
threads = 1
request-timeout = 1
graceful-timeout = 2

[[mounts]]
prefix = "/"
group = "t"
"#,
    );
    let before = server.wait_ready("t", 1, Duration::from_secs(20));
    for path in ["/hang", "/spin"] {
        let started = Instant::now();
        let (status, body) = get(server.addr, path);
        assert_eq!(status, 504, "{path}: {body}");
        assert!(started.elapsed() < Duration::from_secs(5), "{path}: 504 came late");
        // The slot comes back: the next request is answered.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (status, _) = get(server.addr, "/");
            if status == 200 {
                break;
            }
            assert!(Instant::now() < deadline, "no request answered after the 504");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    assert!(!alive(before[0]), "the stuck daemon was not stopped");
    // The log named the stuck request before the process was recycled.
    let log = server.log();
    let named = log.find("a request passed its deadline").unwrap_or_else(|| panic!("no deadline line:\n{log}"));
    assert!(log[named..].lines().next().is_some_and(|l| l.contains("request=GET /hang")), "{log}");
    let replaced = log.find("starting a replacement").unwrap_or_else(|| panic!("no replacement:\n{log}"));
    assert!(named < replaced, "the request was named only after the recycling:\n{log}");
    // The second stuck process is counted once it is gone (it may still be
    // dying when the next request is answered by its replacement).
    let counted = "rgi_group_restarts_by_reason_total{group=\"t\",reason=\"request deadline passed\"} 2";
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (_, metrics) = get(server.addr, "/server-status?openmetrics");
        if metrics.contains(counted) {
            break;
        }
        assert!(Instant::now() < deadline, "{metrics}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn processes_are_recycled_after_their_maximum_requests_without_a_failure() {
    // DMN-4
    let server = ServerProc::start(
        r#"
[server]
status = "/server-status"

[groups.t]
command = ["{app}"]
processes = 1
max-requests = 20
max-requests-jitter = 5

[[mounts]]
prefix = "/"
group = "t"
"#,
    );
    server.wait_ready("t", 1, Duration::from_secs(20));
    let mut conn = KeepAlive::connect(server.addr).unwrap();
    let mut pids = std::collections::BTreeSet::new();
    for _ in 0..120 {
        let (status, body) = conn.get("/pid").unwrap();
        assert_eq!(status, 200);
        pids.insert(body);
        // Paced like real traffic: a replacement needs a moment to start,
        // and meanwhile the old process keeps serving.
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(pids.len() >= 3, "120 requests with max-requests 20..25 used {} processes", pids.len());
    assert!(server.status().contains("failed requests: 0"));
}

#[test]
fn daemons_are_named_for_ps_and_inherit_no_descriptors() {
    // DMN-1, DMN-13
    let server = ServerProc::start(TWO);
    let pids = server.wait_ready("t", 2, Duration::from_secs(20));
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", pids[0])).unwrap();
    let argv0 = String::from_utf8_lossy(cmdline.split(|&b| b == 0).next().unwrap()).into_owned();
    assert!(argv0.starts_with("rgi-daemon: t "), "{argv0}");
    // The front's listening socket must not be open in any daemon...
    let listener_inode = listening_inode(server.addr.port());
    let (_, fds) = get(server.addr, "/fds");
    assert!(!fds.is_empty());
    assert!(!fds.contains(&format!("socket:[{listener_inode}]")), "the daemon holds the front's listener:\n{fds}");
    // ...nor anything the server or this test holds, past stdio. (fd 1
    // and 2 are pipes to the server, which shares their inodes.)
    let theirs = open_targets(&format!("/proc/{}/fd", server.pid()));
    let ours = open_targets("/proc/self/fd");
    let leaked: Vec<&str> = fds
        .lines()
        .filter(|l| l.split(" -> ").next().and_then(|n| n.parse::<u32>().ok()).is_some_and(|n| n > 2))
        .filter(|l| {
            let target = l.split(" -> ").nth(1).unwrap_or("");
            (target.starts_with("socket:") || target.starts_with("pipe:"))
                && (theirs.contains(target) || ours.contains(target))
        })
        .collect();
    assert!(leaked.is_empty(), "descriptors leaked into the daemon: {leaked:?}\n{fds}");
}

fn open_targets(dir: &str) -> std::collections::HashSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .map(|t| t.display().to_string())
        .collect()
}

/// The inode of the TCP socket listening on `port`, from /proc/net/tcp.
fn listening_inode(port: u16) -> String {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    for line in table.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        let local_port = f[1].rsplit(':').next().and_then(|p| u16::from_str_radix(p, 16).ok());
        if local_port == Some(port) && f[3] == "0A" {
            return f[9].to_string();
        }
    }
    panic!("no listener on port {port}");
}

#[test]
fn sigterm_stops_the_server_and_every_daemon() {
    // SRV-9
    let server = ServerProc::start(TWO);
    let pids = server.wait_ready("t", 2, Duration::from_secs(20));
    let status = server.stop();
    assert!(status.success(), "{status:?}");
    for pid in pids {
        assert!(!alive(pid), "daemon {pid} outlived the server");
    }
}

#[test]
fn requests_wait_for_a_daemon_that_is_still_starting() {
    // DMN-5
    let server = ServerProc::start(
        r#"
[server]
status = "/server-status"

[groups.t]
command = ["{app}"]
processes = 1
env = { RGI_TEST_START_MS = "1500" }

[[mounts]]
prefix = "/"
group = "t"
"#,
    );
    // Sent while the daemon's startup still runs: it must wait, not fail.
    let sent = Instant::now();
    let (status, body) = get(server.addr, "/pid");
    assert_eq!(status, 200, "{body}");
    assert!(sent.elapsed() >= Duration::from_millis(800), "answered before the application could have started");
    let log = server.log();
    let ready = log.find("daemon ready").unwrap_or_else(|| panic!("no readiness logged:\n{log}"));
    assert!(log.find("daemon started").is_some_and(|started| started < ready), "{log}");
}

#[test]
fn a_daemon_that_never_becomes_ready_is_killed_and_the_group_refuses_in_time() {
    // DMN-5, DMN-6
    let server = ServerProc::start(
        r#"
[server]
status = "/server-status"

[groups.t]
command = ["{app}"]
processes = 1
startup-timeout = 1
queue-timeout = 2
env = { RGI_TEST_START_MS = "600000" }

[[mounts]]
prefix = "/"
group = "t"
"#,
    );
    let started = Instant::now();
    let (status, body) = get(server.addr, "/");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("group t"), "the refusal names the group: {body}");
    assert!(started.elapsed() < Duration::from_secs(10));
    server.wait_log(Duration::from_secs(10), "the slow daemon to be stopped", |l| {
        l.contains("daemon did not become ready") && l.contains("not ready within 1 s")
    });
    // Its process is gone, not left running beside its replacements, and
    // its exit is reported as what it was, not as a kill from outside.
    server.wait_log(Duration::from_secs(10), "its exit to be reaped", |l| l.contains("not ready within 1 s (killed)"));
    assert!(!server.log().contains("out of memory"), "a supervisor kill blamed on memory:\n{}", server.log());
    let status = server.status();
    assert!(["state: up", "state: failed", "state: failing"].iter().any(|s| status.contains(s)), "{status}");
}

#[test]
fn daemons_run_in_the_configuration_files_directory_by_default() {
    // An application's relative paths do not depend on where rgi-server
    // was started (this test's own working directory is elsewhere).
    let server = ServerProc::start(TWO);
    server.wait_ready("t", 2, Duration::from_secs(20));
    let (status, cwd) = get(server.addr, "/cwd");
    assert_eq!(status, 200);
    assert_eq!(std::path::Path::new(&cwd), server.dir.path().canonicalize().unwrap(), "{}", server.log());
    let expected = format!("cwd={}", server.dir.path().display());
    assert!(server.log().contains(&expected), "the log does not name it:\n{}", server.log());
}

#[test]
fn the_status_page_reports_groups_as_text_and_openmetrics() {
    // DMN-14
    let server = ServerProc::start(TWO);
    let pids = server.wait_ready("t", 2, Duration::from_secs(20));
    for _ in 0..5 {
        assert_eq!(get(server.addr, "/").0, 200);
    }
    let text = server.status();
    assert!(
        text.contains("group: t") && text.contains("processes: 2") && text.contains("failed requests: 0"),
        "{text}"
    );
    assert!(text.contains("requests: 5"), "{text}");
    for pid in &pids {
        // Nothing in flight: every process is idle.
        assert!(text.contains(&format!("pid {pid} ready idle")), "{text}");
    }
    let (status, metrics) = get(server.addr, "/server-status?openmetrics");
    assert_eq!(status, 200);
    for pid in &pids {
        assert!(metrics.contains(&format!("rgi_process_in_flight{{group=\"t\",pid=\"{pid}\"}} 0")), "{metrics}");
    }
    assert!(metrics.contains("rgi_group_processes{group=\"t\"} 2"), "{metrics}");
    assert!(metrics.contains("rgi_group_requests_total{group=\"t\"} 5"), "{metrics}");
    assert!(metrics.contains("rgi_group_queue_seconds_total{group=\"t\"} "), "{metrics}");
    // The same page from the command line, for an operator's shell.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rgi-server"))
        .arg("--config")
        .arg(server.dir.path().join("rgi.toml"))
        .args(["--listen", &server.addr.to_string(), "--status"])
        .output()
        .unwrap();
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && page.contains("group: t") && page.contains("queued: "), "{page}");
    // Each process's memory, as max-rss sees it (DMN-16).
    assert_eq!(metrics.matches("rgi_process_rss_bytes{group=\"t\",pid=").count(), 2, "{metrics}");
    assert!(
        text.lines().filter(|l| l.trim_start().starts_with("pid ")).all(|l| l.contains(" rss ") && l.ends_with("MiB")),
        "{text}"
    );
    assert!(metrics.trim_end().ends_with("# EOF"), "{metrics}");
}

#[test]
fn a_group_whose_daemons_cannot_start_fails_requests_fast_without_revealing_paths() {
    // DMN-6
    let server = ServerProc::start(
        r#"
[server]
status = "/server-status"

[groups.crashing]
command = ["/bin/false"]
processes = 1

[groups.fine]
command = ["{app}"]
processes = 1

[[mounts]]
prefix = "/crashing"
group = "crashing"

[[mounts]]
prefix = "/"
group = "fine"
"#,
    );
    let sent = Instant::now();
    let (status, body) = get(server.addr, "/crashing/x");
    let took = sent.elapsed();
    assert_eq!(status, 503, "{body}");
    assert!(took < Duration::from_secs(3), "the refusal took {took:?}: requests waited for every retry");
    assert!(body.contains("group crashing") && body.contains("cannot start"), "{body}");
    assert!(!body.contains("/bin/false"), "a path reached the client: {body}");
    assert!(!body.contains(".sock"), "a socket path reached the client: {body}");
    server.wait_log(Duration::from_secs(10), "the exit to be logged", |l| l.contains("exited with status 1"));
    assert!(server.status().contains("state: failing to start"), "{}", server.status());
    assert_eq!(get(server.addr, "/").0, 200, "the other group still serves");
}

#[test]
fn a_process_over_max_rss_is_replaced_without_a_failed_request() {
    // DMN-16: a replacement starts first, the old process finishes its
    // requests, and no client sees a failure.
    let server = ServerProc::start(
        r#"
[server]
status = "/server-status"

[groups.t]
command = ["{app}"]
processes = 1
threads = 1
max-rss = "48MiB"
graceful-timeout = 10

[[mounts]]
prefix = "/"
group = "t"
"#,
    );
    let before = server.wait_ready("t", 1, Duration::from_secs(20))[0];
    let addr = server.addr;
    let stop = Arc::new(AtomicBool::new(false));
    let client = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut failures = Vec::new();
            let mut answered = 0u32;
            // Bounded, whatever happens to `stop`.
            for _ in 0..100_000 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                match get(addr, "/slow?ms=20") {
                    (200, _) => answered += 1,
                    (status, body) => failures.push(format!("{status} {body}")),
                }
            }
            (answered, failures)
        })
    };
    // In flight while the memory grows: it must still be answered.
    let slow = std::thread::spawn(move || get(addr, "/slow?ms=1500"));
    let (status, body) = get(addr, "/grow?mb=64");
    assert_eq!(status, 200, "{body}");
    server.wait_log(Duration::from_secs(20), "the recycling", |l| l.contains("maximum RSS reached"));
    let after = loop {
        let ready = server.pids("t", "ready");
        if let Some(&pid) = ready.iter().find(|&&p| p != before) {
            break pid;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_ne!(after, before);
    let (_, metrics) = get(addr, "/server-status?openmetrics");
    assert!(
        metrics.contains("rgi_group_restarts_by_reason_total{group=\"t\",reason=\"maximum RSS reached\"} 1"),
        "{metrics}"
    );
    let (status, body) = slow.join().unwrap();
    assert_eq!(status, 200, "the in-flight request was lost: {body}");
    stop.store(true, Ordering::Relaxed);
    let (answered, failures) = client.join().unwrap();
    assert!(failures.is_empty(), "{} failed requests: {:?}", failures.len(), &failures[..failures.len().min(5)]);
    assert!(answered > 5, "the client made only {answered} requests");
    let deadline = Instant::now() + Duration::from_secs(15);
    while alive(before) {
        assert!(Instant::now() < deadline, "the old process was never stopped");
        std::thread::sleep(Duration::from_millis(50));
    }
}
