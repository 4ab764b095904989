//! Readiness for an embedded server behind a balancer or in Kubernetes,
//! and its shutdown delay (SRV-16, SRV-17): `RGI_READINESS` and
//! `RGI_SHUTDOWN_DELAY`, as rgi-server's `readiness` and `shutdown-delay`
//! (liveness is [`rgi_embedded::health::Liveness`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rgi_core::{async_trait, http, Application, Error, Request, Response};
use rgi_embedded::health::health_response;

/// `200 ready` until the server begins to stop, then `503`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Readiness {
    pub(crate) stopping: Arc<AtomicBool>,
}

#[async_trait]
impl Application for Readiness {
    async fn call(&self, _request: Request) -> Result<Response, Error> {
        Ok(if self.stopping.load(Ordering::Acquire) {
            health_response(http::StatusCode::SERVICE_UNAVAILABLE, "not ready: draining: the server is stopping")
        } else {
            health_response(http::StatusCode::OK, "ready")
        })
    }
}

/// Completes when the server should stop: on SIGTERM or SIGINT, after
/// reporting not ready for `delay` while still serving.
pub(crate) async fn stop_after(delay: Duration, stopping: Arc<AtomicBool>) {
    rgi_embedded::shutdown_signal().await;
    stopping.store(true, Ordering::Release);
    rgi_embedded::health::shutdown_delay(delay).await;
}
