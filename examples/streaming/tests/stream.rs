//! The stream does its work as it is read and stops when dropped (APP-7).
#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

use std::sync::atomic::Ordering;
use std::time::Duration;

use rgi::{Application, Body};

#[test]
fn dropping_the_body_stops_the_stream() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let app = streaming::Streaming { interval: Duration::from_millis(5), count: 1000, ..Default::default() };
        let resp = app.call(rgi::testing::RequestBuilder::new().body(Body::empty()).unwrap()).await.unwrap();
        let mut body = resp.into_body();
        for i in 1..=3 {
            let frame = body.frame().await.unwrap().unwrap();
            assert_eq!(frame.into_data().unwrap(), format!("line {i} of 1000\n"));
        }
        assert_eq!(app.abandoned.load(Ordering::SeqCst), 0);
        drop(body);
        assert_eq!(app.abandoned.load(Ordering::SeqCst), 1);
        // A short stream read to its end is not counted as abandoned.
        let short = streaming::Streaming { interval: Duration::ZERO, count: 2, ..Default::default() };
        let body =
            short.call(rgi::testing::RequestBuilder::new().body(Body::empty()).unwrap()).await.unwrap().into_body();
        assert_eq!(body.collect(1024).await.unwrap(), "line 1 of 2\nline 2 of 2\n");
        assert_eq!(short.abandoned.load(Ordering::SeqCst), 0);
    });
}
