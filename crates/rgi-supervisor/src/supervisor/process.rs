//! Starting one daemon process, and saying how it ended.

use std::os::fd::OwnedFd;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{ExitStatus, Stdio};

use super::{GroupConfig, SupervisorError};
use crate::sys;

/// The exit status of a daemon whose application failed to load (DEP-4).
pub const EXIT_LOAD_FAILED: i32 = 78;

/// Who the daemons run as, resolved once.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Ids {
    pub(crate) uid: Option<u32>,
    pub(crate) gid: Option<u32>,
}

impl Ids {
    pub(crate) fn resolve(config: &GroupConfig) -> Result<Self, SupervisorError> {
        let bad = |reason: String| SupervisorError::Config { group: config.name.clone(), reason };
        let mut ids = Ids::default();
        if let Some(user) = &config.user {
            let (uid, gid) = rgi_daemon::user_ids(user).map_err(|e| bad(format!("user {user:?}: {e}")))?;
            ids.uid = Some(uid);
            ids.gid = Some(gid);
        }
        if let Some(group) = &config.group {
            ids.gid = Some(rgi_daemon::group_id(group).map_err(|e| bad(format!("group {group:?}: {e}")))?);
        }
        let me = sys::euid();
        if me != 0 && ids.uid.is_some_and(|u| u != me) {
            return Err(bad(format!("only root can run daemons as another user (this is uid {me})")));
        }
        if me == 0 && ids.uid.is_none() && !config.dev {
            tracing::warn!(group = %config.name, "daemons will run as root: set `user` to drop privileges");
        }
        Ok(ids)
    }
}

/// Starts one daemon with `listener` as its fd 0 (DMN-1).
pub(crate) fn spawn(
    config: &GroupConfig,
    ids: Ids,
    listener: std::os::unix::net::UnixListener,
    slot: usize,
    processes: usize,
) -> Result<tokio::process::Child, SupervisorError> {
    let (program, args) = config
        .command
        .split_first()
        .ok_or_else(|| SupervisorError::Config { group: config.name.clone(), reason: "empty command".into() })?;
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args);
    let display = config.display_name.clone().unwrap_or_else(|| format!("rgi-daemon: {} {slot}", config.name));
    cmd.arg0(display);
    for var in ["LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "RGI_BIND", "RGI_FASTCGI", "RGI_SETTINGS"] {
        cmd.env_remove(var);
    }
    cmd.env("RGI_GROUP", &config.name)
        .env("RGI_CONCURRENCY", config.concurrency.to_string())
        .env("RGI_PROCESSES", processes.to_string())
        // After SIGTERM, what the daemon's open connections get (upgraded
        // ones included) before it closes them: the group's own timeout.
        .env("RGI_GRACE_PERIOD", format!("{}", config.graceful_timeout.as_secs_f64()));
    if let Some(threads) = config.threads {
        cmd.env("RGI_THREADS", threads.to_string());
    }
    if let Some(settings) = &config.settings {
        cmd.env("RGI_SETTINGS", settings);
    }
    if config.dev {
        cmd.env("RGI_DEPLOYMENT", "dev");
    }
    for (k, v) in &config.env {
        cmd.env(k, v);
    }
    if let Some(dir) = &config.working_dir {
        cmd.current_dir(dir);
    }
    cmd.stdin(Stdio::from(OwnedFd::from(listener))).stdout(Stdio::piped()).stderr(Stdio::piped());
    if let Some(uid) = ids.uid {
        cmd.uid(uid);
    }
    if let Some(gid) = ids.gid {
        cmd.gid(gid);
    }
    // Its own process group: a Ctrl-C meant for the server reaches the
    // supervisor, which stops the daemons in order.
    cmd.process_group(0);
    sys::prepare_child(&mut cmd, config.umask);
    let child = cmd.spawn().map_err(|e| SupervisorError::Spawn {
        group: config.name.clone(),
        program: program.clone(),
        source: e,
    })?;
    if let (Some(pid), Some(uid)) = (child.id(), ids.uid) {
        verify_ids(pid, uid, ids.gid).map_err(|reason| SupervisorError::Privileges {
            group: config.name.clone(),
            pid,
            reason,
        })?;
    }
    Ok(child)
}

/// Checks from `/proc` that the daemon runs as the user and group it was
/// meant to (real, effective, saved and filesystem ids alike) (DMN-11).
fn verify_ids(pid: u32, uid: u32, gid: Option<u32>) -> Result<(), String> {
    let status = std::fs::read_to_string(Path::new("/proc").join(pid.to_string()).join("status"))
        .map_err(|e| format!("cannot read its /proc status: {e}"))?;
    let ids = |key: &str| -> Vec<u32> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .map(|rest| rest.split_whitespace().filter_map(|n| n.parse().ok()).collect())
            .unwrap_or_default()
    };
    let uids = ids("Uid:");
    if uids.len() != 4 || uids.iter().any(|&u| u != uid) {
        return Err(format!("its uids are {uids:?}, expected {uid} four times"));
    }
    if let Some(gid) = gid {
        let gids = ids("Gid:");
        if gids.len() != 4 || gids.iter().any(|&g| g != gid) {
            return Err(format!("its gids are {gids:?}, expected {gid} four times"));
        }
    }
    if ids("Groups:").iter().any(|&g| Some(g) != gid) {
        return Err("it kept supplementary groups".into());
    }
    Ok(())
}

/// How a process ended, and the likely cause (DMN-9).
pub fn describe_exit(status: ExitStatus) -> String {
    if let Some(code) = status.code() {
        return match code {
            0 => "exited with status 0".to_string(),
            EXIT_LOAD_FAILED => format!("exited with status {code}: its application failed to load"),
            c => format!("exited with status {c}"),
        };
    }
    let Some(signal) = status.signal() else { return "ended in an unknown way".to_string() };
    let core = if status.core_dumped() { ", core dumped" } else { "" };
    let (name, cause) = match signal {
        libc::SIGKILL => ("SIGKILL", ": possibly out of memory (the kernel's OOM killer), or killed by hand"),
        libc::SIGSEGV => ("SIGSEGV", ": an invalid memory access"),
        libc::SIGBUS => ("SIGBUS", ": an invalid memory access"),
        libc::SIGABRT => ("SIGABRT", ": aborted, e.g. a panic while panicking or with panic = \"abort\""),
        libc::SIGILL => ("SIGILL", ": an illegal instruction"),
        libc::SIGFPE => ("SIGFPE", ": an arithmetic fault"),
        libc::SIGTERM => ("SIGTERM", ""),
        libc::SIGINT => ("SIGINT", ""),
        libc::SIGHUP => ("SIGHUP", ""),
        _ => ("signal", ""),
    };
    format!("was killed by {name} ({signal}){core}{cause}")
}
