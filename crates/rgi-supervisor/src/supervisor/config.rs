//! A group's configuration and the supervisor's errors.

use std::path::PathBuf;
use std::time::Duration;

use crate::pool::PoolConfig;

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
    /// Recycle a process whose resident memory (RSS) grows past this many
    /// bytes: a replacement starts first, then it finishes its requests.
    pub max_rss: Option<u64>,
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
            max_rss: None,
            graceful_timeout: Duration::from_secs(30),
            startup_timeout: Duration::from_secs(30),
            reload_file: None,
            dev: false,
            pool: PoolConfig::default(),
        }
    }
}
