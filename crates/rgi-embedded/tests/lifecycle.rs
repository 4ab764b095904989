//! A server's life and its requests' lives: client disconnects, graceful
//! shutdown, startup and shutdown hooks, logging (SRV-4, SRV-9, SRV-10,
//! SRV-11, APP-4, APP-7).
#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rgi_core::{async_trait, from_fn, Application, Body, Error, Request, Response};
use rgi_embedded::{Config, Mounts};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !check() {
        assert!(Instant::now() < deadline, "{what} did not happen within 5 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_client_leaving_mid_response_drops_the_body() {
    // SRV-4, APP-7: the body's Drop is the close().
    bounded(async {
        let drops = DropCounter::default();
        let counter = drops.clone();
        let app = from_fn(move |req: Request| {
            let guard = counter.guard();
            let endless = req.environ().path_info() == "/endless";
            async move {
                if !endless {
                    return Ok(Response::new(Body::from("short")));
                }
                let chunks = futures_util::stream::unfold(guard, |guard| async move {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    Some((Ok::<_, std::io::Error>(Bytes::from(vec![b'x'; 1024])), guard))
                });
                Ok(Response::new(Body::from_stream(chunks)))
            }
        });
        let server = TestServer::with_app(app).await;
        let mut conn = server.connect().await;
        conn.write_all(b"GET /endless HTTP/1.1\r\nHost: t\r\n\r\n").await.unwrap();
        let mut buf = [0u8; 4096];
        conn.read_exact(&mut buf).await.unwrap();
        assert_eq!(drops.count(), 0, "body dropped while the client still reads");
        drop(conn);
        eventually("the body's drop", || drops.count() == 1).await;
        assert!(server.still_serving().await);
        eventually("the short request's drop", || drops.count() == 2).await;
    })
    .await;
}

#[tokio::test]
async fn a_client_leaving_before_the_response_drops_the_call() {
    // SRV-4, APP-7: the application's future is dropped too.
    bounded(async {
        let drops = DropCounter::default();
        let counter = drops.clone();
        let (called, mut calls) = tokio::sync::mpsc::unbounded_channel();
        let app = from_fn(move |_req: Request| {
            let guard = counter.guard();
            let _ = called.send(());
            async move {
                std::future::pending::<()>().await;
                drop(guard);
                Ok(Response::new(Body::empty()))
            }
        });
        let server = TestServer::with_app(app).await;
        let mut conn = server.connect().await;
        conn.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").await.unwrap();
        calls.recv().await.unwrap();
        drop(conn);
        eventually("the call's drop", || drops.count() == 1).await;
    })
    .await;
}

#[tokio::test]
async fn shutdown_lets_requests_in_flight_finish() {
    // SRV-9
    bounded(async {
        // The request runs until the test releases it, after shutdown began.
        let (called, mut calls) = tokio::sync::mpsc::unbounded_channel();
        let release = Arc::new(tokio::sync::Notify::new());
        let released = Arc::clone(&release);
        let app = from_fn(move |_req: Request| {
            let _ = called.send(());
            let released = Arc::clone(&released);
            async move {
                released.notified().await;
                Ok(Response::new(Body::from("finished")))
            }
        });
        let server = TestServer::with_app(app).await;
        let addr = server.addr;
        let mut conn = server.connect().await;
        conn.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").await.unwrap();
        calls.recv().await.unwrap();
        let stopping = tokio::spawn(server.shutdown());
        // No new connections once shutdown began: the listener closes
        // while the request is still in flight.
        eventually("the listener to close", || std::net::TcpStream::connect(addr).is_err()).await;
        release.notify_one();
        let resp = read_response(&mut conn).await.unwrap();
        assert_eq!(resp.body_text(), "finished");
        stopping.await.unwrap().unwrap();
    })
    .await;
}

#[tokio::test]
async fn shutdown_closes_what_outlives_the_grace_period() {
    // SRV-9
    bounded(async {
        let (called, mut calls) = tokio::sync::mpsc::unbounded_channel();
        let app = from_fn(move |_req: Request| {
            let _ = called.send(());
            async move {
                std::future::pending::<()>().await;
                Ok(Response::new(Body::empty()))
            }
        });
        let mut config = Config::default();
        config.grace_period = Duration::from_millis(300);
        let server = TestServer::with_config(config, app).await;
        let mut conn = server.connect().await;
        conn.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").await.unwrap();
        calls.recv().await.unwrap();
        let started = Instant::now();
        server.shutdown().await.unwrap();
        assert!(started.elapsed() < Duration::from_secs(3));
        assert!(closed_within(&mut conn, Duration::from_secs(1)).await);
    })
    .await;
}

struct Hooks {
    events: Arc<Mutex<Vec<&'static str>>>,
    fail_startup: bool,
}

#[async_trait]
impl Application for Hooks {
    async fn call(&self, _request: Request) -> Result<Response, Error> {
        self.events.lock().unwrap().push("call");
        Ok(Response::new(Body::empty()))
    }

    async fn startup(&self) -> Result<(), Error> {
        self.events.lock().unwrap().push("startup");
        if self.fail_startup {
            return Err(Error::msg("database unreachable"));
        }
        Ok(())
    }

    async fn shutdown(&self) {
        self.events.lock().unwrap().push("shutdown");
    }
}

#[tokio::test]
async fn startup_runs_before_the_first_call_and_shutdown_after_the_last() {
    // APP-4
    bounded(async {
        let events = Arc::new(Mutex::new(Vec::new()));
        let server = TestServer::with_app(Hooks { events: Arc::clone(&events), fail_startup: false }).await;
        assert_eq!(server.raw(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").await.status, 200);
        server.shutdown().await.unwrap();
        assert_eq!(*events.lock().unwrap(), ["startup", "call", "shutdown"]);
    })
    .await;
}

#[tokio::test]
async fn a_failed_startup_serves_nothing() {
    // APP-4, DEP-4: the server returns the load error instead of serving.
    bounded(async {
        let events = Arc::new(Mutex::new(Vec::new()));
        let mut mounts = Mounts::new();
        mounts.add("/", Hooks { events: Arc::clone(&events), fail_startup: true }).unwrap();
        let mut server = TestServer::start(Config::default(), mounts).await;
        let result = server.task.take().unwrap().await.unwrap();
        let err = result.unwrap_err();
        assert!(err.to_string().contains("database unreachable"), "{err}");
        assert!(matches!(err, rgi_embedded::Error::Startup { .. }));
        assert_eq!(*events.lock().unwrap(), ["startup"]);
    })
    .await;
}

/// Captures this thread's log output.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Capture {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[tokio::test]
async fn requests_errors_and_refusals_are_logged() {
    // SRV-10, SRV-11, ERR-1
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber =
        tracing_subscriber::fmt().with_env_filter("info").with_ansi(false).with_writer(move || writer.clone()).finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    bounded(async {
        let app = from_fn(|req: Request| async move {
            if req.environ().path_info() == "/fail" {
                return Err(Error::msg("disk on fire"));
            }
            Ok(Response::new(Body::from("hello")))
        });
        let mut config = Config::default();
        config.access_log = true;
        let server = TestServer::with_config(config, app).await;
        server.raw(b"GET /ok?x=1 HTTP/1.1\r\nHost: t\r\n\r\n").await;
        server.raw(b"GET /fail HTTP/1.1\r\nHost: t\r\n\r\n").await;
        server.raw(b"GET / HTTP/1.1\r\n\r\n").await;
        // An access line is written when its response is finished, which
        // may be just after the client read it.
        let logged = || capture.text().lines().filter(|l| l.contains("rgi::access")).count() == 3;
        eventually("three access log lines", logged).await;
    })
    .await;
    let log = capture.text();
    let access: Vec<&str> = log.lines().filter(|l| l.contains("rgi::access")).collect();
    assert_eq!(access.len(), 3, "{log}");
    let ok = access.iter().find(|l| l.contains("target=/ok?x=1")).unwrap();
    for field in ["remote=127.0.0.1:", "method=GET", "status=200", "bytes=5", "duration_ms="] {
        assert!(ok.contains(field), "{field} missing from {ok}");
    }
    assert!(log.lines().any(|l| l.contains("ERROR") && l.contains("/fail") && l.contains("disk on fire")), "{log}");
    assert!(
        log.lines().any(|l| l.contains("WARN") && l.contains("request refused") && l.contains("without a Host")),
        "{log}"
    );
}
