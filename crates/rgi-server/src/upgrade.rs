//! Upgrading the server's own binary without refusing a connection, as
//! nginx's `USR2` and Pingora's graceful upgrade do.
//!
//! On `SIGUSR2` the running server starts its binary again (the one its
//! path names now: the new one after an install) with its listening
//! sockets passed as `LISTEN_FDS`, named `http` or `https`, and waits for
//! it to say `READY=1` on a private socket (`RGI_UPGRADE_READY`) once its
//! own daemons are ready. Only then does the old server stop accepting:
//! both accept from the same sockets meanwhile, so no connection is
//! refused. The old server drains (HTTP/1 clients are asked to reconnect
//! with `Connection: close`; see `drain-period`), finishes its requests and
//! stops its daemons. A new binary that fails to start or to get ready
//! changes nothing: the old one goes on serving, and the log says why.

use std::ffi::OsString;
use std::os::fd::OwnedFd;
use std::os::linux::net::SocketAddrExt;
use std::time::Duration;

use tokio::net::UnixDatagram;

/// Names the private socket a new binary says `READY=1` on.
pub(crate) const READY_ENV: &str = "RGI_UPGRADE_READY";

/// How long a new binary gets to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// The listening sockets a new binary inherits, each named for
/// `LISTEN_FDNAMES`.
pub(crate) struct Handover {
    pub(crate) sockets: Vec<(OwnedFd, &'static str)>,
}

/// Waits for `SIGUSR2` and starts a successor each time one comes; returns
/// the successor's pid once one is ready to serve.
pub(crate) async fn on_sigusr2(handover: Handover) -> u32 {
    let Ok(mut usr2) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined2()) else {
        return std::future::pending().await;
    };
    while usr2.recv().await.is_some() {
        tracing::info!("SIGUSR2: starting the new binary with this server's sockets");
        match start_successor(&handover).await {
            Ok(pid) => {
                tracing::info!(pid, "the new binary is ready; this server drains and stops");
                return pid;
            }
            Err(reason) => tracing::error!(%reason, "binary upgrade failed; this server goes on serving"),
        }
    }
    std::future::pending().await
}

async fn start_successor(handover: &Handover) -> Result<u32, String> {
    let name = format!("rgi-upgrade-{}-{:x}", std::process::id(), rand_suffix());
    let address = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())
        .map_err(|e| format!("cannot name the readiness socket: {e}"))?;
    let ready = std::os::unix::net::UnixDatagram::bind_addr(&address)
        .and_then(|s| {
            s.set_nonblocking(true)?;
            UnixDatagram::from_std(s)
        })
        .map_err(|e| format!("cannot open the readiness socket: {e}"))?;
    let fds = handover
        .sockets
        .iter()
        .map(|(fd, _)| fd.try_clone())
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(|e| format!("cannot copy the listening sockets: {e}"))?;
    let names: Vec<&str> = handover.sockets.iter().map(|(_, name)| *name).collect();
    let mut args: Vec<OsString> = std::env::args_os().collect();
    let program = if args.is_empty() { OsString::from("rgi-server") } else { args.remove(0) };
    // LISTEN_PID must be the new process's own pid, which only it knows:
    // the shell sets it and then becomes the binary, keeping its pid.
    let mut cmd = tokio::process::Command::new("/bin/sh");
    cmd.arg("-c")
        .arg("LISTEN_PID=$$ exec \"$0\" \"$@\"")
        .arg(&program)
        .args(args)
        .env("LISTEN_FDS", fds.len().to_string())
        .env("LISTEN_FDNAMES", names.join(":"))
        .env(READY_ENV, format!("@{name}"))
        .env_remove("LISTEN_PID");
    rgi_embedded::pass_listen_fds(&mut cmd, fds).map_err(|e| format!("cannot pass the sockets: {e}"))?;
    let mut child = cmd.spawn().map_err(|e| format!("cannot start {}: {e}", program.to_string_lossy()))?;
    let pid = child.id().ok_or("the new binary exited as it started")?;
    let mut buf = [0u8; 256];
    let outcome = tokio::time::timeout(READY_TIMEOUT, async {
        loop {
            tokio::select! {
                status = child.wait() => {
                    return Err(match status {
                        Ok(status) => format!("the new binary (pid {pid}) exited before it was ready: {status}"),
                        Err(e) => format!("cannot watch the new binary (pid {pid}): {e}"),
                    });
                }
                got = ready.recv(&mut buf) => {
                    // An error here would recur at once: give up rather than spin.
                    let n = got.map_err(|e| format!("cannot read the readiness socket: {e}"))?;
                    if String::from_utf8_lossy(&buf[..n]).lines().any(|l| l == "READY=1") {
                        return Ok(pid);
                    }
                }
            }
        }
    })
    .await;
    let reason = match outcome {
        Ok(Ok(pid)) => return Ok(pid),
        Ok(Err(reason)) => reason,
        Err(_) => format!("the new binary (pid {pid}) was not ready within {} s", READY_TIMEOUT.as_secs()),
    };
    // Not ready: it must not serve beside us half-started (a no-op when it
    // already exited).
    let _ = child.start_kill();
    let _ = child.wait().await;
    Err(reason)
}

/// A few random bits for the socket's name, so two upgrades never share
/// one (the address is abstract: nothing is left on disk).
fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now())
}

/// For a server started by an upgrade: waits until every group's first
/// processes are ready, before this server accepts a connection. A group
/// that cannot start ends the upgrade here, with nothing served: the
/// running server stays in charge.
pub(crate) async fn await_groups(groups: &[rgi_supervisor::SupervisedGroup]) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
    for g in groups {
        let mut rollout = g.rollout();
        loop {
            if matches!(*rollout.borrow(), rgi_supervisor::Rollout::Ready { .. }) {
                break;
            }
            if let rgi_supervisor::GroupHealth::Failed(reason) = g.group().health() {
                return Err(format!("group {} cannot start: {reason}", g.group().name));
            }
            // A failed start may be retried: look again at each change, and
            // now and then for the group giving up.
            let changed = tokio::time::timeout(Duration::from_millis(200), rollout.changed());
            if tokio::time::Instant::now() >= deadline {
                return Err(format!("group {} not ready within {} s", g.group().name, READY_TIMEOUT.as_secs()));
            }
            let _ = changed.await;
        }
    }
    Ok(())
}

/// Tells the server that started this one (an upgrade) that it is ready.
pub(crate) fn tell_predecessor() {
    let Some(target) = std::env::var_os(READY_ENV) else { return };
    let target = target.to_string_lossy().into_owned();
    let sent = target
        .strip_prefix('@')
        .ok_or_else(|| std::io::Error::other("not an abstract socket name"))
        .and_then(|name| std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()))
        .and_then(|address| {
            let socket = std::os::unix::net::UnixDatagram::unbound()?;
            socket.send_to_addr(b"READY=1", &address)
        });
    match sent {
        Ok(_) => tracing::info!("ready; the previous server stops accepting"),
        Err(e) => tracing::error!(socket = %target, error = %e, "cannot tell the previous server this one is ready"),
    }
}
