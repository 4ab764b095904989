//! What the group loop does to processes, behind one seam: the OS in
//! production ([`OsProcesses`]), a table of pretend processes in the
//! loop's unit tests, so its decisions (respawn, backoff, give-up,
//! recycle, reload order) are tested in milliseconds.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rand::Rng;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::mpsc;

use crate::pool::BackendAddr;
use crate::sys;

use super::group_loop::Event;
use super::process::{self, Ids};
use super::{GroupConfig, SocketDir};

/// The last lines a process wrote to stderr, for the report of its exit.
pub(super) type StderrTail = Arc<Mutex<VecDeque<String>>>;

/// How long an exit waits for the rest of the process's stderr.
const STDERR_DRAIN: Duration = Duration::from_millis(500);

/// A process just started.
pub(super) struct Spawned {
    pub(super) pid: u32,
    /// Where it takes requests.
    pub(super) addr: BackendAddr,
    pub(super) stderr_tail: StderrTail,
}

/// Starts, signals and measures a group's processes. A started process
/// reports its readiness ([`Event::Ready`] or [`Event::NotReady`]) and
/// its exit ([`Event::Exited`]) on `events`.
pub(super) trait Processes: Send + 'static {
    /// Starts the process for `slot` of `generation`; `Err` names why it
    /// could not start.
    fn spawn(&mut self, slot: usize, generation: u64, events: &mpsc::UnboundedSender<Event>)
        -> Result<Spawned, String>;

    /// Sends `signal` to `pid`, if it is still one of ours.
    fn signal(&mut self, pid: u32, signal: i32);

    /// Forgets `pid`, which has exited (its socket is removed).
    fn forget(&mut self, pid: u32);

    /// Resident memory of `pid` in bytes.
    fn rss(&self, pid: u32) -> Option<u64>;
}

/// Real processes, each listening on a socket in the group's directory.
pub(super) struct OsProcesses {
    config: GroupConfig,
    ids: Ids,
    dir: Arc<SocketDir>,
    /// Signals go through the handle, never through a bare pid that the
    /// exit task may already have reaped (and the kernel handed on).
    children: HashMap<u32, (sys::ProcessHandle, PathBuf)>,
}

impl OsProcesses {
    pub(super) fn new(config: GroupConfig, ids: Ids, dir: Arc<SocketDir>) -> Self {
        Self { config, ids, dir, children: HashMap::new() }
    }
}

impl Processes for OsProcesses {
    fn spawn(
        &mut self,
        slot: usize,
        generation: u64,
        events: &mpsc::UnboundedSender<Event>,
    ) -> Result<Spawned, String> {
        let nonce: u32 = rand::rng().random();
        let socket_name = format!("{}-{generation}-{slot}-{nonce:08x}.sock", self.config.name);
        let (socket, mut child) = self
            .dir
            .bind(&socket_name)
            .and_then(|(socket, listener)| {
                process::spawn(&self.config, self.ids, listener, slot, self.config.processes)
                    .map(|child| (socket, child))
            })
            .map_err(|err| err.to_string())?;
        let Some(pid) = child.id() else { return Err("exited as it started".into()) };
        // Opened before the exit task may wait for (and so reap) the child.
        let handle = sys::ProcessHandle::open(pid);
        let stderr_tail = Arc::new(Mutex::new(VecDeque::new()));
        if let Some(out) = child.stdout.take() {
            tokio::spawn(forward_output(out, self.config.name.clone(), pid, None));
        }
        let stderr_done = child.stderr.take().map(|err| {
            tokio::spawn(forward_output(err, self.config.name.clone(), pid, Some(Arc::clone(&stderr_tail))))
        });
        let exit_events = events.clone();
        tokio::spawn(async move {
            if let Ok(status) = child.wait().await {
                // The exit report quotes the last stderr lines: let the
                // reader get to the end of the pipe first (bounded, since
                // a process the daemon started may still hold it open).
                if let Some(done) = stderr_done {
                    let _ = tokio::time::timeout(STDERR_DRAIN, done).await;
                }
                let _ = exit_events.send(Event::Exited { pid, status });
            }
        });
        let events = events.clone();
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
        self.children.insert(pid, (handle, socket.clone()));
        Ok(Spawned { pid, addr: BackendAddr::Unix(socket), stderr_tail })
    }

    fn signal(&mut self, pid: u32, signal: i32) {
        if let Some((handle, _)) = self.children.get(&pid) {
            let _ = handle.signal(signal);
        }
    }

    fn forget(&mut self, pid: u32) {
        if let Some((_, socket)) = self.children.remove(&pid) {
            let _ = std::fs::remove_file(socket);
        }
    }

    fn rss(&self, pid: u32) -> Option<u64> {
        sys::rss_bytes(pid)
    }
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
