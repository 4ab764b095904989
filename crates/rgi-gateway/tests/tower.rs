//! tower interop with a real axum Router and `tower::service_fn` (APP-8, APP-9).
#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]
#![cfg(feature = "tower")]

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::Path;
use axum::routing::{get, post};
use axum::{Extension, Router};
use rgi_core::{from_fn, Application, Body, Environ, Request};
use rgi_gateway::testing::RequestBuilder;
use rgi_gateway::tower::{from_service, into_service, OriginalUri};
use tower::{Service, ServiceExt};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

fn router() -> Router {
    Router::new()
        .route("/", get(|| async { "Hello, World!" }))
        .route("/items/{id}", get(|Path(id): Path<String>| async move { format!("item {id}") }))
        .route("/echo", post(|body: String| async move { body }))
        .route(
            "/where",
            get(|Extension(env): Extension<Environ>, uri: axum::http::Uri| async move {
                format!("{}|{}|{}", env.script_name(), env.path_info(), uri)
            }),
        )
}

async fn call(app: &dyn Application, req: Request) -> (u16, String) {
    let resp = app.call(req).await.unwrap();
    let status = resp.status().as_u16();
    let body = resp.into_body().collect(1 << 20).await.unwrap();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

#[test]
fn axum_router_runs_as_an_application() {
    // APP-8
    rt().block_on(async {
        let app = from_service(router());
        let req = RequestBuilder::new().uri("/").body(Body::empty()).unwrap();
        assert_eq!(call(&app, req).await, (200, "Hello, World!".into()));
        let req = RequestBuilder::new().uri("/items/a%20b").body(Body::empty()).unwrap();
        assert_eq!(call(&app, req).await, (200, "item a b".into()));
        let req = RequestBuilder::new().method("POST").uri("/echo").body(Body::from("payload")).unwrap();
        assert_eq!(call(&app, req).await, (200, "payload".into()));
        let req = RequestBuilder::new().uri("/nope").body(Body::empty()).unwrap();
        assert_eq!(call(&app, req).await.0, 404);
    });
}

#[test]
fn mounted_router_sees_paths_relative_to_its_mount() {
    // APP-8
    rt().block_on(async {
        let app = from_service(router().layer(axum::middleware::from_fn(
            |req: axum::extract::Request, next: axum::middleware::Next| async move {
                let original = req.extensions().get::<OriginalUri>().map(|o| o.0.to_string()).unwrap_or_default();
                let mut resp = next.run(req).await;
                resp.headers_mut().insert("x-original", original.parse().unwrap());
                resp
            },
        )));
        let req = RequestBuilder::new().uri("/api/where?q=1").mount("/api").body(Body::empty()).unwrap();
        let resp = app.call(req).await.unwrap();
        assert_eq!(resp.headers()["x-original"], "/api/where?q=1");
        let body = resp.into_body().collect(1024).await.unwrap();
        assert_eq!(body, "/api|/where|/where?q=1");
    });
}

#[test]
fn dot_segments_are_removed_at_the_root_as_under_a_mount() {
    // APP-8, PATH-2: the same request routes the same way at every mount.
    rt().block_on(async {
        let app = from_service(router());
        for (uri, mount) in [("/x/../where?q=1", ""), ("/api/x/../where?q=1", "/api")] {
            let req = RequestBuilder::new().uri(uri).mount(mount).body(Body::empty()).unwrap();
            let resp = app.call(req).await.unwrap();
            assert_eq!(resp.status(), 200, "{uri}");
            let body = resp.into_body().collect(1024).await.unwrap();
            assert_eq!(body, format!("{mount}|/where|/where?q=1"), "{uri}");
        }
    });
}

#[test]
fn a_service_gets_startup_and_shutdown_hooks() {
    // APP-4: a tower service can do its startup work (a pool, a cache) and
    // its cleanup, as a native application does.
    rt().block_on(async {
        let started = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let stopped = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (s, t) = (Arc::clone(&started), Arc::clone(&stopped));
        let app = from_service(router())
            .on_startup(move || {
                let s = Arc::clone(&s);
                async move {
                    // Inside the runtime: spawning works.
                    tokio::spawn(async {}).await.unwrap();
                    s.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    Ok(())
                }
            })
            .on_shutdown(move || {
                let t = Arc::clone(&t);
                async move {
                    t.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
            });
        app.startup().await.unwrap();
        assert_eq!(call(&app, RequestBuilder::new().body(Body::empty()).unwrap()).await.0, 200);
        app.shutdown().await;
        assert_eq!(
            (started.load(std::sync::atomic::Ordering::SeqCst), stopped.load(std::sync::atomic::Ordering::SeqCst)),
            (1, 1)
        );
        let failing = from_service(router()).on_startup(|| async { Err(rgi_core::Error::msg("no database")) });
        assert_eq!(failing.startup().await.unwrap_err().to_string(), "no database");
    });
}

#[test]
fn service_fn_runs_as_an_application() {
    // APP-8
    rt().block_on(async {
        let svc = tower::service_fn(|req: http::Request<Body>| async move {
            let n = req.into_body().collect(1024).await.map(|b| b.len()).unwrap_or(0);
            Ok::<_, Infallible>(http::Response::new(Body::from(format!("{n} bytes"))))
        });
        let app = from_service(svc);
        let req = RequestBuilder::new().method("PUT").uri("/").body(Body::from("12345")).unwrap();
        assert_eq!(call(&app, req).await, (200, "5 bytes".into()));
    });
}

#[test]
fn application_runs_as_a_tower_service() {
    // APP-9, ERR-1, ERR-2
    rt().block_on(async {
        let app = from_fn(|req: Request| async move {
            match req.environ().path_info() {
                "/fail" => Err(rgi_core::Error::msg("nope")),
                "/panic" => panic!("handler exploded"),
                p => Ok(http::Response::new(Body::from(format!("at {p}")))),
            }
        });
        let mut svc = into_service(Arc::new(app));
        let get = |uri: &str| http::Request::builder().uri(uri).header("host", "x").body(Body::empty()).unwrap();
        let resp = ServiceExt::<http::Request<Body>>::ready(&mut svc).await.unwrap().call(get("/ok")).await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.into_body().collect(100).await.unwrap(), "at /ok");
        let resp = ServiceExt::<http::Request<Body>>::ready(&mut svc).await.unwrap().call(get("/fail")).await.unwrap();
        assert_eq!(resp.status(), 500);
        assert!(resp.extensions().get::<rgi_gateway::tower::AppError>().unwrap().0.is_app());
        let resp = ServiceExt::<http::Request<Body>>::ready(&mut svc).await.unwrap().call(get("/panic")).await.unwrap();
        assert_eq!(resp.status(), 500);
        assert!(resp.extensions().get::<rgi_gateway::tower::AppError>().unwrap().0.is_panic());
        // No Host on HTTP/1.1: the environ cannot be derived (ENV-6).
        let bad = http::Request::builder().uri("/").body(Body::empty()).unwrap();
        assert_eq!(
            ServiceExt::<http::Request<Body>>::ready(&mut svc).await.unwrap().call(bad).await.unwrap().status(),
            400
        );
    });
}

#[test]
fn application_nests_inside_an_axum_router() {
    // APP-9: the other direction, an rgi app inside axum.
    rt().block_on(async {
        let app = from_fn(|req: Request| async move { Ok(http::Response::new(Body::from(req.uri().to_string()))) });
        let router: Router = Router::new().nest_service("/rgi", into_service(Arc::new(app)));
        let req = http::Request::builder().uri("/rgi/x").header("host", "h").body(axum::body::Body::empty()).unwrap();
        let resp = router.oneshot(req).await.unwrap();
        assert_eq!(resp.status(), 200);
    });
}
