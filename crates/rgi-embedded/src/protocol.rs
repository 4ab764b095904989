//! Which hyper connection serves a client: HTTP/1 directly, or
//! hyper-util's automatic one that tells HTTP/2's preface from HTTP/1.
//!
//! The automatic connection reads the first 24 bytes on their own to
//! decide, and hands them back to hyper as a read of their own. hyper's
//! read buffer, asked for room again with 24 bytes in it, then doubles to
//! 16 KiB: each connection holds twice hyper's usual 8 KiB, and each
//! request, which hyper reads into a fresh buffer of that size, costs as
//! much. So a TCP connection whose first bytes cannot begin the preface
//! (any HTTP/1 request) goes to hyper's HTTP/1 connection directly, as
//! does every connection when HTTP/2 is off. Anything else (the preface
//! or part of it, TLS, which decides by ALPN, a Unix socket) takes the
//! automatic connection as before.

use hyper::server::conn::http1;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use hyper_util::server::conn::auto;

use crate::config::Config;
use crate::listener::Stream;

/// What starts every HTTP/2 connection with prior knowledge (RFC 9113,
/// section 3.4).
const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The hyper builders of a server, set up from its configuration.
#[derive(Debug)]
pub(crate) struct Builders {
    pub(crate) auto: auto::Builder<TokioExecutor>,
    pub(crate) http1: http1::Builder,
    http2: bool,
}

/// How a connection is served.
pub(crate) enum Version {
    /// HTTP/1 for certain.
    Http1,
    /// Let hyper-util tell.
    Detect,
}

impl Builders {
    pub(crate) fn new(config: &Config) -> Self {
        let limits = &config.limits;
        // The request head must fit the read buffer, else 431 (SRV-2).
        let max_buf = limits.max_header_bytes.max(8192);
        // hyper's default is 100 on the stack; any other count costs a heap
        // allocation per request, so only ask for it when it differs.
        let max_headers = (limits.max_header_count != 100).then_some(limits.max_header_count);
        // The connection's watchdog enforces the header timeout (see
        // `conn::Watchdog`); hyper's would re-arm a timer per request.
        let mut http1 = http1::Builder::new();
        http1.header_read_timeout(None).max_buf_size(max_buf).keep_alive(true);
        let mut auto = auto::Builder::new(TokioExecutor::new());
        auto.http1().header_read_timeout(None).max_buf_size(max_buf).keep_alive(true);
        if let Some(count) = max_headers {
            http1.max_headers(count);
            auto.http1().max_headers(count);
        }
        auto.http2()
            .timer(TokioTimer::new())
            .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX))
            .max_concurrent_streams(limits.max_http2_streams)
            .keep_alive_interval(Some(limits.keep_alive_timeout));
        let auto = if config.http2 { auto } else { auto.http1_only() };
        Self { auto, http1, http2: config.http2 }
    }

    /// How `stream` is served. Waits for the client's first bytes and
    /// looks at them without taking them.
    pub(crate) async fn version(&self, stream: &Stream) -> Version {
        if !self.http2 {
            return Version::Http1;
        }
        let Stream::Tcp(tcp) = stream else { return Version::Detect };
        let mut first = [0u8; PREFACE.len()];
        match tcp.peek(&mut first).await {
            Ok(n) if n > 0 && first[..n] != PREFACE[..n] => Version::Http1,
            _ => Version::Detect,
        }
    }
}
