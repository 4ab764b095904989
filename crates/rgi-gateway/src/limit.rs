//! The request-body size limit (BODY-4).

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};

use rgi_core::{server_error, Body, Error};

/// `body`, failing with [`Error::is_body_too_large`] as soon as more than
/// `limit` bytes are read, or at once when the size is known to be larger
/// (BODY-4). Servers apply their request-body limit with this.
///
/// Unlike `http_body_util::Limited`, a body whose declared length is over
/// the limit fails before a byte is read, so a server can answer `413`
/// without waiting for (or asking with `100 Continue` for) the body.
pub fn limit(body: Body, limit: u64) -> Body {
    if http_body::Body::is_end_stream(&body) {
        return body;
    }
    Body::wrap(Limited::new(body, limit))
}

/// Counts the bytes that pass and fails once they exceed the limit.
struct Limited {
    inner: Body,
    remaining: u64,
    limit: u64,
    failed: bool,
}

impl Limited {
    fn new(inner: Body, limit: u64) -> Self {
        Self { inner, remaining: limit, limit, failed: false }
    }
}

impl http_body::Body for Limited {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        if self.failed {
            return Poll::Ready(None);
        }
        // What the body says is still to come may not fit what is left:
        // fail before reading it (a declared length over the limit fails
        // before a byte is read).
        if self.inner.size_hint().lower() > self.remaining {
            self.failed = true;
            return Poll::Ready(Some(Err(server_error::body_too_large(self.limit))));
        }
        let frame = match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => frame,
            other => return other,
        };
        if let Some(data) = frame.data_ref() {
            let len = data.len() as u64;
            if len > self.remaining {
                self.failed = true;
                return Poll::Ready(Some(Err(server_error::body_too_large(self.limit))));
            }
            self.remaining -= len;
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.failed || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let inner = self.inner.size_hint();
        match inner.upper() {
            Some(upper) if upper <= self.remaining => inner,
            _ => {
                let mut hint = SizeHint::new();
                hint.set_lower(inner.lower().min(self.remaining));
                hint.set_upper(self.remaining.saturating_add(1));
                hint
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use futures_util::stream;
    use rgi_core::Body;

    use super::limit;

    fn block<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
    }

    #[test]
    fn limit_fails_early_on_known_size() {
        // BODY-4
        block(async {
            let mut body = limit(Body::from(vec![1u8; 10]), 5);
            let first = body.frame().await.unwrap();
            assert!(first.unwrap_err().is_body_too_large());
            assert!(body.frame().await.is_none());
        });
    }

    #[test]
    fn limit_counts_streamed_bytes() {
        // BODY-4: a chunked body fails as soon as it crosses the limit.
        block(async {
            let chunks = stream::iter(["1234", "5678"].map(Ok::<_, std::io::Error>));
            let mut body = limit(Body::from_stream(chunks), 6);
            assert_eq!(body.frame().await.unwrap().unwrap().into_data().unwrap(), "1234");
            assert!(body.frame().await.unwrap().unwrap_err().is_body_too_large());
        });
    }
}
