//! Helpers for integration tests that run real rgi binaries: a child
//! process whose log is kept and which is stopped by its PID, sockets
//! handed to children at a chosen descriptor, and a raw HTTP/1.1 client
//! that reports every connection failure, and a WebSocket client.
#![allow(clippy::unwrap_used, reason = "a test helper fails the test by panicking")]
#![allow(clippy::missing_panics_doc, reason = "every helper here panics to fail a test")]

mod build;
mod child;
mod fds;
mod http;
mod skip;
pub mod ws;

pub use build::workspace_binary;
pub use child::{alive, listening_addr, listening_addrs, LoggedChild};
pub use fds::pass_fd;
pub use http::{first_status, get, request, try_get, KeepAlive};
pub use skip::{skip, skip_unless_ci};
