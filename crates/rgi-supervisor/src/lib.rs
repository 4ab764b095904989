//! The front's side of rgi's daemon mode, mod_wsgi's daemon mode for Rust:
//! each application runs in its own supervised processes and the front
//! passes requests to them over FastCGI.
//!
//! * [`Pool`]: an [`Application`](rgi_core::Application) that forwards
//!   each request to a daemon of a group over kept-alive connections.
//! * [`SupervisedGroup`]: starts, watches, recycles and reloads a group's
//!   processes.
//!
//! The daemons themselves are `rgi-daemon`, which is all an application
//! binary links.

mod pool;
pub mod supervisor;
mod sys;

pub use pool::{
    Backend, BackendAddr, BackendState, ExitReport, Group, GroupHealth, GroupStats, Pool, PoolConfig, PoolEvent,
    Refusal,
};
pub use rgi_daemon::{group_id, user_ids};
pub use supervisor::{GroupConfig, Reloader, Rollout, SocketDir, SupervisedGroup, SupervisorError};
