//! The application suite on the examples, and on applications with bugs
//! it must find and shrink.
#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

use std::time::Duration;

use rgi_conformance::{check_app, AppSuite};
use rgi_core::{from_fn, Body, Request, Response};

#[test]
fn hello_keeps_the_contract() {
    check_app(hello::Hello);
}

#[test]
fn echo_keeps_the_contract() {
    check_app(echo::Echo);
}

#[test]
fn the_axum_router_keeps_the_contract() {
    check_app(rgi::tower::from_service(axum_example::router()));
}

#[test]
fn the_mount_table_keeps_the_contract() {
    check_app(multi::mounts());
}

#[test]
fn streaming_keeps_the_contract() {
    let app = streaming::Streaming { interval: Duration::from_millis(1), count: 20, ..Default::default() };
    AppSuite::new(app).cases(32).run().unwrap();
}

#[test]
fn a_panic_on_an_encoded_slash_is_found_and_shrunk() {
    // ERR-2: the server survives a panic, but the suite reports it.
    let app = from_fn(|req: Request| async move {
        if req.environ().raw_path_info().contains("%2F") {
            panic!("router cannot handle encoded slashes");
        }
        Ok(Response::new(Body::from("ok")))
    });
    let failure = AppSuite::new(app).cases(512).run().unwrap_err();
    assert!(failure.problem.contains("router cannot handle encoded slashes"), "{failure}");
    // Shrunk: the minimal request is a bare GET of one such segment.
    assert!(failure.request.starts_with("GET /%2F body=0 bytes") || failure.request.contains("%2F"), "{failure}");
    assert!(!failure.request.contains('['), "headers were not shrunk away: {failure}");
}

#[test]
fn a_wrong_content_length_is_found() {
    // APP-6
    let app = from_fn(|req: Request| async move {
        let n = req.into_body().collect(1 << 20).await?.len();
        let mut resp = Response::new(Body::from(vec![b'x'; n]));
        resp.headers_mut().insert("content-length", (n / 2).to_string().parse().unwrap());
        Ok(resp)
    });
    let failure = AppSuite::new(app).cases(256).run().unwrap_err();
    assert!(failure.problem.contains("[APP-6]"), "{failure}");
    assert!(failure.request.contains("body=1 bytes") || failure.request.contains("body=2 bytes"), "{failure}");
}

#[test]
fn errors_are_allowed_but_panicking_bodies_are_not() {
    // ERR-1: an error is the server's to answer with 500.
    let erring = from_fn(|_req: Request| async move { Err(rgi_core::Error::msg("not today")) });
    AppSuite::new(erring).cases(16).run().unwrap();
    let exploding = from_fn(|_req: Request| async move {
        let stream =
            futures_util::stream::iter([0]).map(|_| -> Result<bytes::Bytes, std::io::Error> { panic!("body bug") });
        Ok(Response::new(Body::from_stream(stream)))
    });
    let failure = AppSuite::new(exploding).cases(16).run().unwrap_err();
    assert!(failure.problem.contains("body bug"), "{failure}");
}

use futures_util::StreamExt as _;
