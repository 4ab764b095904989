//! Helpers for tests that run the real `rgi-server` binary.
#![allow(dead_code, reason = "each test file uses a different subset")]
#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rgi_test_support::{get, LoggedChild};

/// A workspace binary, brought up to date once per test process.
pub(crate) fn binary(name: &str) -> PathBuf {
    rgi_test_support::workspace_binary(name)
}

pub(crate) fn test_app() -> PathBuf {
    binary("rgi-test-app")
}

/// `rgi-server` running a configuration, stopped (by PID) when dropped.
pub(crate) struct ServerProc {
    pub(crate) process: LoggedChild,
    pub(crate) addr: SocketAddr,
    pub(crate) dir: tempfile::TempDir,
}

impl ServerProc {
    /// Starts rgi-server with `config` (a TOML text; `{app}` is replaced by
    /// the test app's path, `{dir}` by the test's directory) on
    /// 127.0.0.1:0, and waits until it listens.
    pub(crate) fn start(config: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let text = config
            .replace("{app}", &test_app().display().to_string())
            .replace("{axum}", &binary("axum-example").display().to_string())
            .replace("{dir}", &dir.path().display().to_string());
        let path = dir.path().join("rgi.toml");
        std::fs::write(&path, text).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_rgi-server"));
        command.arg("--config").arg(&path).args(["--listen", "127.0.0.1:0"]).env("RGI_LOG", "info");
        let (process, addr) =
            LoggedChild::spawn("rgi-server", command, Duration::from_secs(30), rgi_test_support::listening_addr);
        Self { process, addr, dir }
    }

    pub(crate) fn log(&self) -> String {
        self.process.log()
    }

    pub(crate) fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// Waits until `check(log)` holds, at most `limit`.
    pub(crate) fn wait_log(&self, limit: Duration, what: &str, check: impl Fn(&str) -> bool) {
        self.process.wait_log(limit, what, check);
    }

    /// The status page as text.
    pub(crate) fn status(&self) -> String {
        get(self.addr, "/server-status").1
    }

    /// The group's requests in flight (status page).
    pub(crate) fn in_flight(&self, group: &str) -> usize {
        let status = self.status();
        let mut in_group = false;
        for line in status.lines() {
            if let Some(name) = line.strip_prefix("group: ") {
                in_group = name == group;
            } else if let (true, Some(n)) = (in_group, line.strip_prefix("in flight: ")) {
                return n.trim().parse().unwrap_or(0);
            }
        }
        0
    }

    /// Pids of the group's processes in state `state` (status page).
    pub(crate) fn pids(&self, group: &str, state: &str) -> Vec<u32> {
        let status = self.status();
        let mut in_group = false;
        let mut pids = Vec::new();
        for line in status.lines() {
            if let Some(name) = line.strip_prefix("group: ") {
                in_group = name == group;
            } else if in_group {
                let words: Vec<&str> = line.split_whitespace().collect();
                if words.first() == Some(&"pid") && words.get(2) == Some(&state) {
                    pids.extend(words.get(1).and_then(|p| p.parse::<u32>().ok()));
                }
            }
        }
        pids
    }

    /// Upgraded connections open per process of the group (status page).
    pub(crate) fn upgraded(&self, group: &str) -> std::collections::BTreeMap<u32, usize> {
        let status = self.status();
        let mut in_group = false;
        let mut open = std::collections::BTreeMap::new();
        for line in status.lines() {
            if let Some(name) = line.strip_prefix("group: ") {
                in_group = name == group;
            } else if in_group {
                let words: Vec<&str> = line.split_whitespace().collect();
                let at = words.iter().position(|w| *w == "upgraded");
                if let (Some(&"pid"), Some(pid), Some(at)) = (words.first(), words.get(1), at) {
                    let n = words.get(at + 1).and_then(|n| n.parse().ok()).unwrap_or(0);
                    open.insert(pid.parse().unwrap_or(0), n);
                }
            }
        }
        open
    }

    /// Waits until the group has `n` ready processes; returns their pids.
    pub(crate) fn wait_ready(&self, group: &str, n: usize, limit: Duration) -> Vec<u32> {
        let deadline = Instant::now() + limit;
        loop {
            let pids = self.pids(group, "ready");
            if pids.len() == n {
                return pids;
            }
            assert!(
                Instant::now() < deadline,
                "group {group} not at {n} ready within {limit:?}:\n{}\nlog:\n{}",
                self.status(),
                self.log()
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    pub(crate) fn signal(&self, signal: i32) {
        self.process.signal(signal);
    }

    /// Stops the server with SIGTERM and returns its exit status.
    pub(crate) fn stop(mut self) -> std::process::ExitStatus {
        self.process.stop()
    }
}

/// A child process, ended by PID when dropped: SIGTERM (which lets nginx's
/// or Apache's master stop its workers), then SIGKILL after 10 s.
pub(crate) struct Proc(pub(crate) Child);

impl Drop for Proc {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child, not yet reaped.
        unsafe { libc::kill(i32::try_from(self.0.id()).unwrap_or(0), libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.0.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) fn is_root() -> bool {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// `app` as a FastCGI daemon binding `socket` itself (`RGI_FASTCGI`),
/// reachable by a front whose workers run as www-data (DEP-8); returns once
/// it accepts connections.
pub(crate) fn daemon_binding(app: &Path, socket: &Path) -> Proc {
    let mut cmd = Command::new(app);
    cmd.env("RGI_FASTCGI", format!("unix:{}", socket.display())).env("RGI_LOG", "warn").env_remove("RGI_SETTINGS");
    if is_root() {
        cmd.env("RGI_FASTCGI_MODE", "660").env("RGI_FASTCGI_GROUP", "www-data");
    }
    let child = Proc(cmd.stdin(Stdio::null()).stdout(Stdio::null()).spawn().unwrap());
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::os::unix::net::UnixStream::connect(socket).is_err() {
        assert!(Instant::now() < deadline, "the daemon did not listen on {}", socket.display());
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

/// `n` clients, each GETting `path` over its own kept-alive connection
/// until `stop` is set (at most a million requests each, should it never be): they count answers
/// in `done` and return their failures (any non-200 or a connection that
/// broke), as wrk would count errors.
/// Waits until the load clients have made `n` requests, at most `limit`.
pub(crate) fn wait_for_requests(done: &std::sync::atomic::AtomicU64, n: u64, limit: Duration) {
    use std::sync::atomic::Ordering;
    let deadline = std::time::Instant::now() + limit;
    while done.load(Ordering::Relaxed) < n {
        assert!(
            std::time::Instant::now() < deadline,
            "the clients made only {} requests",
            done.load(Ordering::Relaxed)
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub(crate) fn load_clients(
    addr: SocketAddr,
    n: usize,
    path: &'static str,
    stop: &std::sync::Arc<std::sync::atomic::AtomicBool>,
    done: &std::sync::Arc<std::sync::atomic::AtomicU64>,
) -> Vec<std::thread::JoinHandle<Vec<String>>> {
    use std::sync::atomic::Ordering;
    (0..n)
        .map(|_| {
            let (stop, done) = (std::sync::Arc::clone(stop), std::sync::Arc::clone(done));
            std::thread::spawn(move || {
                let mut conn = rgi_test_support::KeepAlive::connect(addr).unwrap();
                let mut failures = Vec::new();
                for _ in 0..1_000_000 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    match conn.get(path) {
                        Ok((200, _)) => {
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok((status, body)) => failures.push(format!("{status} {body}")),
                        Err(err) => {
                            // A dropped client connection is a failure too.
                            failures.push(format!("connection: {err}"));
                            conn = rgi_test_support::KeepAlive::connect(addr).unwrap();
                        }
                    }
                }
                failures
            })
        })
        .collect()
}
