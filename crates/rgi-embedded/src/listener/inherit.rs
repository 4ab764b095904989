//! Sockets handed over by a parent process (DEP-1, DEP-3): the systemd
//! `LISTEN_FDS` protocol, and a FastCGI listening socket on fd 0.

use std::os::fd::RawFd;

use super::{sys, Listener};
use crate::error::Error;

/// The first descriptor of `LISTEN_FDS` (systemd's `SD_LISTEN_FDS_START`).
const LISTEN_FDS_START: RawFd = 3;

/// The listening sockets passed with `LISTEN_FDS`, if `LISTEN_PID` names
/// this process; `Ok(None)` when there are none for us.
///
/// Each is checked to be a listening stream socket (DEP-3). The variables
/// are left in place; entry points (`rgi::run`) remove them before
/// spawning anything, so children do not mistake them for their own.
pub fn from_listen_fds(listen_pid: Option<&str>, listen_fds: Option<&str>) -> Result<Option<Vec<Listener>>, Error> {
    let (Some(pid), Some(fds)) = (listen_pid, listen_fds) else { return Ok(None) };
    let pid: u32 = pid.trim().parse().map_err(|_| Error::Activation(format!("LISTEN_PID={pid:?} is not a pid")))?;
    if pid != std::process::id() {
        return Ok(None);
    }
    let count: RawFd =
        fds.trim().parse().map_err(|_| Error::Activation(format!("LISTEN_FDS={fds:?} is not a count")))?;
    if !(1..=64).contains(&count) {
        return Err(Error::Activation(format!("LISTEN_FDS={count} is outside 1..=64")));
    }
    (LISTEN_FDS_START..LISTEN_FDS_START + count).map(from_fd).collect::<Result<Vec<_>, _>>().map(Some)
}

/// Takes ownership of `fd` if it is a listening stream socket (TCP or
/// Unix), and fails naming what it is otherwise (DEP-3). Needs no async
/// runtime: entry points inherit sockets before starting one.
pub fn from_fd(fd: RawFd) -> Result<Listener, Error> {
    match sys::take_listening_socket(fd).map_err(|reason| Error::Inherited { fd, reason })? {
        sys::Owned::Tcp(l) => Ok(Listener::std_tcp(l)),
        sys::Owned::Unix(l) => Ok(Listener::std_unix(l)),
    }
}

/// Whether `fd` is a listening stream socket, without taking it: how an
/// entry point tells a FastCGI daemon start (a socket on fd 0) from a
/// terminal or `/dev/null` there (DEP-1).
pub fn is_listening_socket(fd: RawFd) -> bool {
    sys::is_listening_socket(fd)
}

/// Makes `listeners` the sockets the process `cmd` starts inherits, at
/// descriptors 3, 4, ... (`LISTEN_FDS` order); the caller sets
/// `LISTEN_FDS` (and `LISTEN_PID` to the child's pid, which only the
/// child knows: `sh -c 'LISTEN_PID=$$ exec ...'` does it).
pub fn pass_listen_fds(cmd: &mut tokio::process::Command, listeners: Vec<std::os::fd::OwnedFd>) -> std::io::Result<()> {
    sys::place_at_listen_fds(cmd, listeners, LISTEN_FDS_START)
}
