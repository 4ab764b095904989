//! The validator catches each rule's violation, on either side, and acts
//! as its mode says.
#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue};
use http_body::Frame;
use rgi_conformance::{rules, Validate, ValidateMode, Violation};
use rgi_core::{from_fn, Application, Body, Deployment, Mode, Request, Response, Settings};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// Calls `app` through the validator with `request`, reads the body to its
/// end, and returns the ids of what was violated.
fn violations(app: impl Application, request: Request) -> Vec<&'static str> {
    let collected = Arc::new(Mutex::new(Vec::<Violation>::new()));
    let checked = Validate::new(app).collect_into(Arc::clone(&collected));
    rt().block_on(async {
        if let Ok(resp) = checked.call(request).await {
            let _ = resp.into_body().collect(1 << 20).await;
        }
    });
    let all = collected.lock().unwrap();
    for v in all.iter() {
        // Every message names its requirement and how to fix it.
        let text = v.to_string();
        assert!(text.starts_with(&format!("[{}]", v.rule.id)) && text.contains("fix: "), "{text}");
    }
    all.iter().map(|v| v.rule.id).collect()
}

fn get(uri: &str) -> Request {
    rgi_gateway::testing::RequestBuilder::new().uri(uri).body(Body::empty()).unwrap()
}

fn answer(f: impl Fn() -> Response + Send + Sync + 'static) -> impl Application {
    let f = Arc::new(f);
    from_fn(move |_req: Request| {
        let f = Arc::clone(&f);
        async move { Ok(f()) }
    })
}

#[test]
fn a_conforming_exchange_has_no_violations() {
    assert!(violations(answer(|| Response::new(Body::from("fine"))), get("/a%20b?x")).is_empty());
}

#[test]
fn application_side_violations_are_named() {
    // APP-3
    let status = answer(|| {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = http::StatusCode::SWITCHING_PROTOCOLS;
        r
    });
    assert_eq!(violations(status, get("/")), ["UPG-3"], "a 101 nobody asked for");
    let informational = answer(|| {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = http::StatusCode::CONTINUE;
        r
    });
    assert_eq!(violations(informational, get("/")), ["APP-3"]);
    // APP-5
    let hop = answer(|| {
        let mut r = Response::new(Body::from("x"));
        r.headers_mut().insert("transfer-encoding", HeaderValue::from_static("chunked"));
        r
    });
    assert_eq!(violations(hop, get("/")), ["APP-5"]);
    // APP-6, both ways.
    for (declared, body) in [("10", "short"), ("2", "longer")] {
        let app = answer(move || {
            let mut r = Response::new(Body::from_stream(futures_util::stream::iter([Ok::<_, Infallible>(body)])));
            r.headers_mut().insert("content-length", HeaderValue::from_static(declared));
            r
        });
        assert_eq!(violations(app, get("/")), ["APP-6"], "declared {declared}");
    }
    let bad_length = answer(|| {
        let mut r = Response::new(Body::empty());
        r.headers_mut().insert("content-length", HeaderValue::from_static("1e3"));
        r
    });
    assert!(violations(bad_length, get("/")).contains(&"APP-6"));
}

/// An HTTP/1.1 upgrade request, as a server that hands connections over
/// passes it (UPG-1).
fn upgrade_request(body: Body, version: http::Version) -> Request {
    let mut req = rgi_gateway::testing::RequestBuilder::new().uri("/chat").version(version).body(body).unwrap();
    req.headers_mut().insert("upgrade", HeaderValue::from_static("websocket"));
    req.headers_mut().insert("connection", HeaderValue::from_static("upgrade"));
    req
}

#[test]
fn upgrades_follow_their_rules() {
    let switch = |with_upgrade_field: bool| {
        answer(move || {
            let mut r = Response::new(Body::from("the new protocol's first bytes"));
            *r.status_mut() = http::StatusCode::SWITCHING_PROTOCOLS;
            if with_upgrade_field {
                r.headers_mut().insert("upgrade", HeaderValue::from_static("websocket"));
                r.headers_mut().insert("connection", HeaderValue::from_static("upgrade"));
            }
            r
        })
    };
    // UPG-1, UPG-3: an upgrade request's Upgrade and Connection, and a 101
    // that names its protocol, are the contract's, not hop-by-hop faults.
    assert!(violations(switch(true), upgrade_request(Body::empty(), http::Version::HTTP_11)).is_empty());
    // UPG-3: a 101 without an Upgrade field.
    assert_eq!(violations(switch(false), upgrade_request(Body::empty(), http::Version::HTTP_11)), ["UPG-3"]);
    // UPG-2: the server let a body through with an upgrade request.
    assert_eq!(violations(switch(true), upgrade_request(Body::from("abc"), http::Version::HTTP_11)), ["UPG-2"]);
    // HTTP/1.0 has no upgrades: its Upgrade is a hop-by-hop fault.
    let old = upgrade_request(Body::empty(), http::Version::HTTP_10);
    let mut found = violations(switch(true), old);
    found.sort_unstable();
    assert_eq!(found, ["HDR-4", "HDR-4", "UPG-3"]);
}

#[test]
fn a_body_for_head_is_a_warning_not_an_error() {
    // APP-11
    let collected = Arc::new(Mutex::new(Vec::<Violation>::new()));
    let app = Validate::new(answer(|| Response::new(Body::from("body for HEAD")))).collect_into(Arc::clone(&collected));
    let req = rgi_gateway::testing::RequestBuilder::new().method("HEAD").uri("/").body(Body::empty()).unwrap();
    rt().block_on(async {
        let resp = app.call(req).await.unwrap();
        resp.into_body().collect(1024).await.unwrap();
    });
    let all = collected.lock().unwrap();
    assert_eq!(all.iter().map(|v| v.rule.id).collect::<Vec<_>>(), ["APP-11"]);
    assert!(!all[0].is_error());
}

struct Frames(Vec<Frame<Bytes>>);

impl http_body::Body for Frames {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(if self.0.is_empty() { None } else { Some(Ok(self.0.remove(0))) })
    }
}

fn trailers(name: &'static str) -> Frame<Bytes> {
    let mut map = HeaderMap::new();
    map.insert(name, HeaderValue::from_static("1"));
    Frame::trailers(map)
}

#[test]
fn trailer_rules() {
    // BODY-8: data after trailers.
    let late = answer(|| Response::new(Body::wrap(Frames(vec![trailers("x-sum"), Frame::data(Bytes::from("late"))]))));
    assert!(violations(late, get("/")).contains(&"BODY-8"));
    // BODY-11: a framing field as a trailer.
    let framing =
        answer(|| Response::new(Body::wrap(Frames(vec![Frame::data(Bytes::from("x")), trailers("content-length")]))));
    assert_eq!(violations(framing, get("/")), ["BODY-11"]);
    let fine = answer(|| Response::new(Body::wrap(Frames(vec![Frame::data(Bytes::from("x")), trailers("x-digest")]))));
    assert!(violations(fine, get("/")).is_empty());
}

#[test]
fn server_side_violations_are_named() {
    let ok = || {
        from_fn(|req: Request| async move {
            let _ = req.into_body().collect(1 << 20).await;
            Ok(Response::new(Body::empty()))
        })
    };
    // HDR-1, HDR-2, HDR-3, HDR-4: headers a server failed to sanitise.
    let mut req = get("/");
    req.headers_mut().insert("x_user", HeaderValue::from_static("mallory"));
    req.headers_mut().insert("proxy", HeaderValue::from_static("http://evil"));
    req.headers_mut().append("accept", HeaderValue::from_static("a"));
    req.headers_mut().append("accept", HeaderValue::from_static("b"));
    req.headers_mut().insert("connection", HeaderValue::from_static("close"));
    let mut found = violations(ok(), req);
    found.sort_unstable();
    assert_eq!(found, ["HDR-1", "HDR-2", "HDR-3", "HDR-4"]);
    // PATH-1, ENV-3: an environ that does not describe the request's URI.
    let (mut inner, environ) = get("/a?x=1").into_parts();
    *inner.uri_mut() = "/b?y=2".parse().unwrap();
    let mut found = violations(ok(), Request::new(inner, environ));
    found.sort_unstable();
    assert_eq!(found, ["ENV-3", "PATH-1"]);
    // ENV-11: a bad Content-Length, and a body longer than the one given.
    let mut req = get("/");
    req.headers_mut().insert("content-length", HeaderValue::from_static("-3"));
    assert_eq!(violations(ok(), req), ["ENV-11"]);
    let mut req =
        rgi_gateway::testing::RequestBuilder::new().method("POST").uri("/").body(Body::from("12345")).unwrap();
    req.headers_mut().insert("content-length", HeaderValue::from_static("3"));
    assert_eq!(violations(ok(), req), ["ENV-11"]);
    // ENV-9: facts about another process.
    let other = Arc::new(Deployment::new(Mode::Embedded, Arc::new(Settings::empty())).with_process_id(1));
    let req = rgi_gateway::testing::RequestBuilder::new().uri("/").deployment(other).body(Body::empty()).unwrap();
    assert_eq!(violations(ok(), req), ["ENV-9"]);
}

#[test]
fn polling_a_body_after_its_end_is_the_servers_fault() {
    // BODY-9
    let collected = Arc::new(Mutex::new(Vec::<Violation>::new()));
    let app = Validate::new(answer(|| Response::new(Body::from("x")))).collect_into(Arc::clone(&collected));
    rt().block_on(async {
        let mut body = app.call(get("/")).await.unwrap().into_body();
        while body.frame().await.is_some() {}
        assert!(body.frame().await.is_none());
    });
    let ids: Vec<_> = collected.lock().unwrap().iter().map(|v| v.rule.id).collect();
    assert_eq!(ids, ["BODY-9"]);
}

#[test]
fn modes_log_fail_or_panic() {
    let bad = || {
        answer(|| {
            let mut r = Response::new(Body::empty());
            r.headers_mut().insert("upgrade", HeaderValue::from_static("h2c"));
            r
        })
    };
    let logged = rt().block_on(Validate::new(bad()).mode(ValidateMode::Log).call(get("/"))).unwrap();
    assert_eq!(logged.status(), 200);
    let failed = rt().block_on(Validate::new(bad()).mode(ValidateMode::Fail).call(get("/"))).unwrap();
    assert_eq!(failed.status(), 500);
    let panicked =
        std::panic::catch_unwind(|| rt().block_on(Validate::new(bad()).mode(ValidateMode::Panic).call(get("/"))));
    let message = *panicked.unwrap_err().downcast::<String>().unwrap();
    assert!(message.contains("[APP-5]") && message.contains("fix:"), "{message}");
    // In Fail mode a body that breaks its length ends with an error.
    let long = answer(|| {
        let mut r = Response::new(Body::from_stream(futures_util::stream::iter([Ok::<_, Infallible>("toolong")])));
        r.headers_mut().insert("content-length", HeaderValue::from_static("3"));
        r
    });
    let body = rt().block_on(Validate::new(long).mode(ValidateMode::Fail).call(get("/"))).unwrap().into_body();
    assert!(rt().block_on(body.collect(1024)).is_err());
}

#[test]
fn every_rule_cites_a_requirement() {
    assert!(rules().len() >= 20);
    for rule in rules() {
        let (prefix, number) = rule.id.split_once('-').unwrap();
        assert!(prefix.chars().all(|c| c.is_ascii_uppercase()) && number.parse::<u32>().is_ok(), "{}", rule.id);
        assert!(!rule.fix.is_empty() && !rule.summary.is_empty());
    }
}
