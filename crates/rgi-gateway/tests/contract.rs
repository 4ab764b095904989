//! The contract's promises that need no server: object safety, panics
//! caught per request, error kinds (APP-1, ERR-2, ERR-4).
#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

use std::sync::Arc;

use rgi_core::{async_trait, Application, Body, Error, Request, Response};
use rgi_gateway::call_guarded;
use rgi_gateway::respond::status_of;
use rgi_gateway::testing::RequestBuilder;

struct Counter(std::sync::atomic::AtomicUsize);

#[async_trait]
impl Application for Counter {
    async fn call(&self, _req: Request) -> Result<Response, Error> {
        let n = self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if n == 1 {
            panic!("second call panics");
        }
        Ok(http::Response::new(Body::from(n.to_string())))
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

#[test]
fn applications_are_object_safe_and_shared_across_threads() {
    // APP-1
    let app: Arc<dyn Application> = Arc::new(Counter(0.into()));
    let rt = rt();
    let mut handles = Vec::new();
    for _ in 0..8 {
        let app = Arc::clone(&app);
        handles.push(rt.spawn(async move {
            let req = RequestBuilder::new().body(Body::empty()).unwrap();
            call_guarded(&*app, req).await
        }));
    }
    let results: Vec<_> = rt.block_on(async {
        let mut out = Vec::new();
        for h in handles {
            out.push(h.await.unwrap());
        }
        out
    });
    // ERR-2: exactly one call panicked, and only that call failed.
    assert_eq!(results.iter().filter(|r| r.as_ref().is_err_and(Error::is_panic)).count(), 1);
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 7);
}

#[test]
fn panic_messages_are_kept() {
    // ERR-2
    let app = rgi_core::from_fn(|_req: Request| async move {
        if true {
            panic!("exploded at {}", 42);
        }
        Ok(http::Response::new(Body::empty()))
    });
    let err = rt().block_on(call_guarded(&app, RequestBuilder::new().body(Body::empty()).unwrap())).unwrap_err();
    assert!(err.is_panic());
    assert_eq!(err.to_string(), "application panicked: exploded at 42");
    assert_eq!(status_of(&err), 500);
}

#[test]
fn error_is_opaque_and_small() {
    // ERR-4
    fn send_sync_static<T: Send + Sync + 'static + std::error::Error>() {}
    send_sync_static::<Error>();
    assert_eq!(std::mem::size_of::<Error>(), std::mem::size_of::<*const ()>());
}

#[test]
fn requests_round_trip_through_http_types() {
    // APP-2
    let req = RequestBuilder::new().uri("/a?b").mount("/a").body(Body::from("x")).unwrap();
    let http_req = req.into_http();
    assert!(http_req.extensions().get::<rgi_core::Environ>().is_some());
    let req = Request::from_http(http_req).unwrap();
    assert_eq!(req.environ().script_name(), "/a");
    let bare = http::Request::new(Body::empty());
    assert!(Request::from_http(bare).is_err());
}

#[test]
fn builder_refuses_what_a_server_refuses() {
    // ENV-6, PATH-3
    let no_host = RequestBuilder::new().uri("http://h/x").version(http::Version::HTTP_11).body(Body::empty());
    assert!(no_host.is_ok(), "absolute-form needs no Host");
    let bad_mount = RequestBuilder::new().uri("/b").mount("/a").body(Body::empty());
    assert!(bad_mount.unwrap_err().is_bad_request());
}

#[test]
fn errors_keep_their_kind_when_passed_on() {
    // ERR-5: a body error an application returns with `?`, or wraps again,
    // is still answered by its own status.
    let rt = rt();
    let app = rgi_core::from_fn(|req: Request| async move {
        let body = req.into_body().collect(4).await.map_err(Error::new)?;
        Ok(http::Response::new(Body::from(body)))
    });
    let req = RequestBuilder::new().method("POST").body(Body::from("too long")).unwrap();
    let err = rt.block_on(call_guarded(&app, req)).unwrap_err();
    assert!(err.is_body_too_large(), "{err:?}");
    assert_eq!(status_of(&err), 413);
}
