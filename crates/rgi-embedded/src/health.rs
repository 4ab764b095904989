//! What a server behind a balancer answers its health checks with, and
//! how it leaves the rotation before it stops (SRV-16, SRV-17). rgi-server
//! and an embedded application (`RGI_READINESS`...) both use these.

use std::time::Duration;

use http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use http::StatusCode;
use rgi_core::{async_trait, Application, Body, Error, Request, Response};

/// The liveness endpoint: `200 alive` while the server answers at all.
#[derive(Debug, Clone, Copy, Default)]
pub struct Liveness;

#[async_trait]
impl Application for Liveness {
    async fn call(&self, _request: Request) -> Result<Response, Error> {
        Ok(health_response(StatusCode::OK, "alive"))
    }
}

/// A health answer: `text` as plain text, never cached (a cache between the
/// balancer and the server must not answer for it).
pub fn health_response(status: StatusCode, text: &str) -> Response {
    let mut response = Response::new(Body::from(format!("{text}\n")));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The shutdown delay, once the server reports not ready: `delay` of
/// serving as usual, so a balancer's checks see it and stop sending before
/// the server stops accepting; a second SIGTERM or SIGINT cuts it short.
pub async fn shutdown_delay(delay: Duration) {
    if delay.is_zero() {
        return;
    }
    tracing::info!(delay_secs = delay.as_secs_f64(), "stopping: reporting not ready, still serving");
    tokio::select! {
        () = tokio::time::sleep(delay) => {}
        () = crate::shutdown_signal() => tracing::info!("second signal: stopping now"),
    }
}
