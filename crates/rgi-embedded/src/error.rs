//! Errors of the embedded server.

use std::path::PathBuf;

/// Why the server could not start or keep running.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A TLS certificate or key file is missing, unreadable or wrong.
    #[error("TLS: {path}: {reason}")]
    Tls {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// An environment variable that configures the server is unusable.
    #[error("{name}: {reason}")]
    Env {
        /// The variable.
        name: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// An address to listen on could not be parsed.
    #[error("invalid listen address {addr:?}: {reason}")]
    BadAddress {
        /// The address as given.
        addr: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Binding a TCP address failed.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// Binding a Unix socket failed.
    #[error("cannot listen on unix socket {path}: {source}")]
    BindUnix {
        /// The socket path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// An inherited socket cannot be used (DEP-3).
    #[error("inherited file descriptor {fd} cannot be used: {reason}")]
    Inherited {
        /// The descriptor.
        fd: i32,
        /// What it is instead of a listening stream socket.
        reason: String,
    },
    /// `LISTEN_FDS` / `LISTEN_PID` are malformed.
    #[error("malformed socket activation variables: {0}")]
    Activation(String),
    /// A mount prefix is invalid or mounted twice.
    #[error("invalid mount: {0}")]
    Mount(String),
    /// An application's startup hook failed (APP-4, DEP-4).
    #[error("application mounted at {prefix:?} failed to start: {source}")]
    Startup {
        /// Its mount prefix.
        prefix: String,
        /// Why.
        source: rgi_core::Error,
    },
    /// Nothing to listen on.
    #[error("no listener to serve on")]
    NoListener,
}
