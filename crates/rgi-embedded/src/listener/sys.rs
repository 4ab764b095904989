//! The listener's `unsafe` (with `systemd`'s clock read, the crate's only): turning an inherited descriptor number
//! into an owned socket.

use std::io;
use std::os::fd::{BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::FileTypeExt;
use std::path::Path;

use socket2::{Domain, SockRef, Type};

pub(super) enum Owned {
    Tcp(std::net::TcpListener),
    Unix(std::os::unix::net::UnixListener),
}

/// Checks that `fd` is open, a stream socket, and listening, then owns it
/// (close-on-exec, non-blocking). Returns what it is instead, in words.
pub(super) fn take_listening_socket(fd: RawFd) -> Result<Owned, String> {
    // SAFETY: fcntl(F_GETFD) only reads the descriptor table; an fd that is
    // not open gives EBADF, which is what we want to find out.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1 {
        return Err("not an open file descriptor".into());
    }
    // SAFETY: the descriptor was just seen open, and nothing in this
    // process closes descriptors it did not open; the borrow ends before
    // ownership is taken below.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    let sock = SockRef::from(&borrowed);
    let ty = sock.r#type().map_err(|e| match e.raw_os_error() {
        Some(libc::ENOTSOCK) => "not a socket".to_string(),
        _ => format!("cannot inspect it: {e}"),
    })?;
    if ty != Type::STREAM {
        return Err("a socket, but not a stream (TCP or Unix stream) socket".into());
    }
    if !sock.is_listener().map_err(|e| format!("cannot inspect it: {e}"))? {
        return Err("a stream socket that is not listening (a connection, not a listener)".into());
    }
    let domain = sock.domain().map_err(|e| format!("cannot inspect it: {e}"))?;
    // SAFETY: checked above to be an open listening socket; from here on
    // this process owns it and no other code refers to the number.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let socket = socket2::Socket::from(owned);
    socket.set_cloexec(true).map_err(|e| e.to_string())?;
    socket.set_nonblocking(true).map_err(|e| e.to_string())?;
    match domain {
        Domain::IPV4 | Domain::IPV6 => Ok(Owned::Tcp(socket.into())),
        Domain::UNIX => Ok(Owned::Unix(socket.into())),
        other => Err(format!("a listening socket of unsupported family {other:?}")),
    }
}

/// Whether `fd` is an open, listening stream socket, without taking it.
pub(super) fn is_listening_socket(fd: RawFd) -> bool {
    // SAFETY: as in take_listening_socket: fcntl only reads the table.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1 {
        return false;
    }
    // SAFETY: open (just checked); borrowed only for these calls.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    let sock = SockRef::from(&borrowed);
    sock.r#type().is_ok_and(|t| t == Type::STREAM) && sock.is_listener().unwrap_or(false)
}

/// Removes a Unix socket file nobody listens on; leaves anything else
/// alone (binding then fails with "address in use", naming the path).
pub(super) fn remove_stale_socket(path: &Path) -> io::Result<()> {
    let Ok(meta) = std::fs::symlink_metadata(path) else { return Ok(()) };
    if !meta.file_type().is_socket() {
        return Ok(());
    }
    match std::os::unix::net::UnixStream::connect(path) {
        Ok(_) => Err(io::Error::new(io::ErrorKind::AddrInUse, "another process is listening on this socket")),
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => std::fs::remove_file(path),
        Err(_) => Ok(()),
    }
}

/// Arranges for `fds` to be descriptors 3, 4, ... of the process `cmd`
/// starts, as `LISTEN_FDS` says (a binary upgrade hands its listeners on
/// so). Nothing else of this process's reaches the child: every other
/// descriptor it holds is close-on-exec.
pub(super) fn place_at_listen_fds(
    cmd: &mut tokio::process::Command,
    fds: Vec<OwnedFd>,
    start: RawFd,
) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // Above the targets, so that no dup2 in the child overwrites a source
    // it has yet to copy.
    let floor = start + RawFd::try_from(fds.len()).unwrap_or(RawFd::MAX - start);
    let mut high = Vec::with_capacity(fds.len());
    for fd in &fds {
        // SAFETY: F_DUPFD_CLOEXEC copies a descriptor we own to the lowest
        // free number at or above `floor`, close-on-exec.
        let copy = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, floor) };
        if copy == -1 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `copy` was just made and is owned by no one else.
        high.push(unsafe { OwnedFd::from_raw_fd(copy) });
    }
    let raw: Vec<RawFd> = high.iter().map(AsRawFd::as_raw_fd).collect();
    // SAFETY: `in_child` runs between fork and exec; it calls only dup2,
    // which is async-signal-safe, and allocates nothing (`raw` was made
    // before the fork). `high` lives in the closure until the command is
    // dropped, so the sources are open when the child copies them.
    unsafe {
        cmd.pre_exec(move || {
            let _sources = &high;
            in_child(&raw, start)
        })
    };
    Ok(())
}

fn in_child(sources: &[RawFd], start: RawFd) -> io::Result<()> {
    for (target, &source) in (start..).zip(sources) {
        // SAFETY: dup2 copies an open descriptor onto `target`, clearing
        // close-on-exec there; it touches no memory.
        if unsafe { libc::dup2(source, target) } == -1 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}
