//! One request forwarded to one daemon over FastCGI.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures_util::FutureExt;
use http::header::{HeaderName, HeaderValue};
use http::StatusCode;
use http_body::{Body as _, Frame, SizeHint};
use rgi_core::{Body, Error, Request, Response};
use rgi_daemon::socket::write_all_vectored;
use rgi_fastcgi::{
    encode_abort_request, encode_begin_request, encode_empty, encode_pair, encode_stream_with, push_framed,
    stream_framing, Decoder, Framing, Record, RecordType, Role,
};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf, ReadHalf, WriteHalf};
use tokio::task::JoinHandle;

use super::conn::{connect, Conn};
use rgi_gateway::respond::plain;

use super::{Backend, Group, PoolEvent, Purpose, Slot};

/// FastCGI request id: one request per connection at a time.
const ID: u16 = 1;

/// Forwards `request` to the slot's backend and returns its response, or
/// the pool's own 502/503/504 naming what went wrong.
///
/// A request without a body whose method is idempotent, that a daemon
/// failed before answering (it died, or closed the connection), is sent
/// once more to another daemon of the group, when it has one, as nginx's
/// `fastcgi_next_upstream` does: nothing has reached the client yet, and
/// a crash costs its requests nothing (DMN-15). Only once: a request that
/// itself kills daemons must not take the whole group down.
pub(crate) async fn forward(group: &Arc<Group>, mut slot: Slot, request: Request) -> Response {
    let (http_request, environ) = request.into_parts();
    let (head, body) = http_request.into_parts();
    let mut out = BytesMut::with_capacity(1024);
    encode_begin_request(&mut out, ID, Role::Responder, true);
    encode_stream_with(&mut out, RecordType::Params, ID, |buf| {
        rgi_gateway::cgi::for_each_var(&environ, &head, |name, value| encode_pair(buf, name.as_bytes(), value));
    });
    encode_empty(&mut out, RecordType::Params, ID);
    let bodiless = body.is_end_stream();
    if bodiless {
        encode_empty(&mut out, RecordType::Stdin, ID);
    }
    let mut failover = bodiless && head.method.is_idempotent();
    // Named in the log when the daemon is stuck on it.
    let what = format!("{} {}", head.method, head.uri.path());
    let mut body = Some(body);
    loop {
        let backend = Arc::clone(&slot.backend);
        let failure = match attempt(group, &backend, &out, &mut body, bodiless, &what).await {
            Ok(Answer::Head(exchange, response, initial)) => {
                return response.map(|()| Body::wrap(FrontBody::new(exchange, initial, slot)));
            }
            Ok(Answer::Refused(response)) => return response,
            Err(failure) => failure,
        };
        if failover && failure.retryable && group.has_sibling(&backend) {
            failover = false;
            tracing::warn!(
                group = %group.name, failed = %describe(&backend), reason = %failure.detail,
                "the daemon failed before answering; sending the request to another daemon"
            );
            drop(slot);
            slot = match group.acquire_except(Some(&backend), Purpose::Request).await {
                Ok(slot) => slot,
                Err(refusal) => return refusal,
            };
            continue;
        }
        return group.refuse(failure.status, failure.public, &failure.detail);
    }
}

/// What one attempt on one backend gave.
enum Answer {
    /// A response head; its body follows on the exchange.
    Head(Exchange, http::Response<()>, Bytes),
    /// An answer of the front's own that is final (a failed request body).
    Refused(Response),
}

/// Why an attempt failed, and whether another daemon may be tried.
struct Failure {
    status: StatusCode,
    public: &'static str,
    detail: String,
    /// The daemon is gone or broke the connection before answering.
    retryable: bool,
}

/// Sends the encoded request `out` (and `body`, if it has one) to
/// `backend` and reads the response head.
async fn attempt(
    group: &Arc<Group>,
    backend: &Arc<Backend>,
    out: &[u8],
    body: &mut Option<Body>,
    bodiless: bool,
    what: &str,
) -> Result<Answer, Failure> {
    // A kept connection the daemon has since closed fails at once; a
    // request without a body is then safely sent again on a new one.
    let mut fresh_tried = false;
    loop {
        let (conn, reused) = match backend.take_idle() {
            Some(conn) if !fresh_tried => (conn, true),
            _ => match connect(&backend.addr, group.config.connect_timeout).await {
                Ok(conn) => (conn, false),
                Err(err) => {
                    let timed_out = err.kind() == io::ErrorKind::TimedOut;
                    return Err(Failure {
                        status: if timed_out { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::BAD_GATEWAY },
                        public: "cannot connect to a daemon",
                        detail: format!("cannot connect to {}: {err}", describe(backend)),
                        retryable: !timed_out,
                    });
                }
            },
        };
        if let Err(err) = conn.write_all(out).await {
            if reused && bodiless {
                fresh_tried = true;
                continue;
            }
            return Err(Failure {
                status: StatusCode::BAD_GATEWAY,
                public: "cannot send the request to a daemon",
                detail: format!("cannot send the request to {}: {err}", describe(backend)),
                retryable: bodiless,
            });
        }
        let (io, pump) = match body.take().filter(|_| !bodiless) {
            None => (Io::Whole(Some(conn)), None),
            Some(body) => {
                let (read, write) = tokio::io::split(conn);
                (Io::Split(Some(read)), Some(tokio::spawn(pump(write, body))))
            }
        };
        let mut exchange = Exchange { io, buf: BytesMut::with_capacity(4096), pump, backend: Arc::clone(backend) };
        let head = match group.config.request_timeout {
            Some(limit) => match tokio::time::timeout(limit, exchange.read_head()).await {
                Ok(head) => head,
                Err(_) => {
                    let secs = limit.as_secs_f64();
                    // Said before the process is recycled: which request
                    // it was stuck on (DMN-7).
                    tracing::warn!(
                        group = %group.name, pid = ?backend.pid, request = %what, elapsed_secs = secs,
                        "a request passed its deadline"
                    );
                    if let Some(pid) = backend.pid {
                        group.report(PoolEvent::Stuck { pid });
                    }
                    return Err(Failure {
                        status: StatusCode::GATEWAY_TIMEOUT,
                        public: "the daemon did not answer in time",
                        detail: format!("{} did not answer {what} within {secs} s", describe(backend)),
                        retryable: false,
                    });
                }
            },
            None => exchange.read_head().await,
        };
        return match head {
            Ok((response, initial)) => Ok(Answer::Head(exchange, response, initial)),
            Err(HeadError::Closed { bytes: 0 }) if reused && bodiless && !fresh_tried => {
                fresh_tried = true;
                continue;
            }
            Err(HeadError::Body(err)) => {
                let status = rgi_gateway::respond::status_of(&err);
                tracing::warn!(group = %group.name, error = %rgi_gateway::respond::Report(&err), "request body failed while forwarding");
                Ok(Answer::Refused(plain(status, "the request body could not be read")))
            }
            Err(err) => {
                let retryable =
                    bodiless && matches!(err, HeadError::Closed { .. } | HeadError::Io(_) | HeadError::Ended);
                Err(Failure {
                    status: StatusCode::BAD_GATEWAY,
                    public: "the daemon failed to answer",
                    detail: format!("{}: {err}", describe(backend)),
                    retryable,
                })
            }
        };
    }
}

pub(crate) fn describe(backend: &Backend) -> String {
    match backend.pid {
        Some(pid) => format!("daemon pid {pid} ({})", backend.addr),
        None => format!("daemon {}", backend.addr),
    }
}

/// Streams the request body as STDIN; hands the write side back when done.
async fn pump(mut write: WriteHalf<Conn>, mut body: Body) -> Result<WriteHalf<Conn>, Error> {
    let mut out = BytesMut::new();
    loop {
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    write_stdin(&mut write, data).await.map_err(Error::from)?;
                }
            }
            Some(Err(err)) => {
                // The daemon must not take a cut-off body for a whole one.
                out.clear();
                encode_abort_request(&mut out, ID);
                let _ = write.write_all(&out).await;
                return Err(err);
            }
            None => break,
        }
    }
    out.clear();
    encode_empty(&mut out, RecordType::Stdin, ID);
    write.write_all(&out).await.map_err(Error::from)?;
    Ok(write)
}

/// `data` as STDIN records, written from where it lies: the record
/// headers and the body's bytes go out in one `writev`, so a large upload
/// is not copied into records on its way.
async fn write_stdin(write: &mut WriteHalf<Conn>, data: &[u8]) -> io::Result<()> {
    let framing: Vec<Framing> = stream_framing(RecordType::Stdin, ID, data.len()).collect();
    let mut slices = Vec::new();
    push_framed(&mut slices, &framing, data);
    write_all_vectored(&mut slices, |cx, bufs| Pin::new(&mut *write).poll_write_vectored(cx, bufs)).await
}

#[derive(Debug, thiserror::Error)]
enum HeadError {
    #[error("closed the connection after {bytes} bytes, before a response head (it may have crashed)")]
    Closed { bytes: usize },
    #[error("ended the request without a response")]
    Ended,
    #[error("sent an invalid response head: {0}")]
    Invalid(String),
    #[error("sent invalid FastCGI: {0}")]
    Protocol(#[from] rgi_fastcgi::DecodeError),
    #[error("read failed: {0}")]
    Io(#[from] io::Error),
    #[error("the request body failed: {0}")]
    Body(Error),
}

/// The read side of a connection, whole or split from a pumping writer.
enum Io {
    Whole(Option<Conn>),
    Split(Option<ReadHalf<Conn>>),
}

impl AsyncRead for Io {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Whole(Some(c)) => Pin::new(c).poll_read(cx, buf),
            Io::Split(Some(r)) => Pin::new(r).poll_read(cx, buf),
            _ => Poll::Ready(Ok(())),
        }
    }
}

struct Exchange {
    io: Io,
    buf: BytesMut,
    pump: Option<JoinHandle<Result<WriteHalf<Conn>, Error>>>,
    backend: Arc<Backend>,
}

impl Exchange {
    /// Reads STDOUT until the CGI response head is whole; returns the
    /// response head and the body bytes that came with it.
    async fn read_head(&mut self) -> Result<(http::Response<()>, Bytes), HeadError> {
        let decoder = Decoder::new();
        let mut stdout = BytesMut::new();
        let mut received = 0;
        loop {
            while let Some(record) = decoder.decode(&mut self.buf)? {
                if record.request_id() != ID {
                    return Err(HeadError::Invalid(foreign(&record)));
                }
                match record {
                    Record::Stdout { data, .. } => {
                        stdout.extend_from_slice(&data);
                        if let Some(parsed) = parse_head(&mut stdout)? {
                            return Ok(parsed);
                        }
                    }
                    Record::Stderr { data, .. } => log_stderr(&self.backend, &data),
                    Record::EndRequest { .. } => return Err(HeadError::Ended),
                    _ => {}
                }
            }
            // Heads are small: a whole page-sized read, and no growth (and
            // copy) for the usual response.
            self.buf.reserve(4096);
            let read = {
                let io = &mut self.io;
                let buf = &mut self.buf;
                match self.pump.as_mut() {
                    Some(pump) if !pump.is_finished() => {
                        tokio::select! {
                            n = tokio::io::AsyncReadExt::read_buf(io, buf) => n,
                            result = pump => {
                                if let Ok(Err(err)) = result {
                                    if err.is_body_too_large() || err.is_timeout() || err.is_bad_request() {
                                        return Err(HeadError::Body(err));
                                    }
                                }
                                self.pump = None;
                                continue;
                            }
                        }
                    }
                    _ => tokio::io::AsyncReadExt::read_buf(io, buf).await,
                }
            };
            match read? {
                0 => return Err(HeadError::Closed { bytes: received }),
                n => received += n,
            }
        }
    }

    /// Gives the connection back to the backend, if it is whole again.
    fn release(&mut self) {
        let conn = match &mut self.io {
            Io::Whole(conn) => conn.take(),
            Io::Split(read) => {
                // Only a writer that finished cleanly leaves a usable connection.
                let write = match self.pump.take().map(|p| (p.is_finished(), p)) {
                    Some((true, pump)) => pump.now_or_never().and_then(|r| r.ok()).and_then(Result::ok),
                    Some((false, pump)) => {
                        pump.abort();
                        None
                    }
                    None => None,
                };
                match (read.take(), write) {
                    (Some(read), Some(write)) => Some(read.unsplit(write)),
                    _ => None,
                }
            }
        };
        if let Some(conn) = conn {
            if self.buf.is_empty() {
                self.backend.put_idle(conn);
            }
        }
    }
}

impl Drop for Exchange {
    fn drop(&mut self) {
        if let Some(pump) = self.pump.take() {
            pump.abort();
        }
    }
}

/// Why a record for another request breaks the exchange: the pool sends
/// one request per connection, so the daemon cannot mean it.
fn foreign(record: &Record) -> String {
    format!("a record for request id {}, which the front never sent", record.request_id())
}

fn log_stderr(backend: &Backend, data: &[u8]) {
    for line in String::from_utf8_lossy(data).lines().filter(|l| !l.is_empty()) {
        tracing::warn!(pid = ?backend.pid, "daemon stderr: {line}");
    }
}

/// A CGI `Status:` value, `200 OK` or `200`: a final status (200-599),
/// as a front must not relay informational or invented ones.
fn cgi_status(value: &[u8]) -> Option<StatusCode> {
    let code = value.split(|&b| b == b' ').next()?;
    if code.len() != 3 || !code.iter().all(u8::is_ascii_digit) {
        return None;
    }
    StatusCode::from_bytes(code).ok().filter(|s| (200..=599).contains(&s.as_u16()))
}

/// Parses a CGI response head (`Status:` and fields) once `stdout` holds
/// all of it; the rest of `stdout` is body.
fn parse_head(stdout: &mut BytesMut) -> Result<Option<(http::Response<()>, Bytes)>, HeadError> {
    let mut fields = [httparse::EMPTY_HEADER; 100];
    let (len, fields) = match httparse::parse_headers(stdout, &mut fields) {
        Ok(httparse::Status::Complete((len, fields))) => (len, fields),
        Ok(httparse::Status::Partial) if stdout.len() > 64 * 1024 => {
            return Err(HeadError::Invalid("longer than 64 KiB".into()));
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(HeadError::Invalid(e.to_string())),
    };
    let mut response = http::Response::new(());
    let mut status = None;
    for field in fields.iter() {
        if field.name.eq_ignore_ascii_case("status") {
            status =
                Some(cgi_status(field.value).ok_or_else(|| {
                    HeadError::Invalid(format!("bad Status {:?}", String::from_utf8_lossy(field.value)))
                })?);
            continue;
        }
        let name = HeaderName::from_bytes(field.name.as_bytes()).map_err(|e| HeadError::Invalid(e.to_string()))?;
        let value = HeaderValue::from_bytes(field.value).map_err(|e| HeadError::Invalid(e.to_string()))?;
        response.headers_mut().append(name, value);
    }
    // CGI: a Location without a Status is a redirect.
    *response.status_mut() = status.unwrap_or(if response.headers().contains_key(http::header::LOCATION) {
        StatusCode::FOUND
    } else {
        StatusCode::OK
    });
    let rest = stdout.split_off(len).freeze();
    Ok(Some((response, rest)))
}

/// A FastCGI record at its largest: an 8-byte header, 65,535 bytes of
/// content and up to 255 of padding.
const RECORD_ROOM: usize = 8 + 65_535 + 255;

/// The response body, read from STDOUT records as the client takes it.
struct FrontBody {
    exchange: Exchange,
    /// Data decoded and not yet taken, one piece per STDOUT record (never
    /// joined: that would copy them).
    pending: std::collections::VecDeque<Bytes>,
    done: bool,
    slot: Option<Slot>,
    decoder: Decoder,
    /// The daemon broke the protocol; the reason.
    broken: Option<String>,
}

impl FrontBody {
    fn new(exchange: Exchange, initial: Bytes, slot: Slot) -> Self {
        let pending = if initial.is_empty() { Default::default() } else { [initial].into() };
        let mut body = Self { exchange, pending, done: false, slot: Some(slot), decoder: Decoder::new(), broken: None };
        body.settle();
        body
    }

    /// Handles the records already buffered that need no more reading: an
    /// END_REQUEST usually arrives with the last data, and a server that
    /// stops at Content-Length bytes never polls for it. Data found is kept
    /// for the next poll.
    fn settle(&mut self) {
        while !self.done {
            match self.decoder.decode(&mut self.exchange.buf) {
                Ok(Some(record)) if record.request_id() != ID => {
                    self.broken = Some(foreign(&record));
                    return;
                }
                Ok(Some(Record::Stdout { data, .. })) if !data.is_empty() => self.pending.push_back(data),
                Ok(Some(Record::Stderr { data, .. })) => log_stderr(&self.exchange.backend, &data),
                Ok(Some(Record::EndRequest { .. })) => self.finish(),
                Ok(Some(_)) => {}
                Ok(None) => return,
                Err(err) => {
                    self.broken = Some(err.to_string());
                    return;
                }
            }
        }
    }

    fn finish(&mut self) {
        self.done = true;
        if self.exchange.backend.count_served() {
            if let (Some(pid), Some(slot)) = (self.exchange.backend.pid, &self.slot) {
                if let Some(group) = &slot.group {
                    group.report(PoolEvent::Recycle { pid });
                }
            }
        }
        self.exchange.release();
        self.slot = None;
    }
}

impl Drop for FrontBody {
    fn drop(&mut self) {
        // A client that stopped reading at Content-Length may still have
        // left a whole exchange behind; otherwise the connection closes,
        // which tells the daemon to drop the request (APP-7).
        self.settle();
    }
}

impl http_body::Body for FrontBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = &mut *self;
        loop {
            if let Some(data) = this.pending.pop_front() {
                this.settle();
                return Poll::Ready(Some(Ok(Frame::data(data))));
            }
            if this.done {
                return Poll::Ready(None);
            }
            this.settle();
            if let Some(err) = this.broken.take() {
                this.done = true;
                return Poll::Ready(Some(Err(rgi_core::server_error::upstream(err))));
            }
            if !this.pending.is_empty() || this.done {
                continue;
            }
            // Nothing whole is buffered: read more, with room for a whole
            // record (64 KiB and its header), so that a record is read into
            // one buffer instead of being moved as the buffer grows.
            this.exchange.buf.reserve(RECORD_ROOM);
            match tokio_util::io::poll_read_buf(Pin::new(&mut this.exchange.io), cx, &mut this.exchange.buf) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(err)) => {
                    this.done = true;
                    return Poll::Ready(Some(Err(rgi_core::server_error::upstream(err))));
                }
                Poll::Ready(Ok(0)) => {
                    // The daemon died mid-response: the client must see a
                    // cut-off body, not a complete one (BODY-6).
                    this.done = true;
                    let cause = "the daemon closed the connection mid-response";
                    return Poll::Ready(Some(Err(rgi_core::server_error::upstream(cause))));
                }
                Poll::Ready(Ok(_)) => {}
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done && self.pending.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::new()
    }
}
