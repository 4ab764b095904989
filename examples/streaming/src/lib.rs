//! A long streamed response: one line every `interval`, `count` lines in
//! all. The work is done as the client reads; when the client goes away
//! the server drops the body (rgi's `close()`, APP-7), the stream stops,
//! and the drop is logged with how far it got.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream;
use rgi::http::header::{HeaderValue, CONTENT_TYPE};
use rgi::{async_trait, Application, Body, Error, Request, Response};

/// Streams numbered lines slowly.
#[derive(Debug, Clone)]
pub struct Streaming {
    /// Time between lines.
    pub interval: Duration,
    /// Lines in all.
    pub count: u64,
    /// How many streams were dropped before their end (for tests).
    pub abandoned: Arc<AtomicU64>,
}

impl Default for Streaming {
    fn default() -> Self {
        Self { interval: Duration::from_millis(100), count: 600, abandoned: Arc::default() }
    }
}

/// The state of one response stream; its `Drop` is the `close()`.
struct Ticker {
    sent: u64,
    count: u64,
    interval: Duration,
    abandoned: Arc<AtomicU64>,
}

impl Drop for Ticker {
    fn drop(&mut self) {
        if self.sent < self.count {
            self.abandoned.fetch_add(1, Ordering::SeqCst);
            tracing::info!(sent = self.sent, of = self.count, "client went away; stream stopped");
        }
    }
}

#[async_trait]
impl Application for Streaming {
    async fn call(&self, _request: Request) -> Result<Response, Error> {
        let ticker =
            Ticker { sent: 0, count: self.count, interval: self.interval, abandoned: Arc::clone(&self.abandoned) };
        let lines = stream::unfold(ticker, |mut t| async move {
            if t.sent == t.count {
                return None;
            }
            if t.sent > 0 {
                tokio::time::sleep(t.interval).await;
            }
            t.sent += 1;
            let line = format!("line {} of {}\n", t.sent, t.count);
            Some((Ok::<_, std::io::Error>(line), t))
        });
        let mut response = Response::new(Body::from_stream(lines));
        response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        Ok(response)
    }
}
