//! The rgi conformance suite: what "implements rgi" means, checkably.
//!
//! * [`Validate`] wraps any application and checks both sides of every
//!   call against the spec: what the server supplied and what the
//!   application returned. Each violation names its requirement and how to
//!   fix it.
//! * The server suite ([`run`]) replays language-neutral vectors from
//!   [`vectors`] (the crate's `vectors/` directory, `conformance/vectors/`
//!   in [the repository](https://example.invalid/rgi/tree/main)) over a real socket against a server running the
//!   echo application, and reports each (`rgi-conformance URL` from the
//!   command line).
//! * The application suite ([`check_app`]) drives an application in
//!   process with generated requests under the validator, for `cargo test`:
//!
//! ```no_run
//! #[test]
//! fn my_app_keeps_the_contract() {
//!     rgi_conformance::check_app(hello::Hello);
//! }
//! ```

pub mod client;
mod h2;
mod runner;
mod suite;
mod validate;
pub mod vectors;

pub use runner::{run, Options, Outcome, Profile, Protocol, Report, Target, VectorResult};
pub use suite::{check_app, AppSuite, Failure};
pub use validate::{rules, Rule, Severity, Validate, ValidateMode, Violation};
