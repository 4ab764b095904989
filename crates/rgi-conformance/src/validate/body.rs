//! Bodies under watch: the request's against CONTENT_LENGTH, the
//! response's against its Content-Length and the trailer rules.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::HeaderMap;
use http_body::{Body as HttpBody, Frame, SizeHint};
use rgi_core::{Body, Error};

use super::{rules, Sink};

/// What one body is checked against.
pub(super) trait Check: Send + Unpin + 'static {
    /// A data frame of `len` bytes; returns whether the request must fail.
    fn data(&mut self, len: u64, sink: &Sink) -> bool;
    /// The trailers frame.
    fn trailers(&mut self, _trailers: &HeaderMap, _sink: &Sink) -> bool {
        false
    }
    /// The end of the body.
    fn end(&mut self, sink: &Sink) -> bool;
}

/// The request body: exactly CONTENT_LENGTH bytes (ENV-11).
pub(super) struct RequestCheck {
    declared: Option<u64>,
    seen: u64,
}

impl RequestCheck {
    pub(super) fn new(declared: Option<Result<u64, String>>) -> Self {
        Self { declared: declared.and_then(Result::ok), seen: 0 }
    }
}

impl Check for RequestCheck {
    fn data(&mut self, len: u64, sink: &Sink) -> bool {
        self.seen += len;
        match self.declared {
            // Reported once: the end check then has nothing more to say.
            Some(n) if self.seen > n && self.seen - len <= n => sink.report(
                &rules::BODY_MATCHES_CONTENT_LENGTH,
                format!("CONTENT_LENGTH is {n} but the body gave more ({} so far)", self.seen),
            ),
            _ => false,
        }
    }

    fn end(&mut self, sink: &Sink) -> bool {
        match self.declared {
            Some(n) if self.seen < n => sink.report(
                &rules::BODY_MATCHES_CONTENT_LENGTH,
                format!("CONTENT_LENGTH is {n} but the body had {}", self.seen),
            ),
            _ => false,
        }
    }
}

/// The response body: its Content-Length (APP-6), none for HEAD/204/304
/// (APP-11), trailer fields (BODY-11).
pub(super) struct ResponseCheck {
    declared: Option<u64>,
    bodiless: bool,
    seen: u64,
    warned: bool,
}

impl ResponseCheck {
    pub(super) fn new(declared: Option<Result<u64, String>>, bodiless: bool) -> Self {
        Self { declared: declared.and_then(Result::ok), bodiless, seen: 0, warned: false }
    }
}

/// Fields RFC 9110 section 6.5.1 keeps out of trailers.
const NOT_IN_TRAILERS: &[&str] = &[
    "content-length",
    "transfer-encoding",
    "host",
    "authorization",
    "proxy-authorization",
    "www-authenticate",
    "proxy-authenticate",
    "set-cookie",
    "cookie",
    "content-type",
    "content-encoding",
    "content-range",
    "trailer",
    "te",
    "expect",
    "max-forwards",
    "range",
    "cache-control",
    "date",
    "location",
    "retry-after",
    "vary",
    "age",
    "expires",
];

impl Check for ResponseCheck {
    fn data(&mut self, len: u64, sink: &Sink) -> bool {
        self.seen += len;
        if self.bodiless && len > 0 && !self.warned {
            self.warned = true;
            sink.report(&rules::NO_BODY_FOR_HEAD, format!("{len} body bytes for a bodiless response"));
        }
        match self.declared {
            Some(n) if self.seen > n && self.seen - len <= n => sink.report(
                &rules::CONTENT_LENGTH_MATCHES,
                format!("Content-Length is {n} but the body gave more ({} so far)", self.seen),
            ),
            _ => false,
        }
    }

    fn trailers(&mut self, trailers: &HeaderMap, sink: &Sink) -> bool {
        let mut fail = false;
        for name in trailers.keys() {
            if NOT_IN_TRAILERS.contains(&name.as_str()) {
                fail |= sink.report(&rules::TRAILER_FIELDS, format!("trailer {name}"));
            }
        }
        fail
    }

    fn end(&mut self, sink: &Sink) -> bool {
        match self.declared {
            Some(n) if self.seen < n => sink.report(
                &rules::CONTENT_LENGTH_MATCHES,
                format!("Content-Length is {n} but the body had {}", self.seen),
            ),
            _ => false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Data,
    Trailers,
    Ended,
}

/// A body passing through a [`Check`].
pub(super) struct Checked<C> {
    inner: Body,
    sink: Sink,
    check: C,
    state: State,
    told_after_end: bool,
}

impl<C> Checked<C> {
    pub(super) fn new(inner: Body, sink: Sink, check: C) -> Self {
        Self { inner, sink, check, state: State::Data, told_after_end: false }
    }
}

fn violation() -> Error {
    Error::msg("the validator ended this body: see the log")
}

impl<C: Check> HttpBody for Checked<C> {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = &mut *self;
        if this.state == State::Ended {
            if !this.told_after_end {
                this.told_after_end = true;
                this.sink.report(&rules::BODY_NOT_POLLED_AFTER_END, "polled after its end".into());
            }
            return Poll::Ready(None);
        }
        let polled = match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(polled) => polled,
        };
        let fail = match &polled {
            Some(Ok(frame)) => match frame.data_ref() {
                Some(data) => {
                    let late = this.state == State::Trailers
                        && this.sink.report(&rules::TRAILERS_LAST, "a data frame after the trailers".into());
                    this.check.data(data.len() as u64, &this.sink) || late
                }
                None => {
                    this.state = State::Trailers;
                    frame.trailers_ref().is_some_and(|t| this.check.trailers(t, &this.sink))
                }
            },
            Some(Err(_)) => {
                this.state = State::Ended;
                false
            }
            None => {
                this.state = State::Ended;
                this.check.end(&this.sink)
            }
        };
        if fail {
            this.state = State::Ended;
            return Poll::Ready(Some(Err(violation())));
        }
        Poll::Ready(polled)
    }

    fn is_end_stream(&self) -> bool {
        // Never claim the end early: the end is where the length is checked.
        self.state == State::Ended
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
