//! Every limit, over a real socket; after each, the server still serves
//! (SRV-2, SRV-3, SRV-7, BODY-4, BODY-5).
#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rgi_core::{from_fn, Body, Request, Response};
use rgi_embedded::{Config, Limits};
use support::*;
use tokio::io::AsyncWriteExt;

fn config(f: impl FnOnce(&mut Limits)) -> Config {
    let mut config = Config::default();
    f(&mut config.limits);
    config
}

#[tokio::test]
async fn header_section_over_the_limit_is_431() {
    // SRV-2
    bounded(async {
        let server = TestServer::with_config(config(|l| l.max_header_bytes = 8192), ok_app()).await;
        let mut req = b"GET / HTTP/1.1\r\nHost: t\r\n".to_vec();
        for i in 0..12 {
            req.extend_from_slice(format!("X-Filler-{i}: {}\r\n", "a".repeat(1000)).as_bytes());
        }
        req.extend_from_slice(b"\r\n");
        assert_eq!(server.raw(&req).await.status, 431);
        assert!(server.still_serving().await);
    })
    .await;
}

#[tokio::test]
async fn too_many_fields_is_431() {
    // SRV-2: a configured count, and hyper's default of 100.
    bounded(async {
        for (limit, sent) in [(20, 30), (100, 120)] {
            let server = TestServer::with_config(config(|l| l.max_header_count = limit), ok_app()).await;
            let mut req = b"GET / HTTP/1.1\r\nHost: t\r\n".to_vec();
            for i in 0..sent {
                req.extend_from_slice(format!("X-H{i}: v\r\n").as_bytes());
            }
            req.extend_from_slice(b"\r\n");
            assert_eq!(server.raw(&req).await.status, 431, "limit {limit}");
            assert!(server.still_serving().await);
        }
    })
    .await;
}

#[tokio::test]
async fn one_field_over_the_limit_is_431_naming_it() {
    // SRV-2
    bounded(async {
        let server = TestServer::with_config(config(|l| l.max_header_field_bytes = 1024), ok_app()).await;
        let req = format!("GET / HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n", "b".repeat(2000));
        let resp = server.raw(req.as_bytes()).await;
        assert_eq!(resp.status, 431);
        assert!(resp.body_text().contains("x-big"), "{}", resp.body_text());
        assert!(server.still_serving().await);
    })
    .await;
}

#[tokio::test]
async fn long_target_is_414() {
    // SRV-2
    bounded(async {
        let server = TestServer::with_config(config(|l| l.max_uri_bytes = 1024), ok_app()).await;
        let req = format!("GET /{} HTTP/1.1\r\nHost: t\r\n\r\n", "p".repeat(2000));
        let resp = server.raw(req.as_bytes()).await;
        assert_eq!(resp.status, 414);
        assert!(resp.body_text().contains("exceeds the limit of 1024"), "{}", resp.body_text());
        assert!(server.still_serving().await);
    })
    .await;
}

#[tokio::test]
async fn declared_body_over_the_limit_is_413_before_reading() {
    // BODY-4, BODY-10: refused before the application runs and before any
    // 100 Continue, so the client never sends the body.
    bounded(async {
        let calls = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&calls);
        let app = from_fn(move |req: Request| {
            seen.fetch_add(1, Ordering::SeqCst);
            async move { Ok(Response::new(Body::from(req.into_body().collect(u64::MAX).await?))) }
        });
        let server = TestServer::with_config(config(|l| l.max_body_bytes = Some(1000)), app).await;
        let mut conn = server.connect().await;
        conn.write_all(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n")
            .await
            .unwrap();
        let mut first = [0u8; 12];
        tokio::io::AsyncReadExt::read_exact(&mut conn, &mut first).await.unwrap();
        assert_eq!(&first, b"HTTP/1.1 413", "no 100 Continue before the refusal");
        assert_eq!(calls.load(Ordering::SeqCst), 0, "the application was not called");
        assert!(server.still_serving().await);
    })
    .await;
}

#[tokio::test]
async fn chunked_body_crossing_the_limit_is_413() {
    // BODY-4
    bounded(async {
        let server = TestServer::with_config(config(|l| l.max_body_bytes = Some(1000)), ok_app()).await;
        let mut req = b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        for _ in 0..3 {
            req.extend_from_slice(format!("258\r\n{}\r\n", "c".repeat(600)).as_bytes());
        }
        req.extend_from_slice(b"0\r\n\r\n");
        let resp = server.raw(&req).await;
        assert_eq!(resp.status, 413);
        // Within the limit, the same shape passes.
        let small = b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
        assert_eq!(server.raw(small).await.body_text(), "ok 3");
    })
    .await;
}

#[tokio::test]
async fn bodies_one_byte_either_side_of_the_limit_declared_and_chunked() {
    // BODY-4: the limit is the largest body that passes.
    bounded(async {
        const LIMIT: usize = 1000;
        let server = TestServer::with_config(config(|l| l.max_body_bytes = Some(LIMIT as u64)), ok_app()).await;
        for len in [LIMIT - 1, LIMIT, LIMIT + 1] {
            let body = "d".repeat(len);
            let declared = format!("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: {len}\r\n\r\n{body}");
            let chunked = format!(
                "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{}\r\n{:x}\r\n{}\r\n0\r\n\r\n",
                len / 2,
                &body[..len / 2],
                len - len / 2,
                &body[len / 2..]
            );
            for (shape, request) in [("declared", declared), ("chunked", chunked)] {
                let resp = server.raw(request.as_bytes()).await;
                if len > LIMIT {
                    assert_eq!(resp.status, 413, "{len} bytes, {shape}");
                } else {
                    assert_eq!(resp.body_text(), format!("ok {len}"), "{len} bytes, {shape}");
                }
            }
        }
    })
    .await;
}

#[tokio::test]
async fn stalled_body_is_408() {
    // BODY-5
    bounded(async {
        let server =
            TestServer::with_config(config(|l| l.body_read_timeout = Duration::from_millis(300)), ok_app()).await;
        let started = Instant::now();
        let resp = server.raw(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nab").await;
        assert_eq!(resp.status, 408);
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(server.still_serving().await);
    })
    .await;
}

#[tokio::test]
async fn slow_request_heads_are_cut_off() {
    // SRV-3: a head that never completes, and a connection that sends nothing.
    bounded(async {
        let cfg = config(|l| l.header_read_timeout = Duration::from_millis(400));
        let server = TestServer::with_config(cfg, ok_app()).await;
        let mut partial = server.connect().await;
        partial.write_all(b"GET / HTTP/1.1\r\nHo").await.unwrap();
        let mut silent = server.connect().await;
        assert!(closed_within(&mut partial, Duration::from_secs(3)).await, "partial head not cut off");
        assert!(closed_within(&mut silent, Duration::from_secs(3)).await, "silent connection not cut off");
        assert!(server.still_serving().await);
    })
    .await;
}

#[tokio::test]
async fn idle_kept_alive_connections_are_closed() {
    // SRV-3
    bounded(async {
        let cfg = config(|l| l.keep_alive_timeout = Duration::from_millis(300));
        let server = TestServer::with_config(cfg, ok_app()).await;
        let mut conn = server.connect().await;
        conn.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").await.unwrap();
        assert_eq!(read_response(&mut conn).await.unwrap().status, 200);
        let idle_since = Instant::now();
        assert!(closed_within(&mut conn, Duration::from_secs(3)).await);
        assert!(idle_since.elapsed() >= Duration::from_millis(250), "closed before the timeout");
    })
    .await;
}

#[tokio::test]
async fn connections_over_the_limit_wait_their_turn() {
    // SRV-3: the third connection is not served while two are open, and is
    // served as soon as one closes.
    bounded(async {
        let server = TestServer::with_config(config(|l| l.max_connections = 2), ok_app()).await;
        let get = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n";
        let mut first = server.connect().await;
        first.write_all(get).await.unwrap();
        assert_eq!(read_response(&mut first).await.unwrap().status, 200);
        let mut second = server.connect().await;
        second.write_all(get).await.unwrap();
        assert_eq!(read_response(&mut second).await.unwrap().status, 200);
        let mut third = server.connect().await;
        third.write_all(get).await.unwrap();
        let waited = tokio::time::timeout(Duration::from_millis(500), read_response(&mut third)).await;
        assert!(waited.is_err(), "third connection served over the limit");
        drop(first);
        let resp = tokio::time::timeout(Duration::from_secs(5), read_response(&mut third)).await.unwrap().unwrap();
        assert_eq!(resp.status, 200);
    })
    .await;
}

#[tokio::test]
async fn fifty_header_tricklers_do_not_delay_a_normal_request() {
    // SRV-3: slowloris clients cost a task each, nothing more.
    bounded(async {
        let server = TestServer::with_app(ok_app()).await;
        let mut tricklers = Vec::new();
        for _ in 0..50 {
            let mut conn = server.connect().await;
            tricklers.push(tokio::spawn(async move {
                for byte in b"GET / HTTP/1.1\r\nX-Slow: " {
                    if conn.write_all(&[*byte]).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                // Then keep trickling header bytes forever.
                loop {
                    if conn.write_all(b"a").await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        for _ in 0..5 {
            let started = Instant::now();
            assert!(server.still_serving().await);
            assert!(started.elapsed() < Duration::from_millis(500), "normal request took {:?}", started.elapsed());
        }
        for t in tricklers {
            t.abort();
        }
    })
    .await;
}
