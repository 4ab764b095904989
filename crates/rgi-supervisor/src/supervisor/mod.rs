//! The supervisor: starts each group's daemons, watches them, and keeps
//! the group at strength — respawning crashes with backoff, recycling
//! after `max-requests` or `restart-interval`, replacing stuck processes,
//! and reloading gracefully (new processes first, old ones drain).
//!
//! As in gunicorn's arbiter and nginx's master, nothing happens in a
//! signal handler: signals and events are messages to one loop per group,
//! which reaps exits, enforces deadlines and spawns up to the target.

mod config;
mod group_loop;
mod handle;
mod os_processes;
mod process;
mod socket_dir;

pub use config::{GroupConfig, SupervisorError};
pub use handle::{Reloader, Rollout, SupervisedGroup};
pub use process::{describe_exit, EXIT_LOAD_FAILED};
pub use socket_dir::SocketDir;
