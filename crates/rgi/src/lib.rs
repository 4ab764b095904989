//! rgi, the Rust Gateway Interface.
//!
//! This crate is what an application crate depends on: the contract
//! ([`rgi_core`], re-exported here) and the entry point that runs an
//! application in whichever mode its process was started for.
//!
//! ```no_run
//! use rgi::{async_trait, Application, Body, Error, Request, Response};
//!
//! struct Hello;
//!
//! #[async_trait]
//! impl Application for Hello {
//!     async fn call(&self, _request: Request) -> Result<Response, Error> {
//!         Ok(rgi::http::Response::builder()
//!             .header("content-type", "text/plain")
//!             .body(Body::from("Hello, World!"))?)
//!     }
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     rgi::run(Hello)
//! }
//! ```
//!
//! Library crates that only implement applications may depend on
//! `rgi-core` alone.
//!
//! # Where to go next
//!
//! * **Develop** under [`rgi-dev`](https://docs.rs/rgi-dev), Django's
//!   runserver for rgi: `rgi-dev path/to/my-app` builds the crate, serves
//!   it, and rebuilds on every change without ever refusing a connection.
//! * **Check** the application keeps the contract with
//!   [`rgi-conformance`](https://docs.rs/rgi-conformance):
//!   `rgi_conformance::check_app(my_app::App)` in a test (the application
//!   must be in a library target, with `main` beside it calling [`run`]).
//! * **Deploy** the same binary embedded (the default: `RGI_BIND`), as a
//!   FastCGI daemon behind nginx, Apache, Caddy or HAProxy (started with a
//!   listening socket on fd 0, or `RGI_FASTCGI=unix:/path`), or in
//!   supervised process groups behind
//!   [`rgi-server`](https://docs.rs/rgi-server), mod_wsgi's daemon mode
//!   for Rust, configured by one TOML file.

mod daemon_http;
mod entry;
mod fastcgi_socket;
mod health;

pub use entry::{run, run_mounts, run_with, run_with_limits, EXIT_LOAD_FAILED};
pub use rgi_core::*;
pub use rgi_embedded::{Limits, Mounts};
/// Requests built as a server builds them, for an application's tests.
pub use rgi_gateway::testing;
/// tower interop: an axum `Router` as an [`Application`], and back.
pub use rgi_gateway::tower;
