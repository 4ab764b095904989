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
    /// The entry so far; its `duration` is set when it is written.
    pub(crate) entry: AccessEntry,
    started: Instant,
    sink: Option<AccessSink>,
}

impl AccessRecord {
    pub(crate) fn new(remote: Option<SocketAddr>, head: &http::request::Parts, sink: Option<AccessSink>) -> Self {
        let entry = AccessEntry {
            remote,
            method: head.method.clone(),
            target: head.uri.to_string(),
            version: head.version,
            status: 0,
            bytes: 0,
            duration: Duration::ZERO,
            completed: false,
            failed: false,
        };
        Self { entry, started: Instant::now(), sink }
    }

    pub(crate) fn log(&mut self) {
        let entry = &mut self.entry;
        entry.duration = self.started.elapsed();
        if let Some(sink) = &self.sink {
            (sink.0)(entry);
            return;
        }
        let remote = match entry.remote {
            Some(addr) => addr.to_string(),
            None => "-".to_string(),
        };
        let outcome = if entry.failed {
            "failed"
        } else if entry.completed {
            "ok"
        } else {
            "client gone"
        };
        let duration_ms = (entry.duration.as_secs_f64() * 1e6).round() / 1e3;
        tracing::info!(
            target: "rgi::access",
            remote = %remote,
            method = %entry.method,
            target = %entry.target,
            status = entry.status,
            bytes = entry.bytes,
            duration_ms,
            outcome,
            "request"
        );
    }
}
