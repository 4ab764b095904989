use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::{stream, StreamExt};
use http::HeaderMap;
use http_body::{Body as _, Frame};

use super::*;

fn block<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
}

#[test]
fn collect_respects_its_maximum() {
    // BODY-3
    block(async {
        assert_eq!(Body::from("abc").collect(3).await.unwrap(), "abc");
        assert!(Body::from("abcd").collect(3).await.unwrap_err().is_body_too_large());
        let chunks = stream::iter(["ab", "cd", "ef"].map(Ok::<_, std::io::Error>));
        assert!(Body::from_stream(chunks).collect(5).await.unwrap_err().is_body_too_large());
        let chunks = stream::iter(["ab", "cd"].map(Ok::<_, std::io::Error>));
        assert_eq!(Body::from_stream(chunks).collect(4).await.unwrap(), "abcd");
        assert_eq!(Body::empty().collect(0).await.unwrap(), "");
    });
}

#[test]
fn stream_errors_become_app_errors_and_rgi_errors_stay() {
    block(async {
        let s = stream::iter(vec![Err::<Bytes, _>(std::io::Error::other("boom"))]);
        assert!(Body::from_stream(s).collect(10).await.unwrap_err().is_app());
        let s = stream::iter(vec![Err::<Bytes, _>(crate::server_error::timeout("body read"))]);
        assert!(Body::from_stream(s).collect(10).await.unwrap_err().is_timeout());
    });
}

struct WithTrailers(u8);

impl http_body::Body for WithTrailers {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.0 += 1;
        Poll::Ready(match self.0 {
            1 => Some(Ok(Frame::data(Bytes::from_static(b"data")))),
            2 => {
                let mut t = HeaderMap::new();
                t.insert("x-checksum", "42".parse().unwrap());
                Some(Ok(Frame::trailers(t)))
            }
            _ => None,
        })
    }
}

#[test]
fn trailers_travel_as_the_last_frame() {
    // BODY-8
    block(async {
        let (data, trailers) = Body::wrap(WithTrailers(0)).collect_with_trailers(100).await.unwrap();
        assert_eq!(data, "data");
        assert_eq!(trailers.unwrap().get("x-checksum").unwrap(), "42");
        let chunks: Vec<_> = Body::wrap(WithTrailers(0)).into_data_stream().collect().await;
        assert_eq!(chunks.len(), 1);
    });
}

#[test]
fn ended_bodies_stay_ended() {
    // BODY-9: polling past the end is harmless for our own bodies.
    block(async {
        let mut body = Body::from("x");
        assert!(body.frame().await.is_some());
        assert!(body.frame().await.is_none());
        assert!(body.frame().await.is_none());
        assert!(body.is_end_stream());
    });
}

#[test]
fn wrapping_a_body_does_not_nest() {
    let body = Body::wrap(Body::from("abc"));
    assert_eq!(format!("{body:?}"), "Body(3 bytes)");
}
