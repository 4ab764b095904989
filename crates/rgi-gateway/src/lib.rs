//! The server side of rgi: what every rgi server does the same way.
//!
//! PEP 3333 splits WSGI into the application side and "the server or
//! gateway side". `rgi-core` is the first; this crate is the second: the
//! rules of the specification a server applies to turn an HTTP request or
//! a FastCGI request into the [`Environ`](rgi_core::Environ) an application
//! reads, and an application's response into what goes on the wire.
//! rgi's own servers (embedded, daemon, development) are built on it; a
//! third-party server should be too.
//!
//! What a server must apply, because the contract depends on it (see the
//! specification's "Servers" section):
//!
//! * [`path::RequestTarget`] and [`environ::from_http`] (or
//!   [`cgi::from_vars`] behind a front): PATH-1 to PATH-4, ENV-1 to ENV-8,
//!   and the header sanitising of HDR-1 to HDR-4 they include;
//! * [`headers::apply_response_rules`] on every response (APP-3, APP-6,
//!   HDR-5 to HDR-7);
//! * [`call_guarded`] around every call (ERR-2).
//!
//! What is convenience, shared so servers answer alike: [`respond`] (the
//! server's own plain-text answers and the status of each error kind),
//! [`limit`], [`FileBody`], [`proxy`] (the PROXY protocol and forwarding
//! fields, for servers behind a balancer), [`settings`] (locating the settings file),
//! [`testing`] (requests without a server) and, with the `tower` feature,
//! [`tower`].

pub mod cgi;
pub mod environ;
mod file;
mod guard;
pub mod headers;
mod limit;
pub mod path;
pub mod proxy;
pub mod respond;
pub mod settings;
pub mod testing;
#[cfg(feature = "tower")]
pub mod tower;

pub use environ::{Connection, RequestError};
pub use file::FileBody;
pub use guard::{call_guarded, panic_message};
pub use limit::limit;
