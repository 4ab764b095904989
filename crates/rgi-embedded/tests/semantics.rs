//! HTTP semantics the contract promises, seen from a client on a real
//! socket: gateway variables, header rules, bodies, framing, errors.
#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

mod support;

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::Frame;
use rgi_core::{from_fn, Body, Error, Request, Response};
use rgi_embedded::{Config, Mounts};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn gateway_variables_come_from_the_request_and_connection() {
    // ENV-1, ENV-2, ENV-3, ENV-4, ENV-5, ENV-8, ENV-9, ENV-10, ENV-11, PATH-5
    bounded(async {
        let server = TestServer::with_app(environ_app()).await;
        let mut conn = server.connect().await;
        let local = conn.local_addr().unwrap();
        conn.write_all(b"PATCH /a%20b/c%2Fd/../e?x=%20&x=2 HTTP/1.1\r\nHost: example.test:8080\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nabc")
            .await
            .unwrap();
        let v = vars(&read_response(&mut conn).await.unwrap());
        assert_eq!(v["REQUEST_METHOD"], "PATCH");
        assert_eq!(v["PATH_INFO"], "/a b/e");
        assert_eq!(v["SCRIPT_NAME"], "");
        assert_eq!(v["QUERY_STRING"], "x=%20&x=2");
        assert_eq!(v["REMOTE_ADDR"], "127.0.0.1");
        assert_eq!(v["REMOTE_PORT"], local.port().to_string());
        assert_eq!((v["SERVER_NAME"].as_str(), v["SERVER_PORT"].as_str()), ("example.test", "8080"));
        assert_eq!(v["SERVER_PROTOCOL"], "HTTP/1.1");
        assert_eq!((v["CONTENT_TYPE"].as_str(), v["CONTENT_LENGTH"].as_str()), ("text/plain", "3"));
        assert!(!v.contains_key("HTTP_CONTENT_TYPE") && !v.contains_key("HTTP_CONTENT_LENGTH"));
        assert_eq!(v["body"], "abc");
        assert_eq!((v["mode"].as_str(), v["multithread"].as_str()), ("embedded", "true"));
        assert_eq!(v["pid"], std::process::id().to_string());
        let v = vars(&server.raw(b"GET /p%2fq HTTP/1.0\r\n\r\n").await);
        assert_eq!(v["SERVER_PROTOCOL"], "HTTP/1.0");
        assert_eq!(v["PATH_INFO"], "/p%2Fq");
        assert_eq!(v["SERVER_PORT"], server.addr.port().to_string());
    })
    .await;
}

#[tokio::test]
async fn request_headers_are_sanitised_before_the_application() {
    // HDR-1, HDR-2, HDR-3, HDR-4, BODY-2, ENV-10
    bounded(async {
        let server = TestServer::with_app(environ_app()).await;
        let raw = b"POST / HTTP/1.1\r\nHost: t\r\nX-User: alice\r\nX_User: mallory\r\nProxy: http://evil\r\nAccept: a\r\nAccept: b\r\nCookie: a=1\r\nCookie: b=2\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
        let v = vars(&server.raw(raw).await);
        assert_eq!(v["HTTP_X_USER"], "alice");
        assert!(!v.contains_key("HTTP_PROXY"));
        assert_eq!(v["HTTP_ACCEPT"], "a, b");
        assert_eq!(v["HTTP_COOKIE"], "a=1; b=2");
        assert!(!v.contains_key("HTTP_CONNECTION") && !v.contains_key("HTTP_X_HOP"));
        assert!(!v.contains_key("HTTP_TRANSFER_ENCODING") && !v.contains_key("CONTENT_LENGTH"));
        assert_eq!(v["body"], "abc", "chunked body reads like any other");
    })
    .await;
}

#[tokio::test]
async fn head_204_and_304_carry_no_body() {
    // HDR-7, APP-11
    bounded(async {
        let app = from_fn(|req: Request| async move {
            let status = match req.environ().path_info() {
                "/204" => 204,
                "/304" => 304,
                _ => 200,
            };
            let mut resp = Response::new(Body::from("twelve bytes"));
            *resp.status_mut() = http::StatusCode::from_u16(status).unwrap();
            Ok(resp)
        });
        let server = TestServer::with_app(app).await;
        let mut conn = server.connect().await;
        conn.write_all(b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\n").await.unwrap();
        let head = read_head_response(&mut conn).await.unwrap();
        assert_eq!(head.header("content-length"), Some("12"), "HEAD keeps the GET's length");
        for path in ["/204", "/304"] {
            conn.write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes()).await.unwrap();
            let resp = read_response(&mut conn).await.unwrap();
            assert!(resp.body.is_empty());
            if path == "/204" {
                assert_eq!(resp.header("content-length"), None);
            }
        }
        // No stray body bytes: the next response parses cleanly.
        conn.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").await.unwrap();
        assert_eq!(read_response(&mut conn).await.unwrap().body_text(), "twelve bytes");
    })
    .await;
}

#[tokio::test]
async fn date_and_server_headers_are_added() {
    // HDR-8
    bounded(async {
        let server = TestServer::with_app(ok_app()).await;
        let resp = server.raw(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").await;
        assert!(resp.header("date").is_some());
        assert_eq!(resp.header("server"), Some("rgi"));
        let custom = from_fn(|_| async {
            let mut r = Response::new(Body::empty());
            r.headers_mut().insert("server", "mine".parse().unwrap());
            Ok(r)
        });
        let server = TestServer::with_app(custom).await;
        assert_eq!(server.raw(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").await.header("server"), Some("mine"));
    })
    .await;
}

#[tokio::test]
async fn hop_by_hop_headers_from_the_application_are_removed() {
    // HDR-6, APP-5
    bounded(async {
        let app = from_fn(|req: Request| async move {
            let mut r = Response::new(Body::from("x"));
            r.headers_mut().insert("keep-alive", "timeout=99".parse().unwrap());
            r.headers_mut().insert("upgrade", "h2c".parse().unwrap());
            r.headers_mut().insert("proxy-connection", "keep-alive".parse().unwrap());
            if req.environ().path_info() == "/close" {
                r.headers_mut().insert("connection", "close".parse().unwrap());
            }
            Ok(r)
        });
        let server = TestServer::with_app(app).await;
        let mut conn = server.connect().await;
        conn.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").await.unwrap();
        let resp = read_response(&mut conn).await.unwrap();
        for h in ["keep-alive", "upgrade", "proxy-connection", "connection"] {
            assert_eq!(resp.header(h), None, "{h} passed through");
        }
        // Connection: close is honoured, not passed through as-is.
        conn.write_all(b"GET /close HTTP/1.1\r\nHost: t\r\n\r\n").await.unwrap();
        assert_eq!(read_response(&mut conn).await.unwrap().status, 200);
        assert!(closed_within(&mut conn, Duration::from_secs(3)).await);
    })
    .await;
}

#[tokio::test]
async fn expect_100_continue_is_answered_by_the_server() {
    // BODY-10
    bounded(async {
        let server = TestServer::with_app(ok_app()).await;
        let mut conn = server.connect().await;
        conn.write_all(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
            .await
            .unwrap();
        let mut interim = [0u8; 25];
        conn.read_exact(&mut interim).await.unwrap();
        assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
        conn.write_all(b"body").await.unwrap();
        assert_eq!(read_response(&mut conn).await.unwrap().body_text(), "ok 4");
        // An application that answers without reading gets no 100 sent.
        let quick = from_fn(|_| async { Ok(Response::new(Body::from("no need"))) });
        let server = TestServer::with_app(quick).await;
        let mut conn = server.connect().await;
        conn.write_all(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
            .await
            .unwrap();
        let mut first = [0u8; 12];
        conn.read_exact(&mut first).await.unwrap();
        assert_eq!(&first, b"HTTP/1.1 200");
    })
    .await;
}

struct Trailing(u8);

impl http_body::Body for Trailing {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0 += 1;
        Poll::Ready(match self.0 {
            1 => Some(Ok(Frame::data(Bytes::from_static(b"data")))),
            2 => {
                let mut t = http::HeaderMap::new();
                t.insert("x-digest", "42".parse().unwrap());
                Some(Ok(Frame::trailers(t)))
            }
            _ => None,
        })
    }
}

#[tokio::test]
async fn trailers_travel_both_ways() {
    // BODY-8
    bounded(async {
        let app = from_fn(|req: Request| async move {
            let (data, trailers) = req.into_body().collect_with_trailers(1024).await?;
            let seen = trailers.and_then(|t| t.get("x-sum").map(|v| v.to_str().unwrap_or("").to_string()));
            let mut r = Response::new(Body::wrap(Trailing(0)));
            r.headers_mut().insert("trailer", "x-digest".parse().unwrap());
            r.headers_mut().insert("x-request-trailer", seen.unwrap_or_default().parse().unwrap());
            r.headers_mut().insert("x-request-body", String::from_utf8_lossy(&data).parse().unwrap());
            Ok(r)
        });
        let server = TestServer::with_app(app).await;
        let mut conn = server.connect().await;
        conn.write_all(b"POST / HTTP/1.1\r\nHost: t\r\nTE: trailers\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\nX-Sum: 7\r\n\r\n")
            .await
            .unwrap();
        let mut raw = Vec::new();
        let mut buf = [0u8; 4096];
        while !raw.ends_with(b"\r\n\r\n") || !String::from_utf8_lossy(&raw).contains("x-digest") {
            let n = tokio::time::timeout(Duration::from_secs(5), conn.read(&mut buf)).await.unwrap().unwrap();
            assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&raw));
            raw.extend_from_slice(&buf[..n]);
        }
        let text = String::from_utf8_lossy(&raw);
        assert!(text.contains("x-request-trailer: 7"), "{text}");
        assert!(text.contains("x-request-body: hi"), "{text}");
        assert!(text.contains("0\r\nx-digest: 42\r\n\r\n"), "{text}");
    })
    .await;
}

#[tokio::test]
async fn content_length_is_never_exceeded_and_short_bodies_end_the_connection() {
    // BODY-6, APP-6, SRV-6
    bounded(async {
        let app = from_fn(|req: Request| async move {
            let path = req.environ().path_info().to_string();
            let mut r = match path.as_str() {
                "/" => return Ok(Response::new(Body::from("fine"))),
                "/fixed" => Response::new(Body::from("12345")),
                _ => Response::new(Body::from_stream(futures_util::stream::iter([Ok::<_, Infallible>("12345")]))),
            };
            let declared = if path == "/short" { "10" } else { "3" };
            r.headers_mut().insert("content-length", declared.parse().unwrap());
            Ok(r)
        });
        let server = TestServer::with_app(app).await;
        for path in ["/short", "/long"] {
            let mut conn = server.connect().await;
            conn.write_all(
                format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes(),
            )
            .await
            .unwrap();
            let mut all = Vec::new();
            let _ = tokio::time::timeout(Duration::from_secs(5), conn.read_to_end(&mut all)).await.unwrap();
            // hyper may drop a head it had not flushed when the body fails;
            // either way the client sees the connection end mid-response.
            let text = String::from_utf8_lossy(&all);
            let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
            assert_eq!(text.matches("HTTP/1.1 ").count(), usize::from(!text.is_empty()), "{path}: {text:?}");
            let declared = if path == "/long" { 3 } else { 10 };
            assert!(body.len() < declared || (path == "/long" && body.len() == 3), "{path}: {text:?}");
            if path == "/long" {
                assert!(!body.contains("45"), "{path}: more than Content-Length sent: {body:?}");
            }
        }
        // A body whose size is known up front is checked before sending.
        assert_eq!(server.raw(b"GET /fixed HTTP/1.1\r\nHost: t\r\n\r\n").await.status, 500);
        assert!(server.still_serving().await);
    })
    .await;
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order() {
    // SRV-5
    bounded(async {
        let app = from_fn(|req: Request| async move {
            // The first takes longest; order must still hold.
            let delay = match req.environ().path_info() {
                "/1" => 150,
                "/2" => 50,
                _ => 0,
            };
            tokio::time::sleep(Duration::from_millis(delay)).await;
            Ok(Response::new(Body::from(req.environ().path_info().to_string())))
        });
        let server = TestServer::with_app(app).await;
        let mut conn = server.connect().await;
        let mut batch = Vec::new();
        for i in 1..=3 {
            batch.extend_from_slice(format!("GET /{i} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
        }
        conn.write_all(&batch).await.unwrap();
        for i in 1..=3 {
            assert_eq!(read_response(&mut conn).await.unwrap().body_text(), format!("/{i}"));
        }
    })
    .await;
}

#[tokio::test]
async fn mounts_route_by_longest_prefix_and_split_the_path() {
    // PATH-4, SRV-8, PATH-7
    bounded(async {
        let mut mounts = Mounts::new();
        mounts.add("/api", environ_app()).unwrap().add("/api/v2", environ_app()).unwrap();
        let server = TestServer::start(Config::default(), mounts).await;
        let get = |t: &str| format!("GET {t} HTTP/1.1\r\nHost: t\r\n\r\n");
        let v = vars(&server.raw(get("/api/v2/x?q").as_bytes()).await);
        assert_eq!((v["SCRIPT_NAME"].as_str(), v["PATH_INFO"].as_str()), ("/api/v2", "/x"));
        let v = vars(&server.raw(get("/%61pi/v3").as_bytes()).await);
        assert_eq!((v["SCRIPT_NAME"].as_str(), v["PATH_INFO"].as_str()), ("/api", "/v3"));
        let v = vars(&server.raw(get("/api").as_bytes()).await);
        assert_eq!((v["SCRIPT_NAME"].as_str(), v["PATH_INFO"].as_str()), ("/api", ""));
        for unmounted in ["/apiary", "/", "/api%2Fv2"] {
            let resp = server.raw(get(unmounted).as_bytes()).await;
            assert_eq!(resp.status, 404, "{unmounted}");
            assert!(resp.body_text().contains("no application is mounted"));
        }
        // The asterisk form reaches only a root mount.
        assert_eq!(server.raw(b"OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n").await.status, 404);
        let root = TestServer::with_app(environ_app()).await;
        let v = vars(&root.raw(b"OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n").await);
        assert_eq!((v["SCRIPT_NAME"].as_str(), v["PATH_INFO"].as_str()), ("", "*"));
    })
    .await;
}

#[tokio::test]
async fn application_errors_and_panics_are_500_for_that_request_only() {
    // ERR-1, ERR-2, SRV-7, APP-3
    bounded(async {
        let app = from_fn(|req: Request| async move {
            match req.environ().path_info() {
                "/error" => Err(Error::msg("secret database password in this message")),
                "/panic" => panic!("handler exploded"),
                "/status" => {
                    let mut r = Response::new(Body::empty());
                    *r.status_mut() = http::StatusCode::CONTINUE;
                    Ok(r)
                }
                "/too-large" => Err(rgi_core::server_error::body_too_large(10)),
                _ => Ok(Response::new(Body::from("fine"))),
            }
        });
        let server = TestServer::with_app(app).await;
        let mut conn = server.connect().await;
        for path in ["/error", "/panic", "/status"] {
            conn.write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes()).await.unwrap();
            let resp = read_response(&mut conn).await.unwrap();
            assert_eq!(resp.status, 500, "{path}");
            assert!(!resp.body_text().contains("secret"), "error details leaked");
        }
        // The same connection goes on being served.
        conn.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").await.unwrap();
        assert_eq!(read_response(&mut conn).await.unwrap().body_text(), "fine");
        // Other kinds keep their status (ERR-1).
        assert_eq!(server.raw(b"GET /too-large HTTP/1.1\r\nHost: t\r\n\r\n").await.status, 413);
        assert!(server.still_serving().await);
    })
    .await;
}

#[tokio::test]
async fn a_body_failing_after_the_head_ends_the_connection() {
    // ERR-3, BODY-6, ERR-2
    bounded(async {
        let app = from_fn(|req: Request| async move {
            let panics = match req.environ().path_info() {
                "/panic" => true,
                "/error" => false,
                _ => return Ok(Response::new(Body::from("fine"))),
            };
            // The failure comes after a pause, so the head and the first
            // chunks are on the wire before it.
            let chunks = futures_util::stream::unfold(0, move |i| async move {
                tokio::time::sleep(Duration::from_millis(50)).await;
                match i {
                    0 | 1 => Some((Ok(Bytes::from_static(b"chunk ")), i + 1)),
                    2 if panics => panic!("body exploded"),
                    2 => Some((Err(std::io::Error::other("storage failed")), 3)),
                    _ => None,
                }
            });
            Ok(Response::new(Body::from_stream(chunks)))
        });
        let server = TestServer::with_app(app).await;
        for path in ["/error", "/panic"] {
            let mut conn = server.connect().await;
            conn.write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes()).await.unwrap();
            let mut all = Vec::new();
            let _ = tokio::time::timeout(Duration::from_secs(5), conn.read_to_end(&mut all)).await.unwrap();
            let text = String::from_utf8_lossy(&all);
            assert!(text.starts_with("HTTP/1.1 200"), "{text}");
            assert!(!text.ends_with("0\r\n\r\n"), "a failed body must not look complete: {text:?}");
            assert_eq!(text.matches("HTTP/1.1").count(), 1, "a second response was sent");
        }
        assert!(server.still_serving().await);
    })
    .await;
}

#[tokio::test]
async fn bodies_stream_both_ways() {
    // BODY-1: the application reads the first request chunk and answers it
    // while the client has not sent the rest; the client reads that answer
    // before sending more. Nothing waits for a whole body.
    bounded(async {
        let app = from_fn(|req: Request| async move {
            let mut body = req.into_body();
            let echo = futures_util::stream::unfold(Some(body), |state| async move {
                let mut body = state?;
                match body.frame().await {
                    Some(Ok(frame)) => match frame.into_data() {
                        Ok(data) => Some((Ok::<_, Error>(data), Some(body))),
                        Err(_) => None,
                    },
                    Some(Err(e)) => Some((Err(e), None)),
                    None => None,
                }
            });
            body = Body::from_stream(echo);
            Ok(Response::new(body))
        });
        let server = TestServer::with_app(app).await;
        let mut conn = server.connect().await;
        conn.write_all(b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n")
            .await
            .unwrap();
        let mut seen = Vec::new();
        let mut buf = [0u8; 1024];
        while !String::from_utf8_lossy(&seen).contains("first") {
            let n = tokio::time::timeout(Duration::from_secs(5), conn.read(&mut buf)).await.unwrap().unwrap();
            assert!(n > 0);
            seen.extend_from_slice(&buf[..n]);
        }
        conn.write_all(b"6\r\nsecond\r\n0\r\n\r\n").await.unwrap();
        while !String::from_utf8_lossy(&seen).ends_with("0\r\n\r\n") {
            let n = tokio::time::timeout(Duration::from_secs(5), conn.read(&mut buf)).await.unwrap().unwrap();
            assert!(n > 0);
            seen.extend_from_slice(&buf[..n]);
        }
        assert!(String::from_utf8_lossy(&seen).contains("second"));
    })
    .await;
}
