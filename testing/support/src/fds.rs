//! Handing a socket to a child process at a chosen descriptor number, as
//! systemd (`LISTEN_FDS`), gunicorn (`fd://3`) and nginx (`NGINX`) expect.

use std::os::fd::RawFd;
use std::os::unix::process::CommandExt;
use std::process::Command;

/// Makes `fd` of this process descriptor `as_fd` of the child `command`
/// starts, open across its exec.
pub fn pass_fd(command: &mut Command, fd: RawFd, as_fd: RawFd) {
    // SAFETY: dup2 and fcntl are async-signal-safe and touch only the
    // child's descriptor table, between fork and exec. dup2 onto itself
    // would keep close-on-exec, so that case clears the flag instead.
    unsafe {
        command.pre_exec(move || {
            let ok = if fd == as_fd { libc::fcntl(fd, libc::F_SETFD, 0) } else { libc::dup2(fd, as_fd) };
            if ok == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}
