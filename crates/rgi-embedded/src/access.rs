//! The access log: one line per request (SRV-10).

use std::net::SocketAddr;
use std::time::Instant;

/// What the access log line says about one request, filled in as the
/// response is sent and written when its body is done or dropped.
#[derive(Debug)]
pub(crate) struct AccessRecord {
    pub(crate) remote: Option<SocketAddr>,
    pub(crate) method: http::Method,
    pub(crate) target: String,
    pub(crate) status: u16,
    pub(crate) bytes: u64,
    pub(crate) started: Instant,
    pub(crate) completed: bool,
    pub(crate) failed: bool,
}

impl AccessRecord {
    pub(crate) fn new(remote: Option<SocketAddr>, method: &http::Method, target: &http::Uri) -> Self {
        Self {
            remote,
            method: method.clone(),
            target: target.to_string(),
            status: 0,
            bytes: 0,
            started: Instant::now(),
            completed: false,
            failed: false,
        }
    }

    pub(crate) fn log(&self) {
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
