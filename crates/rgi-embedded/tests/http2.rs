//! HTTP/2 with prior knowledge, through hyper's client (ENV-5, ENV-8, HDR-7).
#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

mod support;

use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use support::*;

#[tokio::test]
async fn http2_prior_knowledge_is_served() {
    bounded(async {
        let server = TestServer::with_app(environ_app()).await;
        let io = TokioIo::new(server.connect().await);
        let (mut sender, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io).await.unwrap();
        tokio::spawn(conn);
        let mut answers = Vec::new();
        for i in 0..5 {
            let req = http::Request::builder()
                .method(if i == 4 { "HEAD" } else { "POST" })
                .uri(format!("http://h2.test:{}/stream/{i}?q", server.addr.port()))
                .body(Full::new(bytes::Bytes::from(format!("body {i}"))))
                .unwrap();
            answers.push(sender.send_request(req));
        }
        for (i, answer) in answers.into_iter().enumerate() {
            let resp = answer.await.unwrap();
            assert_eq!(resp.status(), 200);
            assert_eq!(resp.version(), http::Version::HTTP_2);
            let body = resp.into_body().collect().await.unwrap().to_bytes();
            if i == 4 {
                assert!(body.is_empty(), "HEAD over HTTP/2 carried a body");
                continue;
            }
            let text = String::from_utf8_lossy(&body);
            assert!(text.contains("SERVER_PROTOCOL=HTTP/2.0"), "{text}");
            assert!(text.contains("SERVER_NAME=h2.test"), "{text}");
            assert!(text.contains(&format!("PATH_INFO=/stream/{i}")), "{text}");
            assert!(text.contains(&format!("body=body {i}")), "{text}");
        }
    })
    .await;
}
