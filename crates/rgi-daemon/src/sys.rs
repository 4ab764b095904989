//! The only module with `unsafe`: user and group lookups, and the socket
//! calls the standard library and tokio do not offer as wanted (see
//! `socket`). Each `unsafe` block holds one foreign call.

use std::ffi::CString;
use std::io;

/// The uid and primary gid of user `name`.
pub(crate) fn user_ids(name: &str) -> io::Result<(u32, u32)> {
    let c_name = CString::new(name).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "user name has a NUL"))?;
    let mut buf = vec![0u8; 16 * 1024];
    // SAFETY: passwd is plain old data, for which all zeroes is a value.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: getpwnam_r writes only into `pwd` and `buf` (whose length we
    // pass) and sets `result` to &pwd or null.
    let rc = unsafe { libc::getpwnam_r(c_name.as_ptr(), &mut pwd, buf.as_mut_ptr().cast(), buf.len(), &mut result) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    if result.is_null() {
        return Err(io::Error::new(io::ErrorKind::NotFound, format!("no user named {name:?}")));
    }
    Ok((pwd.pw_uid, pwd.pw_gid))
}

/// The gid of group `name`.
pub(crate) fn group_id(name: &str) -> io::Result<u32> {
    let c_name = CString::new(name).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "group name has a NUL"))?;
    let mut buf = vec![0u8; 16 * 1024];
    // SAFETY: group is plain old data, for which all zeroes is a value.
    let mut grp: libc::group = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::group = std::ptr::null_mut();
    // SAFETY: as for getpwnam_r above, with struct group.
    let rc = unsafe { libc::getgrnam_r(c_name.as_ptr(), &mut grp, buf.as_mut_ptr().cast(), buf.len(), &mut result) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    if result.is_null() {
        return Err(io::Error::new(io::ErrorKind::NotFound, format!("no group named {name:?}")));
    }
    Ok(grp.gr_gid)
}

/// Registers `inner` with the runtime's reactor for `interest` only.
pub(crate) fn register<T: std::os::fd::AsRawFd>(
    inner: T,
    interest: tokio::io::Interest,
) -> io::Result<tokio::io::unix::AsyncFd<T>> {
    // SAFETY: every `T` registered (std sockets, `OwnedFd`) owns its
    // descriptor, keeps it open until dropped and always returns the same
    // one, which is what the registration requires.
    unsafe { tokio::io::unix::AsyncFd::register_with_interest(inner, interest) }.map_err(io::Error::from)
}

/// Accepts a connection on `listener`, already non-blocking and
/// close-on-exec (one call, where std's accept needs a second to set
/// non-blocking mode).
pub(crate) fn accept_nonblocking(listener: std::os::fd::BorrowedFd<'_>) -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::{AsRawFd, FromRawFd};
    // SAFETY: accept4 with null address pointers writes no memory; on
    // success it returns a new descriptor that nothing else owns.
    let fd = unsafe {
        libc::accept4(
            listener.as_raw_fd(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by accept4 and is owned by no one else.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}

/// Reads from a non-blocking socket into the unfilled part of `buf`
/// without zeroing it first (a new connection's buffer is 8 KiB of
/// uninitialised memory, and zeroing it cost more than the read).
pub(crate) fn recv_into(socket: std::os::fd::BorrowedFd<'_>, buf: &mut tokio::io::ReadBuf<'_>) -> io::Result<()> {
    // SAFETY: recv writes only initialised bytes, and only into the
    // unfilled part it is given; nothing is de-initialised.
    let unfilled = unsafe { buf.unfilled_mut() };
    let n = socket2::SockRef::from(&socket).recv(unfilled)?;
    // SAFETY: recv initialised the first `n` bytes of the unfilled part.
    unsafe { buf.assume_init(n) };
    buf.advance(n);
    Ok(())
}

/// The first byte waiting on a non-blocking socket, left there; `None` at
/// end of stream.
pub(crate) fn peek_byte(socket: std::os::fd::BorrowedFd<'_>) -> io::Result<Option<u8>> {
    use std::os::fd::AsRawFd;
    let mut byte = 0u8;
    // SAFETY: recv writes at most one byte, into `byte`, which lives
    // across the call.
    let n = unsafe { libc::recv(socket.as_raw_fd(), (&raw mut byte).cast(), 1, libc::MSG_PEEK) };
    match n {
        n if n < 0 => Err(io::Error::last_os_error()),
        0 => Ok(None),
        _ => Ok(Some(byte)),
    }
}
