//! Bodies from streams and streams from bodies.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_core::Stream;
use http_body::{Body as _, Frame};

use super::Body;
use crate::error::{BoxError, Error};

pin_project_lite::pin_project! {
    /// Makes each item of a stream one data frame.
    pub(super) struct StreamBody<S> {
        #[pin]
        stream: S,
    }
}

impl<S> StreamBody<S> {
    pub(super) fn new(stream: S) -> Self {
        Self { stream }
    }
}

impl<S, T, E> http_body::Body for StreamBody<S>
where
    S: Stream<Item = Result<T, E>>,
    T: Into<Bytes>,
    E: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.project()
            .stream
            .poll_next(cx)
            .map(|item| item.map(|r| r.map(|t| Frame::data(t.into())).map_err(Into::into)))
    }
}

/// The data frames of a [`Body`] as a [`Stream`], from
/// [`Body::into_data_stream`]. Trailers are skipped.
#[derive(Debug)]
pub struct DataStream {
    body: Body,
}

impl DataStream {
    pub(super) fn new(body: Body) -> Self {
        Self { body }
    }
}

impl Stream for DataStream {
    type Item = Result<Bytes, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            match Pin::new(&mut self.body).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) if data.is_empty() => continue,
                    Ok(data) => return Poll::Ready(Some(Ok(data))),
                    Err(_trailers) => continue,
                },
                Poll::Ready(Some(Err(err))) => return Poll::Ready(Some(Err(err))),
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, None)
    }
}
