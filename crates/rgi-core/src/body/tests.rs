use std::io::Write;
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
fn limit_fails_early_on_known_size() {
    // BODY-4
    block(async {
        let mut body = Body::from(vec![1u8; 10]).limit(5);
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
        let mut body = Body::from_stream(chunks).limit(6);
        assert_eq!(body.frame().await.unwrap().unwrap().into_data().unwrap(), "1234");
        assert!(body.frame().await.unwrap().unwrap_err().is_body_too_large());
    });
}

#[test]
fn stream_errors_become_app_errors_and_rgi_errors_stay() {
    block(async {
        let s = stream::iter(vec![Err::<Bytes, _>(std::io::Error::other("boom"))]);
        assert!(Body::from_stream(s).collect(10).await.unwrap_err().is_app());
        let s = stream::iter(vec![Err::<Bytes, _>(Error::timeout("body read"))]);
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
fn file_bodies_send_their_range() {
    // BODY-7
    let mut file = tempfile::tempfile().unwrap();
    let content: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    file.write_all(&content).unwrap();
    block(async {
        let whole = Body::file(file.try_clone().unwrap()).unwrap();
        assert_eq!(whole.size_hint().exact(), Some(200_000));
        assert_eq!(whole.collect(1 << 20).await.unwrap(), content);
        let part = Body::file_range(file.try_clone().unwrap(), 1000, 70_000);
        assert_eq!(part.collect(1 << 20).await.unwrap(), &content[1000..71_000]);
        let shrunk = Body::file_range(file.try_clone().unwrap(), 199_990, 20);
        assert!(shrunk.collect(100).await.unwrap_err().is_io());
    });
    let body = Body::file_range(file, 5, 10);
    let taken = body.into_file().unwrap();
    assert_eq!((taken.offset(), taken.remaining()), (5, 10));
    assert!(Body::from("x").into_file().is_err());
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
