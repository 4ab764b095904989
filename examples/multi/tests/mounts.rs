//! Two applications under /a and /b: each sees its own SCRIPT_NAME, and
//! other paths get 404 (PATH-4, SRV-8).
#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

use rgi::{Application, Body};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

async fn get(uri: &str) -> (u16, String) {
    let mounts = multi::mounts();
    let resp = mounts.call(rgi::testing::RequestBuilder::new().uri(uri).body(Body::empty()).unwrap()).await.unwrap();
    let status = resp.status().as_u16();
    (status, String::from_utf8(resp.into_body().collect(1 << 20).await.unwrap().to_vec()).unwrap())
}

#[test]
fn each_prefix_reaches_its_application() {
    rt().block_on(async {
        assert_eq!(get("/a/anything").await, (200, "Hello, World!".into()));
        let (status, json) = get("/b/x?y=1").await;
        assert_eq!(status, 200);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!((v["SCRIPT_NAME"].as_str(), v["PATH_INFO"].as_str()), (Some("/b"), Some("/x")));
        assert_eq!(get("/c").await.0, 404);
        assert_eq!(get("/bb").await.0, 404);
    });
}
