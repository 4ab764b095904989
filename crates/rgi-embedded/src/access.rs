//! The access log: one line per request (SRV-10).

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One request as the access log sees it, once its response is over.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AccessEntry {
    /// The client, when known.
    pub remote: Option<SocketAddr>,
    /// The method.
    pub method: http::Method,
    /// The request target as received.
    pub target: String,
    /// The protocol version.
    pub version: http::Version,
    /// The response status.
    pub status: u16,
    /// Body bytes sent.
    pub bytes: u64,
    /// From the request head to the end of the response.
    pub duration: Duration,
    /// The body was sent whole.
    pub completed: bool,
    /// The body failed midway.
    pub failed: bool,
}

/// Where access entries go instead of the default log line (a development
/// server prints its own).
#[derive(Clone)]
pub struct AccessSink(Arc<dyn Fn(&AccessEntry) + Send + Sync>);

impl AccessSink {
    /// Calls `write` with each entry.
    pub fn new(write: impl Fn(&AccessEntry) + Send + Sync + 'static) -> Self {
        Self(Arc::new(write))
    }
}

impl fmt::Debug for AccessSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessSink")
    }
}

/// What the access log line says about one request, filled in as the
/// response is sent and written when its body is done or dropped.
#[derive(Debug)]
pub(crate) struct AccessRecord {
    pub(crate) remote: Option<SocketAddr>,
    pub(crate) method: http::Method,
    pub(crate) target: String,
    pub(crate) version: http::Version,
    pub(crate) status: u16,
    pub(crate) bytes: u64,
    pub(crate) started: Instant,
    pub(crate) completed: bool,
    pub(crate) failed: bool,
    pub(crate) sink: Option<AccessSink>,
}

impl AccessRecord {
    pub(crate) fn new(remote: Option<SocketAddr>, head: &http::request::Parts, sink: Option<AccessSink>) -> Self {
        Self {
            remote,
            method: head.method.clone(),
            target: head.uri.to_string(),
            version: head.version,
            status: 0,
            bytes: 0,
            started: Instant::now(),
            completed: false,
            failed: false,
            sink,
        }
    }

    pub(crate) fn log(&self) {
        if let Some(sink) = &self.sink {
            (sink.0)(&AccessEntry {
                remote: self.remote,
                method: self.method.clone(),
                target: self.target.clone(),
                version: self.version,
                status: self.status,
                bytes: self.bytes,
                duration: self.started.elapsed(),
                completed: self.completed,
                failed: self.failed,
            });
            return;
        }
        let remote = match self.remote {
            Some(addr) => addr.to_string(),
            None => "-".to_string(),
        };
        let outcome = if self.failed {
            "failed"
        } else if self.completed {
            "ok"
        } else {
            "client gone"
        };
        let duration_ms = (self.started.elapsed().as_secs_f64() * 1e6).round() / 1e3;
        tracing::info!(
            target: "rgi::access",
            remote = %remote,
            method = %self.method,
            target = %self.target,
            status = self.status,
            bytes = self.bytes,
            duration_ms,
            outcome,
            "request"
        );
    }
}
