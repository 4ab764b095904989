//! The rgi contract: how a web server calls a Rust web application.
//!
//! rgi is WSGI's idea for Rust. This crate is the contract alone, small
//! and stable, as `tower-service` is for tower: the [`Application`] trait,
//! the [`Request`] with its gateway variables ([`Environ`]), the streaming
//! [`Body`], the [`Error`], and the [`Settings`] handle. Servers (embedded,
//! daemon over FastCGI, development) live in other crates and all build
//! requests by the rules of the specification, so an application cannot
//! tell them apart except by asking [`Deployment::mode`].
//!
//! The normative text is [the rgi specification](https://example.invalid/rgi/tree/main/spec); the ids in
//! these docs (`APP-1`, `PATH-5`...) point into it. Its public API uses
//! only `std`, `http`, `http-body`, `bytes`, `futures-core`'s `Stream` and
//! serde's `DeserializeOwned` (a test holds it to that list).
//!
//! ```
//! use rgi_core::{async_trait, Application, Body, Error, Request, Response};
//!
//! struct Hello;
//!
//! #[async_trait]
//! impl Application for Hello {
//!     async fn call(&self, request: Request) -> Result<Response, Error> {
//!         let who = request.environ().path_info().trim_start_matches('/');
//!         Ok(http::Response::new(Body::from(format!("Hello, {who}!"))))
//!     }
//! }
//! ```

mod application;
pub mod body;
pub mod environ;
mod error;
pub mod path;
mod request;
pub mod server_error;
pub mod settings;
pub mod upgrade;

pub use application::{from_fn, Application, FromFn};
pub use body::Body;
pub use environ::{Deployment, Environ, Mode, Scheme};
pub use error::{BoxError, Error, Result};
pub use request::{Request, Response};
pub use settings::{Settings, SettingsError};

/// Re-exported so an application needs no direct dependency to implement
/// [`Application`].
pub use async_trait::async_trait;
pub use bytes;
pub use http;
