//! The axum Router runs through rgi unchanged, mounted or not (APP-8).
#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

use rgi::{Application, Body};

async fn get(app: &dyn Application, uri: &str, mount: &str) -> (u16, String) {
    let req = rgi::testing::RequestBuilder::new().uri(uri).mount(mount).body(Body::empty()).unwrap();
    let resp = app.call(req).await.unwrap();
    let status = resp.status().as_u16();
    (status, String::from_utf8(resp.into_body().collect(1 << 20).await.unwrap().to_vec()).unwrap())
}

#[test]
fn routes_answer_through_rgi() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let app = rgi::tower::from_service(axum_example::router());
        assert_eq!(get(&app, "/users/7", "").await, (200, r#"{"id":7}"#.into()));
        assert_eq!(get(&app, "/shop/users/8", "/shop").await, (200, r#"{"id":8}"#.into()));
        let (status, json) = get(&app, "/shop/environ", "/shop").await;
        assert_eq!(status, 200);
        assert!(json.contains(r#""script_name":"/shop""#) && json.contains(r#""path_info":"/environ""#), "{json}");
        assert_eq!(get(&app, "/nope", "").await.0, 404);
        assert_eq!(get(&app, "/search?q=rgi", "").await, (200, r#"{"q":"rgi"}"#.into()));
        // PATH-4: the application's own URLs carry its mount prefix.
        for (mount, location) in [("", "/users/1"), ("/shop", "/shop/users/1")] {
            let req = rgi::testing::RequestBuilder::new()
                .uri(format!("{mount}/login"))
                .mount(mount)
                .body(Body::empty())
                .unwrap();
            let resp = app.call(req).await.unwrap();
            assert_eq!(resp.status(), 303, "{mount}");
            assert_eq!(resp.headers()["location"], location, "{mount}");
        }
        // APP-8: ConnectInfo<SocketAddr> works as under axum::serve.
        assert_eq!(get(&app, "/peer", "").await, (200, "127.0.0.1".into()));
    });
}
