//! rgi's daemon mode, mod_wsgi's daemon mode for Rust: each application
//! runs in its own supervised processes and a front passes requests to
//! them over FastCGI.
//!
//! * [`daemon`]: the application's side. The same binary that runs
//!   embedded becomes a FastCGI daemon when started with a listening
//!   socket on fd 0 (`rgi::run` decides), so rgi's supervisor, nginx's
//!   spawn-fcgi or Apache's mod_fcgid can start it.
//! * [`Pool`]: the front's side, an [`Application`](rgi_core::Application)
//!   that forwards each request to a daemon of a group over kept-alive
//!   connections.
//! * [`SupervisedGroup`]: starts, watches, recycles and reloads a group's
//!   processes.

pub mod daemon;
mod pool;
mod socket;

pub use pool::{
    Backend, BackendAddr, BackendState, ExitReport, Group, GroupHealth, GroupStats, Pool, PoolConfig, PoolEvent,
    Refusal,
};
pub mod supervisor;
mod sys;

pub use supervisor::{GroupConfig, Reloader, Rollout, SocketDir, SupervisedGroup, SupervisorError};

/// The gid of a group by name (for `socket-group`).
pub fn group_id(name: &str) -> std::io::Result<u32> {
    sys::group_id(name)
}

/// The uid and primary gid of a user by name.
pub fn user_ids(name: &str) -> std::io::Result<(u32, u32)> {
    sys::user_ids(name)
}
