//! Shared helpers for the embedded server's tests: a server on a port the
//! OS picks, a raw HTTP/1 client over TCP, and small applications.
#![allow(dead_code, reason = "each test file uses a different subset")]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rgi_core::{from_fn, Application, Body, Request, Response};
use rgi_embedded::{BindAddr, Config, Listener, Mounts, Server};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Every test's wall-clock bound.
pub(crate) const TEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A running server; stops when dropped.
pub(crate) struct TestServer {
    pub(crate) addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    pub(crate) task: Option<JoinHandle<Result<(), rgi_embedded::Error>>>,
}

impl TestServer {
    pub(crate) async fn start(config: Config, mounts: Mounts) -> Self {
        let listener = Listener::bind(&"127.0.0.1:0".parse::<BindAddr>().unwrap()).await.unwrap();
        let BindAddr::Tcp(addr) = listener.local_addr().unwrap() else { panic!("tcp") };
        let (stop, stopped) = oneshot::channel::<()>();
        let server = Server::builder().config(config).mounts(mounts).build();
        let task = tokio::spawn(server.serve(vec![listener], async move {
            let _ = stopped.await;
        }));
        Self { addr, stop: Some(stop), task: Some(task) }
    }

    pub(crate) async fn with_app(app: impl Application) -> Self {
        let mut mounts = Mounts::new();
        mounts.add("/", app).unwrap();
        Self::start(Config::default(), mounts).await
    }

    pub(crate) async fn with_config(config: Config, app: impl Application) -> Self {
        let mut mounts = Mounts::new();
        mounts.add("/", app).unwrap();
        Self::start(config, mounts).await
    }

    /// Asks the server to stop gracefully and waits until it has.
    pub(crate) async fn shutdown(mut self) -> Result<(), rgi_embedded::Error> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.take().unwrap().await.unwrap()
    }

    pub(crate) async fn connect(&self) -> TcpStream {
        TcpStream::connect(self.addr).await.unwrap()
    }

    /// Sends raw bytes on a new connection and reads one response.
    pub(crate) async fn raw(&self, bytes: &[u8]) -> RawResponse {
        let mut conn = self.connect().await;
        conn.write_all(bytes).await.unwrap();
        read_response(&mut conn).await.expect("a response")
    }

    /// Whether a plain GET still gets a 200 (the server goes on serving).
    pub(crate) async fn still_serving(&self) -> bool {
        let resp = self.raw(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").await;
        resp.status == 200
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// A response as bytes came off the wire (the conformance suite's raw
/// client reads it).
pub(crate) type RawResponse = rgi_conformance::client::WireResponse;

/// Reads one response (skipping `100 Continue`), its body framed by
/// Content-Length, chunked coding or connection close. `None` if the
/// connection closed before a status line.
pub(crate) async fn read_response(conn: &mut TcpStream) -> Option<RawResponse> {
    rgi_conformance::client::read_response(conn, false).await.ok()
}

/// Like `read_response`, for a response to HEAD (no body whatever it says).
pub(crate) async fn read_head_response(conn: &mut TcpStream) -> Option<RawResponse> {
    rgi_conformance::client::read_response(conn, true).await.ok()
}

/// Whether the server closed the connection (EOF, or reset) within `wait`.
pub(crate) async fn closed_within(conn: &mut TcpStream, wait: Duration) -> bool {
    rgi_conformance::client::closed_within(conn, wait).await
}

/// An application answering `200 ok` with the request body's length.
pub(crate) fn ok_app() -> impl Application {
    from_fn(|req: Request| async move {
        let len = req.into_body().collect(u64::MAX).await?.len();
        let mut resp = Response::new(Body::from(format!("ok {len}")));
        resp.headers_mut().insert("content-type", "text/plain".parse().unwrap());
        Ok(resp)
    })
}

/// Counts drops: the Rust form of WSGI's close().
#[derive(Clone, Default)]
pub(crate) struct DropCounter(pub Arc<AtomicUsize>);

impl DropCounter {
    pub(crate) fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }

    pub(crate) fn guard(&self) -> DropGuard {
        DropGuard(Arc::clone(&self.0))
    }
}

pub(crate) struct DropGuard(Arc<AtomicUsize>);

impl Drop for DropGuard {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Runs a test body with the global bound.
pub(crate) async fn bounded<F: std::future::Future<Output = ()>>(f: F) {
    tokio::time::timeout(TEST_TIMEOUT, f).await.expect("test exceeded its time bound");
}

/// An application answering `NAME=value` lines: every CGI variable of the
/// request, and the deployment facts.
pub(crate) fn environ_app() -> impl Application {
    from_fn(|req: Request| async move {
        let (http_req, env) = req.into_parts();
        let (head, body) = http_req.into_parts();
        let mut out = String::new();
        rgi_gateway::cgi::for_each_var(&env, &head, |n, v| {
            out.push_str(&format!("{n}={}\n", String::from_utf8_lossy(v)));
        });
        let d = env.deployment();
        out.push_str(&format!("mode={}\nmultithread={}\npid={}\n", d.mode(), d.multithread(), d.process_id()));
        let bytes = body.collect(u64::MAX).await?;
        out.push_str(&format!("body={}\n", String::from_utf8_lossy(&bytes)));
        Ok(Response::new(Body::from(out)))
    })
}

/// The `NAME=value` lines of an `environ_app` response.
pub(crate) fn vars(resp: &RawResponse) -> std::collections::HashMap<String, String> {
    resp.body_text().lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect()
}
