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
