//! The only module with `unsafe`: user and group lookups, what a
//! daemon's process does between fork and exec, and the two socket calls
//! the standard library and tokio do not offer as wanted (see `socket`).

use std::ffi::CString;
use std::io;

/// The uid and primary gid of user `name`.
pub(crate) fn user_ids(name: &str) -> io::Result<(u32, u32)> {
    let c_name = CString::new(name).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "user name has a NUL"))?;
    let mut buf = vec![0u8; 16 * 1024];
    // SAFETY: passwd is plain old data; getpwnam_r writes into `pwd` and
    // `buf` (whose length we pass) and sets `result` to &pwd or null.
    unsafe {
        let mut pwd: libc::passwd = std::mem::zeroed();
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let rc = libc::getpwnam_r(c_name.as_ptr(), &mut pwd, buf.as_mut_ptr().cast(), buf.len(), &mut result);
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        if result.is_null() {
            return Err(io::Error::new(io::ErrorKind::NotFound, format!("no user named {name:?}")));
        }
        Ok((pwd.pw_uid, pwd.pw_gid))
    }
}

/// The gid of group `name`.
pub(crate) fn group_id(name: &str) -> io::Result<u32> {
    let c_name = CString::new(name).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "group name has a NUL"))?;
    let mut buf = vec![0u8; 16 * 1024];
    // SAFETY: as for getpwnam_r above, with struct group.
    unsafe {
        let mut grp: libc::group = std::mem::zeroed();
        let mut result: *mut libc::group = std::ptr::null_mut();
        let rc = libc::getgrnam_r(c_name.as_ptr(), &mut grp, buf.as_mut_ptr().cast(), buf.len(), &mut result);
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        if result.is_null() {
            return Err(io::Error::new(io::ErrorKind::NotFound, format!("no group named {name:?}")));
        }
        Ok(grp.gr_gid)
    }
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

/// This process's effective uid.
pub(crate) fn euid() -> u32 {
    // SAFETY: geteuid cannot fail and touches no memory.
    unsafe { libc::geteuid() }
}

/// Changes the group owner of a path (for sockets a front in that group
/// connects to).
pub(crate) fn chown_group(path: &std::path::Path, gid: u32) -> io::Result<()> {
    std::os::unix::fs::chown(path, None, Some(gid))
}

/// A handle on one child process that stays valid after the child is
/// reaped: a signal sent through it can never reach another process that
/// was given the same pid since (Linux pidfd). Where pidfds are missing
/// (kernels before 5.3) it falls back to the pid, which is only as safe as
/// the caller's bookkeeping.
#[derive(Debug)]
pub(crate) struct ProcessHandle {
    pid: u32,
    pidfd: Option<std::os::fd::OwnedFd>,
}

impl ProcessHandle {
    /// Opens a handle on `pid`, which must be a child of ours that has not
    /// been waited for yet (so the pid cannot have been reused).
    pub(crate) fn open(pid: u32) -> Self {
        use std::os::fd::FromRawFd;
        let raw = libc::pid_t::try_from(pid).ok().map(|p| {
            // SAFETY: pidfd_open(2) takes a pid and flags, touches no memory
            // of ours, and returns a new descriptor or -1.
            unsafe { libc::syscall(libc::SYS_pidfd_open, p, 0) }
        });
        let pidfd = raw.filter(|&fd| fd >= 0).and_then(|fd| libc::c_int::try_from(fd).ok()).map(|fd| {
            // SAFETY: `fd` was just returned by pidfd_open and nothing else owns it.
            unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) }
        });
        Self { pid, pidfd }
    }

    /// Sends `signal`; an error (`ESRCH`) if the process has already exited.
    pub(crate) fn signal(&self, signal: i32) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        let rc = match &self.pidfd {
            // SAFETY: pidfd_send_signal(2) with a null siginfo reads no memory.
            Some(fd) => unsafe {
                libc::syscall(
                    libc::SYS_pidfd_send_signal,
                    fd.as_raw_fd(),
                    signal,
                    std::ptr::null::<libc::siginfo_t>(),
                    0,
                )
            },
            None => {
                let pid = libc::pid_t::try_from(self.pid)
                    .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "pid out of range"))?;
                // SAFETY: kill(2) touches no memory.
                libc::c_long::from(unsafe { libc::kill(pid, signal) })
            }
        };
        if rc == -1 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

/// The resident memory of process `pid` in bytes, from `/proc`.
pub(crate) fn rss_bytes(pid: u32) -> Option<u64> {
    let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf reads a system constant.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * u64::try_from(page).ok().filter(|&p| p > 0).unwrap_or(4096))
}

/// Prepares a command so that, in the child between fork and exec, the
/// umask is set, the child dies with its supervisor, and no descriptor
/// but 0, 1 and 2 survives the exec (DMN-10): descriptors this process
/// inherited without close-on-exec would otherwise reach every daemon.
pub(crate) fn prepare_child(cmd: &mut tokio::process::Command, umask: Option<u32>) {
    // Read before fork: the child compares it with its parent after.
    let parent = std::process::id();
    // SAFETY: the closure runs in the forked child before exec and calls
    // only async-signal-safe functions (umask, prctl, getppid, close_range,
    // getrlimit, fcntl) and touches no memory shared with other threads.
    unsafe {
        cmd.pre_exec(move || {
            if let Some(mask) = umask {
                libc::umask(mask as libc::mode_t);
            }
            // The daemon gets SIGTERM if the supervisor dies without
            // stopping it, so no orphan serves on.
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM, 0, 0, 0) == -1 {
                return Err(io::Error::last_os_error());
            }
            // The supervisor may already have died before prctl took effect.
            // (No allocation here, between fork and exec: an OS error code.)
            if libc::getppid() != parent as libc::pid_t {
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
            // Close-on-exec rather than close: std's own pipe that reports
            // a failed exec must stay open until the exec.
            let cloexec = libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, libc::CLOSE_RANGE_CLOEXEC);
            if cloexec != 0 {
                let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
                let max = if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
                    limit.rlim_cur.min(65_536)
                } else {
                    4096
                };
                for fd in 3..max as libc::c_int {
                    let flags = libc::fcntl(fd, libc::F_GETFD);
                    if flags >= 0 {
                        libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC);
                    }
                }
            }
            Ok(())
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_handle_does_not_signal_a_process_that_was_reaped() {
        let mut child = std::process::Command::new("/bin/sleep").arg("30").spawn().expect("sleep");
        let handle = ProcessHandle::open(child.id());
        handle.signal(libc::SIGKILL).expect("the child is there");
        child.wait().expect("reaped");
        // The pid may now belong to anyone; the handle must not reach it.
        let err = handle.signal(libc::SIGTERM).expect_err("a reaped child");
        assert_eq!(err.raw_os_error(), Some(libc::ESRCH), "{err}");
    }
}
