//! Hosts rgi applications inside an HTTP server process: rgi's embedded
//! mode, mod_wsgi's first mode.
//!
//! A [`Server`] mounts one or many [`Application`](rgi_core::Application)s
//! at URL prefixes and serves them over HTTP/1.1 (keep-alive, pipelining)
//! and HTTP/2 (prior knowledge) with hyper, on TCP, Unix sockets, or
//! sockets inherited from a parent ([`from_listen_fds`]). It applies the
//! contract's rules ([the specification](https://example.invalid/rgi/tree/main/spec)) to every request and
//! response, enforces the
//! [`Limits`] that keep clients honest, logs refusals and errors with
//! `tracing`, and stops gracefully.
//!
//! The daemon front and the development server are this server with a
//! different application mounted.

mod accept;
mod access;
mod body;
mod config;
mod conn;
mod error;
pub mod health;
mod listener;
mod logging;
mod mounts;
mod open_files;
mod protocol;
mod proxy_header;
mod respond;
mod server;
mod service;
mod systemd;
mod tls;
mod upgrade;

pub use access::{AccessEntry, AccessSink};
pub use config::{Config, Limits};
pub use error::Error;
pub use listener::{from_fd, from_listen_fds, is_listening_socket, pass_listen_fds, BindAddr, Listener, StdListener};
pub use logging::init_logging;
pub use mounts::Mounts;
pub use open_files::raise_open_files_limit;
pub use server::{shutdown_signal, Builder, HandedStream, Server};
pub use systemd::Notifier;
pub use tls::TlsConfig;
