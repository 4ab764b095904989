//! The request-body size limit (BODY-4).

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};

use super::Body;
use crate::error::Error;

/// Counts the bytes that pass and fails once they exceed the limit.
pub(super) struct Limited {
    inner: Body,
    remaining: u64,
    limit: u64,
    failed: bool,
}

impl Limited {
    pub(super) fn new(inner: Body, limit: u64) -> Self {
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
            return Poll::Ready(Some(Err(Error::body_too_large(self.limit))));
        }
        let frame = match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => frame,
            other => return other,
        };
        if let Some(data) = frame.data_ref() {
            let len = data.len() as u64;
            if len > self.remaining {
                self.failed = true;
                return Poll::Ready(Some(Err(Error::body_too_large(self.limit))));
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
