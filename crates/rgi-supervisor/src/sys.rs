//! The only module with `unsafe`: signals through a pidfd, and what a
//! daemon's process does between fork and exec. Each `unsafe` block holds
//! one foreign call.

use std::io;

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
    // SAFETY: `in_child` runs in the forked child before exec; it calls
    // only async-signal-safe functions, allocates nothing and touches no
    // memory shared with other threads.
    unsafe { cmd.pre_exec(move || in_child(parent, umask)) };
}

/// What a daemon's process does between fork and exec (see
/// [`prepare_child`]): no allocation, async-signal-safe calls only.
fn in_child(parent: u32, umask: Option<u32>) -> io::Result<()> {
    if let Some(mask) = umask {
        // SAFETY: umask only sets the process's mask.
        unsafe { libc::umask(mask as libc::mode_t) };
    }
    // The daemon gets SIGTERM if the supervisor dies without stopping it,
    // so no orphan serves on.
    // SAFETY: PR_SET_PDEATHSIG takes a signal number and touches no memory.
    if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM, 0, 0, 0) } == -1 {
        return Err(io::Error::last_os_error());
    }
    // The supervisor may already have died before prctl took effect. (An
    // OS error code, not a message: nothing is allocated here.)
    // SAFETY: getppid cannot fail and touches no memory.
    if unsafe { libc::getppid() } != parent as libc::pid_t {
        return Err(io::Error::from_raw_os_error(libc::ESRCH));
    }
    // Close-on-exec rather than close: std's own pipe that reports a failed
    // exec must stay open until the exec.
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets descriptor flags.
    let cloexec = unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, libc::CLOSE_RANGE_CLOEXEC) };
    if cloexec != 0 {
        // Kernels before 5.11: mark each descriptor up to the limit.
        let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: getrlimit writes only into `limit`.
        let max = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0 {
            limit.rlim_cur.min(65_536)
        } else {
            4096
        };
        for fd in 3..max as libc::c_int {
            // SAFETY: F_GETFD and F_SETFD read and set a descriptor's flags;
            // a closed descriptor makes them fail harmlessly.
            let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
            if flags >= 0 {
                // SAFETY: as above.
                unsafe { libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC) };
            }
        }
    }
    Ok(())
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
