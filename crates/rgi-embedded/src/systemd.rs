//! systemd's service notifications (`sd_notify`): READY, RELOADING,
//! STOPPING and the watchdog, sent to `NOTIFY_SOCKET` when it is set.

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

/// Where service state goes: systemd's notification socket, or nowhere
/// when the process was not started by systemd with `Type=notify`.
///
/// ```
/// let notifier = rgi_embedded::Notifier::from_env();
/// notifier.notify("READY=1"); // does nothing without NOTIFY_SOCKET
/// ```
#[derive(Debug)]
pub struct Notifier {
    target: Option<(UnixDatagram, std::os::unix::net::SocketAddr)>,
}

impl Notifier {
    /// A notifier for `NOTIFY_SOCKET` (a path, or `@name` for an abstract
    /// socket); a silent one when it is unset or unusable (said in the log).
    pub fn from_env() -> Self {
        let Some(path) = std::env::var_os("NOTIFY_SOCKET").filter(|p| !p.is_empty()) else {
            return Self { target: None };
        };
        let path = path.to_string_lossy().into_owned();
        let address = match path.strip_prefix('@') {
            Some(name) => {
                use std::os::linux::net::SocketAddrExt;
                std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())
            }
            None => std::os::unix::net::SocketAddr::from_pathname(&path),
        };
        match (UnixDatagram::unbound(), address) {
            (Ok(socket), Ok(address)) => Self { target: Some((socket, address)) },
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!(socket = %path, error = %e, "NOTIFY_SOCKET is unusable; systemd will not hear from this process");
                Self { target: None }
            }
        }
    }

    /// Whether notifications go anywhere.
    pub fn is_active(&self) -> bool {
        self.target.is_some()
    }

    /// Sends `state` (`READY=1`, `STOPPING=1`, `WATCHDOG=1`, ...); a
    /// failure is logged, never fatal.
    pub fn notify(&self, state: &str) {
        if let Some((socket, address)) = &self.target {
            if let Err(e) = socket.send_to_addr(state.as_bytes(), address) {
                tracing::warn!(error = %e, state, "cannot notify systemd");
            }
        }
    }

    /// `RELOADING=1` with the `MONOTONIC_USEC` systemd asks to go with it.
    pub fn reloading(&self) {
        self.notify(&format!("RELOADING=1\nMONOTONIC_USEC={}", monotonic_usec()));
    }

    /// How often to send `WATCHDOG=1`: half of `WATCHDOG_USEC`, when it is
    /// set for this process.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.target.as_ref()?;
        if let Ok(pid) = std::env::var("WATCHDOG_PID") {
            if pid.trim().parse::<u32>().ok() != Some(std::process::id()) {
                return None;
            }
        }
        let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.trim().parse().ok().filter(|&u| u > 0)?;
        Some(Duration::from_micros(usec / 2))
    }
}

/// CLOCK_MONOTONIC in microseconds, as systemd reads it.
fn monotonic_usec() -> u64 {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes only into `now`.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    let secs = u64::try_from(now.tv_sec).unwrap_or(0);
    let nanos = u64::try_from(now.tv_nsec).unwrap_or(0);
    secs * 1_000_000 + nanos / 1_000
}
