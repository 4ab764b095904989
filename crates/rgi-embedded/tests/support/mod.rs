//! Shared helpers for the embedded server's tests: a server on a port the
//! OS picks, a raw HTTP/1 client over TCP, and small applications.
#![allow(dead_code, reason = "each test file uses a different subset")]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rgi_core::{from_fn, Application, Body, Request, Response};
use rgi_embedded::{BindAddr, Config, Listener, Mounts, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
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

/// A response as bytes came off the wire.
#[derive(Debug)]
pub(crate) struct RawResponse {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl RawResponse {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub(crate) fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Reads one response (skipping `100 Continue`), its body framed by
/// Content-Length, chunked coding or connection close. `None` if the
/// connection closed before a status line.
pub(crate) async fn read_response(conn: &mut TcpStream) -> Option<RawResponse> {
    read_response_to(conn, false).await
}

/// Like `read_response`, for a response to HEAD (no body whatever it says).
pub(crate) async fn read_head_response(conn: &mut TcpStream) -> Option<RawResponse> {
    read_response_to(conn, true).await
}

async fn read_response_to(conn: &mut TcpStream, head: bool) -> Option<RawResponse> {
    let mut reader = Reader { conn, buf: Vec::new() };
    loop {
        let head_bytes = reader.until(b"\r\n\r\n").await?;
        let text = String::from_utf8_lossy(&head_bytes).into_owned();
        let mut lines = text.split("\r\n");
        let status_line = lines.next()?;
        let status: u16 = status_line.split(' ').nth(1)?.parse().ok()?;
        let headers: Vec<(String, String)> = lines
            .filter(|l| !l.is_empty())
            .filter_map(|l| l.split_once(':').map(|(n, v)| (n.trim().to_string(), v.trim().to_string())))
            .collect();
        if status == 100 {
            continue;
        }
        let find = |name: &str| headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone());
        let body = if head || status == 204 || status == 304 {
            Vec::new()
        } else if find("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
            reader.chunked().await?
        } else if let Some(len) = find("content-length") {
            reader.exactly(len.parse().ok()?).await?
        } else {
            reader.rest().await
        };
        return Some(RawResponse { status, headers, body });
    }
}

struct Reader<'a> {
    conn: &'a mut TcpStream,
    buf: Vec<u8>,
}

impl Reader<'_> {
    async fn fill(&mut self) -> Option<()> {
        let mut chunk = [0u8; 16384];
        let n = self.conn.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Some(())
    }

    async fn until(&mut self, delim: &[u8]) -> Option<Vec<u8>> {
        loop {
            if let Some(i) = self.buf.windows(delim.len()).position(|w| w == delim) {
                let out = self.buf[..i].to_vec();
                self.buf.drain(..i + delim.len());
                return Some(out);
            }
            self.fill().await?;
        }
    }

    async fn exactly(&mut self, n: usize) -> Option<Vec<u8>> {
        while self.buf.len() < n {
            self.fill().await?;
        }
        Some(self.buf.drain(..n).collect())
    }

    async fn chunked(&mut self) -> Option<Vec<u8>> {
        let mut body = Vec::new();
        loop {
            let line = self.until(b"\r\n").await?;
            let size_text = String::from_utf8_lossy(&line);
            let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
            if size == 0 {
                // Trailers until an empty line.
                loop {
                    if self.until(b"\r\n").await?.is_empty() {
                        return Some(body);
                    }
                }
            }
            body.extend(self.exactly(size).await?);
            self.until(b"\r\n").await?;
        }
    }

    async fn rest(&mut self) -> Vec<u8> {
        while self.fill().await.is_some() {}
        std::mem::take(&mut self.buf)
    }
}

/// Whether the server closed the connection (EOF, or reset) within `wait`.
pub(crate) async fn closed_within(conn: &mut TcpStream, wait: Duration) -> bool {
    let mut byte = [0u8; 1];
    loop {
        match tokio::time::timeout(wait, conn.read(&mut byte)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
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
