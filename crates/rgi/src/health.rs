//! Readiness and liveness for an embedded server behind a balancer or in
//! Kubernetes, and its shutdown delay (SRV-16, SRV-17): `RGI_READINESS`,
//! `RGI_LIVENESS` and `RGI_SHUTDOWN_DELAY`, as rgi-server's `readiness`,
//! `liveness` and `shutdown-delay`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rgi_core::{async_trait, http, Application, Body, Error, Request, Response};

/// `200 ready` until the server begins to stop, then `503`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Readiness {
    pub(crate) stopping: Arc<AtomicBool>,
}

/// `200 alive` while the server runs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Liveness;

#[async_trait]
impl Application for Readiness {
    async fn call(&self, _request: Request) -> Result<Response, Error> {
        Ok(if self.stopping.load(Ordering::Acquire) {
            answer(http::StatusCode::SERVICE_UNAVAILABLE, "not ready: draining: the server is stopping")
        } else {
            answer(http::StatusCode::OK, "ready")
        })
    }
}

#[async_trait]
impl Application for Liveness {
    async fn call(&self, _request: Request) -> Result<Response, Error> {
        Ok(answer(http::StatusCode::OK, "alive"))
    }
}

fn answer(status: http::StatusCode, text: &str) -> Response {
    let mut response = Response::new(Body::from(format!("{text}\n")));
    *response.status_mut() = status;
    response.headers_mut().insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static("no-store"));
    response
}

/// Completes when the server should stop: on SIGTERM or SIGINT, after
/// reporting not ready for `delay` while still serving (a second signal
/// cuts that short).
pub(crate) async fn stop_after(delay: Duration, stopping: Arc<AtomicBool>) {
    rgi_embedded::shutdown_signal().await;
    stopping.store(true, Ordering::Release);
    if !delay.is_zero() {
        tracing::info!(delay_secs = delay.as_secs_f64(), "stopping: reporting not ready, still serving");
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = rgi_embedded::shutdown_signal() => tracing::info!("second signal: stopping now"),
        }
    }
}
