//! A raw HTTP/1.1 client: exactly the bytes a test means to send, and
//! every connection failure reported.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// How long a test waits for an answer (a dev server may be building).
const READ_TIMEOUT: Duration = Duration::from_secs(150);

/// One GET with `Connection: close`: (status, body); status 0 when the
/// connection failed.
pub fn get(addr: SocketAddr, target: &str) -> (u16, String) {
    try_get(addr, target).unwrap_or_default()
}

/// One GET with `Connection: close`, failing on any connection error
/// (refused, reset, cut short, no HTTP answer).
pub fn try_get(addr: SocketAddr, target: &str) -> std::io::Result<(u16, String)> {
    try_request(addr, &format!("GET {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"))
}

/// Sends `raw` and reads until the server closes: (status, body). Reads
/// while it writes, as curl does, so a server that answers before the
/// request is whole (a 413) is heard. Lenient: an answer followed by a
/// reset still counts; status 0 when there was no answer at all.
pub fn request(addr: SocketAddr, raw: &str) -> (u16, String) {
    let Ok(mut s) = TcpStream::connect(addr) else { return (0, String::new()) };
    let _ = s.set_read_timeout(Some(READ_TIMEOUT));
    let Ok(mut writer) = s.try_clone() else { return (0, String::new()) };
    let raw = raw.as_bytes().to_vec();
    let writing = std::thread::spawn(move || {
        // A server that stops reading may close first: not an error here.
        let _ = writer.write_all(&raw);
    });
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let _ = writing.join();
    parse(&out).unwrap_or_default()
}

/// Sends `raw` (writing while it reads, as curl does) and returns the
/// status of the answer as soon as its status line arrives, without
/// waiting for the rest: a streaming answer may take long to end, and a
/// front may keep the connection until the client has sent everything.
/// `None` when no status line came within 30 s.
pub fn first_status(addr: SocketAddr, raw: &str) -> Option<u16> {
    let conn = TcpStream::connect(addr).ok()?;
    conn.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    let mut writer = conn.try_clone().ok()?;
    let raw = raw.as_bytes().to_vec();
    let writing = std::thread::spawn(move || {
        let _ = writer.write_all(&raw);
    });
    let mut line = String::new();
    let read = std::io::BufRead::read_line(&mut std::io::BufReader::new(&conn), &mut line);
    let status = read.ok().and_then(|_| line.split(' ').nth(1)?.parse().ok());
    let _ = conn.shutdown(std::net::Shutdown::Both);
    let _ = writing.join();
    status
}

fn try_request(addr: SocketAddr, raw: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(READ_TIMEOUT))?;
    s.write_all(raw.as_bytes())?;
    let mut out = Vec::new();
    s.read_to_end(&mut out)?;
    parse(&out).ok_or_else(|| std::io::Error::other(format!("no HTTP answer: {:?}", String::from_utf8_lossy(&out))))
}

/// (status, body) of a whole answer read to the end; a chunked body is
/// decoded (fronts such as Apache re-frame answers that way).
fn parse(out: &[u8]) -> Option<(u16, String)> {
    let text = String::from_utf8_lossy(out);
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).filter(|s| *s != 0)?;
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let chunked = head.lines().any(|l| {
        l.split_once(':').is_some_and(|(n, v)| {
            n.trim().eq_ignore_ascii_case("transfer-encoding") && v.to_ascii_lowercase().contains("chunked")
        })
    });
    let body = if chunked { dechunk(body) } else { body.to_string() };
    Some((status, body))
}

/// The data of a chunked body, as far as it is well formed.
fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(len) = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16) else { break };
        if len == 0 || after.len() < len {
            break;
        }
        out.push_str(&after[..len]);
        rest = after[len..].strip_prefix("\r\n").unwrap_or(&after[len..]);
    }
    out
}

/// A kept-alive HTTP/1.1 client connection. Like a browser or wrk, it
/// opens a new connection when the server said `Connection: close`.
#[derive(Debug)]
pub struct KeepAlive {
    addr: SocketAddr,
    stream: TcpStream,
    buf: Vec<u8>,
    /// The server asked to close after the last answer.
    closing: bool,
}

impl KeepAlive {
    /// Connects to `addr`.
    pub fn connect(addr: SocketAddr) -> std::io::Result<Self> {
        let stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        Ok(Self { addr, stream, buf: Vec::new(), closing: false })
    }

    /// GET on this connection: (status, body), or an error if the
    /// connection failed in any way. The answer must carry Content-Length.
    pub fn get(&mut self, target: &str) -> std::io::Result<(u16, String)> {
        self.request("GET", target, b"")
    }

    /// A POST of `body`, as [`get`](Self::get): a request a proxy must not
    /// send twice.
    pub fn post(&mut self, target: &str, body: &[u8]) -> std::io::Result<(u16, String)> {
        self.request("POST", target, body)
    }

    fn request(&mut self, method: &str, target: &str, body: &[u8]) -> std::io::Result<(u16, String)> {
        if self.closing {
            *self = Self::connect(self.addr)?;
        }
        let length = if method == "GET" { String::new() } else { format!("Content-Length: {}\r\n", body.len()) };
        let mut bytes = format!("{method} {target} HTTP/1.1\r\nHost: t\r\n{length}\r\n").into_bytes();
        bytes.extend_from_slice(body);
        self.stream.write_all(&bytes)?;
        loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buf[..end]).into_owned();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string()))
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(|| std::io::Error::other(format!("no content-length in {head:?}")))?;
                while self.buf.len() < end + 4 + len {
                    self.fill()?;
                }
                let body = String::from_utf8_lossy(&self.buf[end + 4..end + 4 + len]).into_owned();
                self.buf.drain(..end + 4 + len);
                let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
                self.closing = head.lines().any(|l| {
                    l.split_once(':').is_some_and(|(n, v)| {
                        n.trim().eq_ignore_ascii_case("connection") && v.trim().eq_ignore_ascii_case("close")
                    })
                });
                return Ok((status, body));
            }
            self.fill()?;
        }
    }

    fn fill(&mut self) -> std::io::Result<()> {
        let mut chunk = [0u8; 16384];
        let n = self.stream.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "connection closed"));
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }
}
