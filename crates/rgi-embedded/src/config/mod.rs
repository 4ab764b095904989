//! What the server may be configured with, and safe defaults.

use std::time::Duration;

use http::HeaderValue;

use crate::access::AccessSink;

mod env;

/// Limits that protect the server from its clients (SRV-2, SRV-3, BODY-4,
/// BODY-5). Every one has a safe default; change fields of
/// `Limits::default()`.
///
/// ```
/// let mut limits = rgi_embedded::Limits::default();
/// limits.max_body_bytes = Some(1024 * 1024);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Limits {
    /// Time a client has to send a complete request head, counted from
    /// when the connection is new or idle (slowloris). Default 15 s.
    pub header_read_timeout: Duration,
    /// Largest request head (request line and fields) in bytes; more is
    /// answered `431`. At least 8192. Default 64 KiB.
    pub max_header_bytes: usize,
    /// Most header fields in a request; more is answered `431`. Default 100.
    pub max_header_count: usize,
    /// Largest single header field (name and value) in bytes; a larger one
    /// is answered `431`. Default 16 KiB.
    pub max_header_field_bytes: usize,
    /// Longest request target in bytes; longer is answered `414`.
    /// Default 8 KiB.
    pub max_uri_bytes: usize,
    /// Largest request body; `None` for no limit. A larger declared
    /// `Content-Length` is answered `413` before reading. Default 16 MiB.
    pub max_body_bytes: Option<u64>,
    /// Time a request body may send nothing before it fails with a
    /// timeout (`408` if the response has not started). Default 30 s.
    pub body_read_timeout: Duration,
    /// Time an idle kept-alive connection is kept; it is closed between
    /// one and two times this after its last response. Default 10 s.
    pub keep_alive_timeout: Duration,
    /// Most connections served at once; further ones wait in the kernel's
    /// accept queue. Default 10 000.
    pub max_connections: usize,
    /// Most concurrent streams on one HTTP/2 connection. Default 128.
    pub max_http2_streams: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(15),
            max_header_bytes: 64 * 1024,
            max_header_count: 100,
            max_header_field_bytes: 16 * 1024,
            max_uri_bytes: 8 * 1024,
            max_body_bytes: Some(16 * 1024 * 1024),
            body_read_timeout: Duration::from_secs(30),
            keep_alive_timeout: Duration::from_secs(10),
            max_connections: 10_000,
            max_http2_streams: 128,
        }
    }
}

/// How the server behaves, beyond its [`Limits`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// The limits.
    pub limits: Limits,
    /// Time in-flight requests get to finish after a shutdown signal before
    /// their connections are closed (SRV-9). Default 30 s.
    pub grace_period: Duration,
    /// After a shutdown signal and before the grace period, how long the
    /// server keeps its open connections while asking each HTTP/1 client
    /// to go (`Connection: close` on its next response) instead of closing
    /// idle connections at once, which races a client sending its next
    /// request. Ends early once every connection is gone. Default 0 (off).
    pub drain_period: Duration,
    /// Serve HTTP/2 with prior knowledge next to HTTP/1.1. Default on.
    pub http2: bool,
    /// Log one line per request at INFO on target `rgi::access` (SRV-10).
    /// Default off, like gunicorn's; `RGI_ACCESS_LOG=1` turns it on in
    /// `rgi::run`.
    pub access_log: bool,
    /// Where access entries go instead of that log line, when set (and
    /// then whatever `access_log` says).
    pub access_sink: Option<AccessSink>,
    /// The `Server` field added to responses that have none (HDR-8);
    /// `None` adds nothing.
    pub server_header: Option<HeaderValue>,
    /// The proxies whose forwarding fields (`Forwarded`,
    /// `X-Forwarded-For`...) are honoured; from any other peer they are
    /// removed (PRX-5 to PRX-7). A PROXY protocol listener takes
    /// connections only from them (PRX-4). Default empty: the fields are
    /// left alone and any peer may send a PROXY header.
    pub trusted_proxies: rgi_gateway::proxy::Trusted,
    /// Take the mount prefix from `X-Forwarded-Prefix` (the front's
    /// SCRIPT_NAME) for the root mount's requests: for a server whose
    /// every client is a front, as the daemon socket's HTTP side is
    /// (UPG-6). Default off: the field is then the application's to read.
    pub forwarded_prefix: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            grace_period: Duration::from_secs(30),
            drain_period: Duration::ZERO,
            http2: true,
            access_log: false,
            access_sink: None,
            server_header: Some(HeaderValue::from_static("rgi")),
            trusted_proxies: rgi_gateway::proxy::Trusted::default(),
            forwarded_prefix: false,
        }
    }
}
