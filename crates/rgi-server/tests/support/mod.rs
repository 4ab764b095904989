//! Helpers for tests that run the real `rgi-server` binary.
#![allow(dead_code, reason = "each test file uses a different subset")]
#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A workspace binary, brought up to date once per test process (cargo
/// builds other packages' binaries only when asked).
pub(crate) fn binary(name: &str, package: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap().to_path_buf();
    static BUILT: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if !built.iter().any(|p| p == package) {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = Command::new(cargo);
        build.args(["build", "-q", "-p", package]);
        if dir.ends_with("release") {
            build.arg("--release");
        }
        let status = build.status().unwrap();
        assert!(status.success(), "cargo build -p {package} failed");
        built.push(package.to_string());
    }
    dir.join(name)
}

pub(crate) fn test_app() -> PathBuf {
    binary("rgi-test-app", "rgi-test-app")
}

/// `rgi-server` running a configuration, stopped (by PID) when dropped.
pub(crate) struct ServerProc {
    pub(crate) child: Child,
    pub(crate) addr: SocketAddr,
    pub(crate) log: Arc<Mutex<String>>,
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
            .replace("{dir}", &dir.path().display().to_string());
        let path = dir.path().join("rgi.toml");
        std::fs::write(&path, text).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_rgi-server"))
            .arg("--config")
            .arg(&path)
            .args(["--listen", "127.0.0.1:0"])
            .env("RGI_LOG", "info")
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
                if let Some(rest) = line.split("listening addr=").nth(1) {
                    let _ = tx.send(rest.split_whitespace().next().unwrap_or("").to_string());
                }
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("rgi-server did not start; its log:\n{}", log.lock().unwrap()));
        Self { child, addr: addr.parse().unwrap(), log, dir }
    }

    pub(crate) fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until `check(log)` holds, at most `limit`.
    pub(crate) fn wait_log(&self, limit: Duration, what: &str, check: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + limit;
        while !check(&self.log()) {
            assert!(Instant::now() < deadline, "{what} did not happen within {limit:?}; log:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The status page as text.
    pub(crate) fn status(&self) -> String {
        get(self.addr, "/server-status").1
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
        // SAFETY: kill(2) on our own child's pid.
        let rc = unsafe { libc::kill(i32::try_from(self.pid()).unwrap(), signal) };
        assert_eq!(rc, 0);
    }

    /// Stops the server with SIGTERM and returns its exit status.
    pub(crate) fn stop(mut self) -> std::process::ExitStatus {
        self.signal(libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "rgi-server did not stop");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.signal(libc::SIGTERM);
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

/// One GET with `Connection: close`: (status, body). Status 0 when the
/// connection failed.
pub(crate) fn get(addr: SocketAddr, target: &str) -> (u16, String) {
    request(addr, &format!("GET {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"))
}

pub(crate) fn request(addr: SocketAddr, raw: &str) -> (u16, String) {
    let Ok(mut s) = TcpStream::connect(addr) else { return (0, String::new()) };
    let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
    if s.write_all(raw.as_bytes()).is_err() {
        return (0, String::new());
    }
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    parse(&out)
}

fn parse(out: &[u8]) -> (u16, String) {
    let text = String::from_utf8_lossy(out).into_owned();
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

/// A kept-alive HTTP/1.1 client connection.
pub(crate) struct KeepAlive {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl KeepAlive {
    pub(crate) fn connect(addr: SocketAddr) -> std::io::Result<Self> {
        let stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        Ok(Self { stream, buf: Vec::new() })
    }

    /// GET on this connection: (status, body), or an error if the
    /// connection failed in any way.
    pub(crate) fn get(&mut self, target: &str) -> std::io::Result<(u16, String)> {
        self.stream.write_all(format!("GET {target} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())?;
        loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buf[..end]).into_owned();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string()))
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(|| std::io::Error::other(format!("no content-length in {head:?}")))?;
                while self.buf.len() < end + 4 + len {
                    self.fill()?;
                }
                let body = String::from_utf8_lossy(&self.buf[end + 4..end + 4 + len]).into_owned();
                self.buf.drain(..end + 4 + len);
                let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
                return Ok((status, body));
            }
            self.fill()?;
        }
    }

    fn fill(&mut self) -> std::io::Result<()> {
        let mut chunk = [0u8; 16384];
        let n = self.stream.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "connection closed"));
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }
}
