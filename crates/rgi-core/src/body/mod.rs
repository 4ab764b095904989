//! Request and response bodies: a stream of [`Bytes`] frames, maybe ending
//! with trailers (BODY-*).

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_core::Stream;
use http::HeaderMap;
use http_body::{Frame, SizeHint};

use crate::error::{BoxError, Error};
use crate::server_error;

mod stream;

pub use stream::DataStream;

/// The body of a request or a response.
///
/// It is an [`http_body::Body`] of [`Bytes`] frames with optional trailers,
/// so hyper sends it as it is and anything that speaks `http-body` can be
/// turned into one with [`Body::wrap`]. A body is streamed, never forced
/// into memory (BODY-1): [`collect`](Body::collect) reads a whole body only
/// up to a maximum the caller names.
///
/// ```
/// use rgi_core::Body;
///
/// # futures_util::FutureExt::now_or_never(async {
/// let body = Body::from("Hello, World!");
/// assert_eq!(body.collect(1024).await.unwrap(), "Hello, World!");
///
/// let too_big = Body::from(vec![0u8; 2048]);
/// assert!(too_big.collect(1024).await.unwrap_err().is_body_too_large());
/// # }).unwrap();
/// ```
pub struct Body {
    kind: Kind,
}

enum Kind {
    Empty,
    Full(Bytes),
    Boxed(Pin<Box<dyn http_body::Body<Data = Bytes, Error = Error> + Send + 'static>>),
}

impl Body {
    /// A body with no bytes.
    pub const fn empty() -> Self {
        Self { kind: Kind::Empty }
    }

    /// Any [`http_body::Body`] whose data is [`Bytes`] (hyper's `Incoming`,
    /// an axum body...). Its errors become application errors unless they
    /// already are [`Error`]s.
    pub fn wrap<B>(body: B) -> Self
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        // Wrapping a `Body` again would only add a box and a layer.
        let mut slot = Some(body);
        if let Some(already) = (&mut slot as &mut dyn std::any::Any).downcast_mut::<Option<Body>>() {
            if let Some(body) = already.take() {
                return body;
            }
        }
        match slot {
            Some(body) => Self { kind: Kind::Boxed(Box::pin(MapErr { inner: body })) },
            None => Self::empty(),
        }
    }

    /// A body streamed from `stream`; each item is one data frame.
    ///
    /// ```
    /// use rgi_core::Body;
    /// let chunks = futures_util::stream::iter(["a", "b"].map(Ok::<_, std::io::Error>));
    /// let body = Body::from_stream(chunks);
    /// ```
    pub fn from_stream<S, T, E>(stream: S) -> Self
    where
        S: Stream<Item = Result<T, E>> + Send + 'static,
        T: Into<Bytes>,
        E: Into<BoxError>,
    {
        use futures_util::TryStreamExt;
        Self::wrap(http_body_util::StreamBody::new(stream.map_ok(|data| Frame::data(data.into()))))
    }

    /// Reads the whole body into memory, failing once it passes `max` bytes
    /// (BODY-3). Trailers are dropped; see [`collect_with_trailers`](Self::collect_with_trailers).
    pub async fn collect(self, max: u64) -> Result<Bytes, Error> {
        self.collect_with_trailers(max).await.map(|(bytes, _)| bytes)
    }

    /// Like [`collect`](Self::collect), keeping the trailers if any came.
    pub async fn collect_with_trailers(mut self, max: u64) -> Result<(Bytes, Option<HeaderMap>), Error> {
        use http_body::Body as _;
        // A body that says it is larger fails before a byte is read.
        if self.size_hint().lower() > max {
            return Err(server_error::body_too_large(max));
        }
        let mut first: Option<Bytes> = None;
        let mut rest: Vec<u8> = Vec::new();
        let mut trailers = None;
        let mut len = 0u64;
        while let Some(frame) = self.frame().await {
            match frame?.into_data() {
                Ok(data) => {
                    len += data.len() as u64;
                    if len > max {
                        return Err(server_error::body_too_large(max));
                    }
                    match &first {
                        None if rest.is_empty() => first = Some(data),
                        _ => {
                            if let Some(f) = first.take() {
                                rest.extend_from_slice(&f);
                            }
                            rest.extend_from_slice(&data);
                        }
                    }
                }
                Err(frame) => trailers = frame.into_trailers().ok(),
            }
        }
        let bytes = match first {
            Some(only) => only,
            None => Bytes::from(rest),
        };
        Ok((bytes, trailers))
    }

    /// The next frame, or `None` at the end.
    pub async fn frame(&mut self) -> Option<Result<Frame<Bytes>, Error>> {
        std::future::poll_fn(|cx| http_body::Body::poll_frame(Pin::new(&mut *self), cx)).await
    }

    /// The data frames as a [`Stream`] (trailers are skipped).
    pub fn into_data_stream(self) -> DataStream {
        DataStream::new(self)
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        match &mut self.kind {
            Kind::Empty => Poll::Ready(None),
            Kind::Full(_) => match std::mem::replace(&mut self.kind, Kind::Empty) {
                Kind::Full(bytes) if !bytes.is_empty() => Poll::Ready(Some(Ok(Frame::data(bytes)))),
                _ => Poll::Ready(None),
            },
            Kind::Boxed(body) => body.as_mut().poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Empty => true,
            Kind::Full(bytes) => bytes.is_empty(),
            Kind::Boxed(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Empty => SizeHint::with_exact(0),
            Kind::Full(bytes) => SizeHint::with_exact(bytes.len() as u64),
            Kind::Boxed(body) => body.size_hint(),
        }
    }
}

impl Default for Body {
    fn default() -> Self {
        Self::empty()
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Empty => f.write_str("Body(empty)"),
            Kind::Full(bytes) => write!(f, "Body({} bytes)", bytes.len()),
            Kind::Boxed(_) => f.write_str("Body(stream)"),
        }
    }
}

impl From<Bytes> for Body {
    fn from(bytes: Bytes) -> Self {
        Self { kind: Kind::Full(bytes) }
    }
}

impl From<String> for Body {
    fn from(s: String) -> Self {
        Bytes::from(s).into()
    }
}

impl From<&'static str> for Body {
    fn from(s: &'static str) -> Self {
        Bytes::from_static(s.as_bytes()).into()
    }
}

impl From<Vec<u8>> for Body {
    fn from(v: Vec<u8>) -> Self {
        Bytes::from(v).into()
    }
}

impl From<&'static [u8]> for Body {
    fn from(s: &'static [u8]) -> Self {
        Bytes::from_static(s).into()
    }
}

impl From<()> for Body {
    fn from((): ()) -> Self {
        Self::empty()
    }
}

pin_project_lite::pin_project! {
    struct MapErr<B> {
        #[pin]
        inner: B,
    }
}

impl<B> http_body::Body for MapErr<B>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        self.project().inner.poll_frame(cx).map_err(Error::new)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests;
