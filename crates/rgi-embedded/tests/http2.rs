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

#[tokio::test]
async fn a_preface_sent_in_pieces_is_still_http2() {
    // A connection goes to hyper's HTTP/1 side on its first bytes unless
    // they may begin HTTP/2's preface: a preface that arrives in pieces
    // must still be told apart, and answered with the server's SETTINGS.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    bounded(async {
        let server = TestServer::with_app(environ_app()).await;
        let mut conn = server.connect().await;
        let preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
        for piece in [&preface[..1], &preface[1..16], &preface[16..]] {
            conn.write_all(piece).await.unwrap();
            conn.flush().await.unwrap();
            // Shapes the input (pieces the server may peek at one by
            // one); nothing is asserted on time.
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        // An empty SETTINGS frame, as a client's first frame.
        conn.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]).await.unwrap();
        let mut head = [0u8; 9];
        conn.read_exact(&mut head).await.unwrap();
        assert_eq!(head[3], 4, "the server's first frame is SETTINGS: {head:?}");
    })
    .await;
}

#[tokio::test]
async fn http1_whose_first_byte_could_begin_the_preface_is_served() {
    // "P" may begin the preface: the server must look further, not guess.
    use tokio::io::AsyncWriteExt;
    bounded(async {
        let server = TestServer::with_app(environ_app()).await;
        let mut conn = server.connect().await;
        conn.write_all(b"P").await.unwrap();
        conn.flush().await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        conn.write_all(b"UT /p HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi").await.unwrap();
        let response = read_response(&mut conn).await.unwrap();
        assert_eq!(response.status, 200);
        assert!(String::from_utf8_lossy(&response.body).contains("REQUEST_METHOD=PUT"));
    })
    .await;
}
