//! Helpers for the end-to-end tests: a copy of an example crate that the
//! test may edit, and `rgi-dev` running on it.
#![allow(dead_code, reason = "each test file uses a different subset")]
#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub(crate) fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// A copy of `examples/<example>` as a crate of its own, named `name`, with
/// its path dependencies pointing back into this workspace and its
/// dependency versions pinned by the workspace's lock file.
pub(crate) struct DevCrate {
    pub(crate) _dir: tempfile::TempDir,
    pub(crate) path: PathBuf,
    pub(crate) name: String,
}

impl DevCrate {
    pub(crate) fn copy(example: &str, name: &str) -> Self {
        let ws = workspace();
        let from = ws.join("examples").join(example);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.join("src")).unwrap();
        let lib_name = name.replace('-', "_");
        for entry in std::fs::read_dir(from.join("src")).unwrap() {
            let entry = entry.unwrap();
            let text = std::fs::read_to_string(entry.path()).unwrap();
            let text = text.replace(&format!("{example}::"), &format!("{lib_name}::"));
            std::fs::write(path.join("src").join(entry.file_name()), text).unwrap();
        }
        let versions = std::fs::read_to_string(ws.join("Cargo.toml")).unwrap();
        let mut manifest = String::new();
        let mut skip = false;
        for line in std::fs::read_to_string(from.join("Cargo.toml")).unwrap().lines() {
            if line.starts_with('[') {
                skip = line == "[lints]" || line == "[dev-dependencies]";
            }
            if skip {
                continue;
            }
            let line = if line.starts_with("name = ") {
                format!("name = \"{name}\"")
            } else if line == "edition.workspace = true" {
                "edition = \"2021\"".to_string()
            } else if let Some(dep) = line.strip_suffix(".workspace = true") {
                let spec = versions.lines().find(|l| l.starts_with(&format!("{dep} = "))).unwrap();
                spec.to_string()
            } else {
                line.replace("../../crates/", &format!("{}/crates/", ws.display()))
            };
            manifest.push_str(&line);
            manifest.push('\n');
        }
        manifest.push_str("\n[workspace]\n");
        std::fs::write(path.join("Cargo.toml"), manifest).unwrap();
        std::fs::copy(ws.join("Cargo.lock"), path.join("Cargo.lock")).unwrap();
        Self { _dir: dir, path, name: name.to_string() }
    }

    pub(crate) fn read(&self, file: &str) -> String {
        std::fs::read_to_string(self.path.join(file)).unwrap()
    }

    pub(crate) fn write(&self, file: &str, text: &str) {
        std::fs::write(self.path.join(file), text).unwrap();
    }
}

/// `rgi-dev` serving a crate on 127.0.0.1, stopped (by PID) when dropped.
pub(crate) struct DevServer {
    pub(crate) child: Child,
    pub(crate) addr: SocketAddr,
    pub(crate) log: Arc<Mutex<String>>,
}

impl DevServer {
    pub(crate) fn start(krate: &DevCrate, args: &[&str]) -> Self {
        // One target directory for every copy: the dependencies build once.
        let target = workspace().join("target").join("rgi-dev-e2e");
        let mut child = Command::new(env!("CARGO_BIN_EXE_rgi-dev"))
            .arg(&krate.path)
            .args(["--addr", "127.0.0.1:0"])
            .args(args)
            .env("CARGO_TARGET_DIR", &target)
            // Everything the copies need is in the workspace's lock file
            // and already downloaded for the workspace's own build.
            .env("CARGO_NET_OFFLINE", "true")
            .env_remove("RGI_SETTINGS")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("serving on http://").nth(1) {
                    let _ = tx.send(rest.trim_end_matches('/').to_string());
                }
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(120))
            .unwrap_or_else(|_| panic!("rgi-dev did not start; its log:\n{}", log.lock().unwrap()));
        Self { child, addr: addr.parse().unwrap(), log }
    }

    pub(crate) fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// GETs `path` until `check` holds for the answer, at most `limit`.
    pub(crate) fn wait_for(
        &self,
        path: &str,
        limit: Duration,
        what: &str,
        check: impl Fn(u16, &str) -> bool,
    ) -> (u16, String) {
        let deadline = Instant::now() + limit;
        loop {
            let (status, body) = get(self.addr, path);
            if check(status, &body) {
                return (status, body);
            }
            assert!(
                Instant::now() < deadline,
                "{what} within {limit:?}; last answer {status} {body}\nlog:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The pid of the application process, from the log.
    pub(crate) fn app_pid(&self) -> u32 {
        let log = self.log();
        let line =
            log.lines().rev().find(|l| l.contains(" is running (pid ")).unwrap_or_else(|| panic!("no pid in:\n{log}"));
        line.split("(pid ").nth(1).and_then(|r| r.trim_end_matches(')').parse().ok()).unwrap()
    }

    /// SIGTERM, then the exit status.
    pub(crate) fn stop(mut self) -> std::process::ExitStatus {
        // SAFETY: kill(2) on our own child.
        assert_eq!(unsafe { libc::kill(i32::try_from(self.child.id()).unwrap(), libc::SIGTERM) }, 0);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "rgi-dev did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for DevServer {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            // SAFETY: kill(2) on our own child.
            unsafe { libc::kill(i32::try_from(self.child.id()).unwrap_or(0), libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(10);
            while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Whether process `pid` is alive (and not a zombie).
pub(crate) fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| s.rsplit(')').next().and_then(|r| r.split_whitespace().next()) != Some("Z"))
}

/// One GET with `Connection: close`: (status, body); status 0 when the
/// connection failed.
pub(crate) fn get(addr: SocketAddr, target: &str) -> (u16, String) {
    try_get(addr, target).unwrap_or_default()
}

/// One GET, failing on any connection error (refused, reset, cut short).
pub(crate) fn try_get(addr: SocketAddr, target: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(150)))?;
    s.write_all(format!("GET {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes())?;
    let mut out = Vec::new();
    s.read_to_end(&mut out)?;
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    if status == 0 {
        return Err(std::io::Error::other(format!("no HTTP answer: {text:?}")));
    }
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Ok((status, body))
}
