//! A child process whose stderr is collected and which is stopped by PID.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::RecvTimeoutError;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running child: its stderr is kept as a log, and dropping it stops
/// the process (SIGTERM, then SIGKILL after 10 s) so that no test leaves
/// one behind.
#[derive(Debug)]
pub struct LoggedChild {
    child: Child,
    log: Arc<Mutex<String>>,
    name: String,
}

impl LoggedChild {
    /// Spawns `command` (stdin and stdout null, stderr collected) and
    /// waits, at most `limit`, for the stderr line from which `address`
    /// extracts the address it listens on.
    pub fn spawn(
        name: &str,
        mut command: Command,
        limit: Duration,
        address: impl Fn(&str) -> Option<String> + Send + 'static,
    ) -> (Self, SocketAddr) {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(addr) = address(&line) {
                    let _ = tx.send(addr);
                }
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let mut this = Self { child, log, name: name.to_string() };
        let addr = match rx.recv_timeout(limit) {
            Ok(addr) => addr,
            Err(RecvTimeoutError::Timeout) => {
                panic!("{name} did not start within {limit:?}; its log:\n{}", this.log())
            }
            // Its stderr closed before it said where it listens: it exited
            // (or is exiting). Say how at once, not when `limit` runs out.
            Err(RecvTimeoutError::Disconnected) => {
                let status = this.wait_exit(Duration::from_secs(10));
                panic!("{name} exited before it started ({status}); its log:\n{}", this.log())
            }
        };
        let addr = addr.parse().unwrap_or_else(|e| panic!("{name} printed a bad address {addr:?}: {e}"));
        (this, addr)
    }

    /// How the child ended, waiting at most `limit` for it to end.
    fn wait_exit(&mut self, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return status.to_string(),
                Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
                Ok(None) => return format!("its stderr closed but it still runs after {limit:?}"),
                Err(e) => return format!("cannot wait for it: {e}"),
            }
        }
    }

    /// Everything the child wrote to stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// The child's PID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` to the child.
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on our own child's pid, which it keeps until reaped.
        let rc = unsafe { libc::kill(i32::try_from(self.pid()).unwrap(), signal) };
        assert_eq!(rc, 0, "kill({}, {signal})", self.pid());
    }

    /// Waits until `check(log)` holds, at most `limit`.
    pub fn wait_log(&self, limit: Duration, what: &str, check: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + limit;
        while !check(&self.log()) {
            assert!(Instant::now() < deadline, "{what} did not happen within {limit:?}; log:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the child with SIGTERM and returns its exit status; fails if
    /// it is still running after 30 s.
    pub fn stop(&mut self) -> ExitStatus {
        self.signal(libc::SIGTERM);
        self.wait(Duration::from_secs(30))
    }

    /// Waits for the child to exit (a signal was sent already); fails if it
    /// is still running after `limit`.
    pub fn wait(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "{} did not exit within {limit:?}", self.name);
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for LoggedChild {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            // SAFETY: kill(2) on our own, not yet reaped, child.
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

/// The address in an rgi server's "listening addr=..." log line, for
/// [`LoggedChild::spawn`].
pub fn listening_addr(line: &str) -> Option<String> {
    line.split("listening addr=").nth(1).and_then(|rest| rest.split_whitespace().next()).map(str::to_string)
}

/// Every address a log says a server listens on, in the order announced.
pub fn listening_addrs(log: &str) -> Vec<String> {
    log.lines().filter_map(listening_addr).collect()
}

/// Whether process `pid` is alive (and not a zombie).
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| s.rsplit(')').next().and_then(|r| r.split_whitespace().next()) != Some("Z"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_that_exits_before_starting_is_reported_at_once_with_its_status_and_log() {
        let mut command = Command::new("/bin/sh");
        command.args(["-c", "echo 'cannot load: no such thing' >&2; exit 3"]);
        let started = Instant::now();
        let spawn = std::panic::AssertUnwindSafe(|| {
            LoggedChild::spawn("quitter", command, Duration::from_secs(60), |_| None::<String>)
        });
        let panic = std::panic::catch_unwind(spawn).expect_err("spawn should fail");
        let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(started.elapsed() < Duration::from_secs(10), "reported after {:?}", started.elapsed());
        assert!(message.contains("exited before it started"), "{message}");
        assert!(message.contains("exit status: 3"), "{message}");
        assert!(message.contains("cannot load: no such thing"), "{message}");
    }
}
