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

mod entry;

pub use entry::{run, run_mounts, run_with, EXIT_LOAD_FAILED};
pub use rgi_core::*;
pub use rgi_embedded::Mounts;
