//! The two bodies hyper and the application exchange.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use rgi_core::{Body, Error};
use tokio::time::Sleep;

use crate::access::AccessRecord;
use crate::conn::InFlight;

/// A request body from hyper, failing with a timeout when the client sends
/// nothing for too long (BODY-5).
pub(crate) struct RequestBody {
    inner: Incoming,
    timeout: Duration,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl RequestBody {
    pub(crate) fn new(inner: Incoming, timeout: Duration) -> Self {
        Self { inner, timeout, sleep: None }
    }
}

impl HttpBody for RequestBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.sleep = None;
                Poll::Ready(frame.map(|r| r.map_err(body_error)))
            }
            Poll::Pending => {
                let timeout = this.timeout;
                let sleep = this.sleep.get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                match sleep.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(rgi_core::server_error::timeout("request body read")))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// What a failed body read means: the client sent malformed framing
/// (a bad chunk), was too slow, or went away.
fn body_error(err: hyper::Error) -> Error {
    let malformed = std::error::Error::source(&err)
        .and_then(|e| e.downcast_ref::<std::io::Error>())
        .is_some_and(|e| e.kind() == std::io::ErrorKind::InvalidData || e.kind() == std::io::ErrorKind::InvalidInput);
    if err.is_timeout() {
        rgi_core::server_error::timeout("request body read")
    } else if malformed || err.is_parse() || err.is_user() {
        rgi_core::server_error::bad_request(err)
    } else {
        rgi_core::server_error::closed(Some(err.into()))
    }
}

/// The response body as hyper sees it: the application's body, with a
/// panic while polling it caught (ERR-2), its bytes counted for the access
/// log, and the request marked finished when it ends or is dropped
/// (SRV-4: hyper drops it when the client goes away).
pub(crate) struct ResponseBody {
    inner: Body,
    done: bool,
    access: Option<Box<AccessRecord>>,
    /// Only for bodies of unknown length, the only ones that can fail or
    /// disagree with their Content-Length: known bodies cost nothing.
    stream: Option<Box<StreamCheck>>,
    _in_flight: InFlight,
}

/// What a streamed body is checked against, and logged with.
pub(crate) struct StreamCheck {
    pub(crate) method: http::Method,
    pub(crate) target: http::Uri,
    /// Bytes the declared Content-Length still allows (APP-6).
    pub(crate) remaining: Option<u64>,
}

impl ResponseBody {
    pub(crate) fn new(
        inner: Body,
        access: Option<Box<AccessRecord>>,
        stream: Option<Box<StreamCheck>>,
        in_flight: InFlight,
    ) -> Self {
        Self { inner, done: false, access, stream, _in_flight: in_flight }
    }
}

impl HttpBody for ResponseBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = &mut *self;
        if this.done {
            // BODY-9: never poll the application's body past its end.
            return Poll::Ready(None);
        }
        let polled = std::panic::catch_unwind(AssertUnwindSafe(|| Pin::new(&mut this.inner).poll_frame(cx)));
        let mut result = match polled {
            Ok(result) => result,
            Err(payload) => {
                let err = rgi_core::server_error::panic(rgi_gateway::panic_message(&*payload));
                Poll::Ready(Some(Err(err)))
            }
        };
        if let (Poll::Ready(Some(Ok(frame))), Some(check)) = (&result, this.stream.as_mut()) {
            if let (Some(data), Some(remaining)) = (frame.data_ref(), check.remaining.as_mut()) {
                let len = data.len() as u64;
                if len > *remaining {
                    // APP-6: hyper would cut the body silently and keep the
                    // connection; end it instead, and say why.
                    result = Poll::Ready(Some(Err(Error::msg("response body longer than its Content-Length (APP-6)"))));
                } else {
                    *remaining -= len;
                }
            }
        }
        match &result {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(access), Some(data)) = (this.access.as_mut(), frame.data_ref()) {
                    access.entry.bytes += data.len() as u64;
                }
            }
            Poll::Ready(Some(Err(err))) => {
                // ERR-3: the head is gone; hyper ends the connection (BODY-6).
                this.done = true;
                let (method, target) =
                    this.stream.as_ref().map_or((None, None), |c| (Some(&c.method), Some(&c.target)));
                tracing::error!(error = %rgi_gateway::respond::Report(err), ?method, ?target, "response body failed after the head was sent");
                if let Some(access) = this.access.as_mut() {
                    access.entry.failed = true;
                }
            }
            Poll::Ready(None) => {
                this.done = true;
                if let Some(check) = this.stream.as_ref() {
                    if check.remaining.is_some_and(|r| r > 0) {
                        tracing::error!(
                            method = %check.method, target = %check.target,
                            "response body shorter than its Content-Length (APP-6); the connection ends"
                        );
                    }
                }
                if let Some(access) = this.access.as_mut() {
                    access.entry.completed = true;
                }
            }
            Poll::Pending => {}
        }
        result
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for ResponseBody {
    fn drop(&mut self) {
        if let Some(mut access) = self.access.take() {
            // hyper stops polling once Content-Length bytes are out.
            access.entry.completed |= !access.entry.failed && self.inner.is_end_stream();
            access.log();
        }
    }
}
