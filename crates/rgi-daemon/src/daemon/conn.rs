//! One front connection: records in, requests run, answers out.
//!
//! A connection's requests run inside its own task, as hyper runs an
//! HTTP/1 connection's service: no task per request, which on a busy
//! daemon is most of what a request costs beyond the application. Several
//! requests on one connection (FCGI-1) still run concurrently, polled
//! together; an abort drops exactly its own.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::future::{AbortHandle, Abortable};
use futures_util::stream::FuturesUnordered;
use futures_util::StreamExt;
use rgi_fastcgi::{
    encode_end_request, encode_get_values_result, encode_unknown_type, parse_pairs, Decoder, Params, ParamsDecoder,
    ParamsError, ProtocolStatus, Record, Role,
};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::request::{self, Stdin};
use super::stream::{self, write, Writer};
use super::Shared;
use crate::socket::Socket;

/// How a request's part of the connection ended.
#[derive(Debug)]
pub(crate) enum Done {
    /// The request ended normally.
    Ended { id: u16, keep_conn: bool },
    /// The response body failed after its head: end the connection so the
    /// front sees the truncation (BODY-6).
    Broken { id: u16 },
}

type Running = FuturesUnordered<Abortable<Pin<Box<dyn Future<Output = Done> + Send>>>>;

/// A request of this connection.
struct Active {
    id: u16,
    keep_conn: bool,
    /// Its empty STDIN record arrived: the front has sent all of it.
    stdin_done: bool,
    state: State,
}

enum State {
    /// PARAMS still arriving.
    Params(ParamsDecoder),
    /// PARAMS complete; started once the records already buffered are
    /// read, so that a body that came with them (or its absence) is known
    /// and needs no channel.
    Ready { params: Result<Params, ParamsError>, stdin: Vec<Bytes>, stdin_ended: bool },
    /// Running; the rest of its body goes through `body`.
    Started { body: Option<mpsc::Sender<Bytes>>, abort: AbortHandle },
}

/// The bytes still to come of the record whose header starts `buf`.
fn rest_of_record(buf: &[u8]) -> usize {
    match buf {
        [_, _, _, _, len_hi, len_lo, padding, _, ..] => {
            let whole = 8 + usize::from(u16::from_be_bytes([*len_hi, *len_lo])) + usize::from(*padding);
            whole.saturating_sub(buf.len())
        }
        _ => 0,
    }
}

/// The requests of a connection: a handful at most in practice, so a
/// list beats a hash map.
#[derive(Default)]
struct Requests(Vec<Active>);

impl Requests {
    fn get_mut(&mut self, id: u16) -> Option<&mut Active> {
        self.0.iter_mut().find(|r| r.id == id)
    }

    fn remove(&mut self, id: u16) -> Option<Active> {
        let at = self.0.iter().position(|r| r.id == id)?;
        Some(self.0.swap_remove(at))
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn abort_all(&mut self) {
        for request in self.0.drain(..) {
            if let State::Started { abort, .. } = request.state {
                abort.abort();
            }
        }
    }
}

/// What handling a record asks of the connection.
enum Next {
    Go,
    /// A request's body channel is full: wait for room before reading on.
    Wait(mpsc::Sender<Bytes>, Bytes),
    Close,
}

/// Serves one connection until the front closes it, a request without
/// FCGI_KEEP_CONN ends, or the daemon stops and nothing is in flight.
pub(crate) async fn serve(socket: Socket, shared: Arc<Shared>, stopping: CancellationToken) {
    let (mut read, writer) = stream::split(socket);
    let mut requests = Requests::default();
    let mut running = Running::new();
    let mut buf = BytesMut::with_capacity(8192);
    let decoder = Decoder::new();
    // STDIN data waiting for room in its request's body channel; while it
    // waits, nothing more is read (backpressure), but requests run on.
    let mut waiting: Option<(mpsc::Sender<Bytes>, Bytes)> = None;
    loop {
        while waiting.is_none() {
            match decoder.decode(&mut buf) {
                Ok(Some(record)) => match handle(record, &mut requests, &shared, &writer).await {
                    Next::Go => {}
                    Next::Wait(tx, data) => waiting = Some((tx, data)),
                    Next::Close => {
                        requests.abort_all();
                        return;
                    }
                },
                Ok(None) => {
                    start_ready(&mut requests, &mut running, &shared, &writer);
                    break;
                }
                Err(err) => {
                    // Malformed bytes: this connection ends, the daemon goes on.
                    tracing::warn!(error = %err, "malformed FastCGI bytes; closing the connection");
                    requests.abort_all();
                    return;
                }
            }
        }
        // Room for a read: for the rest of a record begun (a 64 KiB STDIN
        // record is then read into one buffer, not moved each time the
        // buffer grows), else 8 KiB.
        let room = rest_of_record(&buf).max(2048);
        if buf.capacity() - buf.len() < room {
            buf.reserve(room.max(8192));
        }
        tokio::select! {
            read_result = read.read_buf(&mut buf), if waiting.is_none() => match read_result {
                Ok(0) | Err(_) => {
                    // The front went away: its requests are dropped (APP-7).
                    requests.abort_all();
                    return;
                }
                Ok(_) => {}
            },
            permit = reserve(waiting.as_ref().map(|(tx, _)| tx.clone())), if waiting.is_some() => {
                if let (Ok(permit), Some((_, data))) = (permit, waiting.take()) {
                    permit.send(data);
                }
            },
            Some(done) = running.next(), if !running.is_empty() => match done {
                Ok(Done::Ended { id, keep_conn }) => {
                    let stdin_done = requests.remove(id).is_some_and(|r| r.stdin_done);
                    if !keep_conn {
                        requests.abort_all();
                        if !stdin_done {
                            // Closing with the rest of the request unread
                            // would reset the connection, and a front still
                            // writing it would lose the answer (FCGI-3).
                            linger(read, buf, id, shared.config.linger_timeout).await;
                        }
                        // Returning closes the socket: the front reads EOF.
                        return;
                    }
                }
                Ok(Done::Broken { id }) => {
                    tracing::debug!(id, "closing the connection after a failed response body");
                    requests.abort_all();
                    return;
                }
                // Aborted: already removed.
                Err(_) => {}
            },
            () = stopping.cancelled(), if requests.is_empty() => return,
        }
    }
}

/// How long in all, and how much, a daemon reads of a request it has
/// answered without `FCGI_KEEP_CONN` before closing (as nginx's lingering
/// close; the wait for each piece is `DaemonConfig::linger_timeout`).
const LINGER_TOTAL: Duration = Duration::from_secs(30);
const LINGER_BYTES: u64 = 64 * 1024 * 1024;

/// Reads and discards the rest of request `id` (up to its empty STDIN
/// record), bounded in time and bytes, so that closing afterwards is a
/// clean FIN the front sees after the whole answer.
async fn linger(mut read: impl AsyncRead + Unpin, mut buf: BytesMut, id: u16, idle: Duration) {
    let decoder = Decoder::new();
    let deadline = tokio::time::Instant::now() + LINGER_TOTAL;
    let mut discarded = 0u64;
    loop {
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(Record::Stdin { id: of, data })) if of == id => {
                    if data.is_empty() {
                        return;
                    }
                    discarded += data.len() as u64;
                }
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(_) => return,
            }
        }
        if discarded > LINGER_BYTES {
            tracing::debug!(id, discarded, "closing: the rest of an answered request is too long to read");
            return;
        }
        // Decoded records are gone from `buf`; a partial one stays.
        buf.reserve(16 * 1024);
        let next = tokio::time::Instant::now() + idle;
        match tokio::time::timeout_at(next.min(deadline), read.read_buf(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => {}
            _ => return,
        }
    }
}

/// Room for one chunk in the channel `waiting` holds.
async fn reserve(waiting: Option<mpsc::Sender<Bytes>>) -> Result<mpsc::OwnedPermit<Bytes>, mpsc::error::SendError<()>> {
    match waiting {
        Some(tx) => tx.reserve_owned().await,
        None => std::future::pending().await,
    }
}

/// Starts the requests whose PARAMS are complete.
fn start_ready(requests: &mut Requests, running: &mut Running, shared: &Arc<Shared>, writer: &Writer) {
    for request in &mut requests.0 {
        if !matches!(request.state, State::Ready { .. }) {
            continue;
        }
        let placeholder = State::Params(ParamsDecoder::new(0));
        let State::Ready { params, stdin, stdin_ended } = std::mem::replace(&mut request.state, placeholder) else {
            continue;
        };
        let (source, body) = if stdin_ended {
            (Stdin::Whole(stdin), None)
        } else {
            let (tx, rx) = mpsc::channel(8.max(stdin.len()));
            for chunk in stdin {
                // Capacity was made for every chunk already here.
                let _ = tx.try_send(chunk);
            }
            (Stdin::Streaming(rx), Some(tx))
        };
        let (id, keep_conn) = (request.id, request.keep_conn);
        let work = request::run(Arc::clone(shared), id, params, source);
        let (abort, registration) = AbortHandle::new_pair();
        let future: Pin<Box<dyn Future<Output = Done> + Send>> =
            Box::pin(request::finish(id, keep_conn, work, Arc::clone(writer)));
        running.push(Abortable::new(future, registration));
        request.state = State::Started { body, abort };
    }
}

/// Handles one record.
async fn handle(record: Record, requests: &mut Requests, shared: &Arc<Shared>, writer: &Writer) -> Next {
    let written = |result: std::io::Result<()>| if result.is_ok() { Next::Go } else { Next::Close };
    match record {
        Record::BeginRequest { id, role, keep_conn } => {
            if role != Role::Responder as u16 {
                let mut out = BytesMut::new();
                encode_end_request(&mut out, id, 0, ProtocolStatus::UnknownRole);
                return written(write(writer, &out).await);
            }
            if requests.get_mut(id).is_some() {
                tracing::warn!(id, "front began a request whose id is in use; closing the connection");
                return Next::Close;
            }
            let params = ParamsDecoder::new(shared.config.max_params_bytes);
            requests.0.push(Active { id, keep_conn, stdin_done: false, state: State::Params(params) });
        }
        Record::Params { id, data } => {
            let Some(request) = requests.get_mut(id) else { return Next::Go };
            let State::Params(params) = &mut request.state else { return Next::Go };
            let params = if data.is_empty() {
                std::mem::replace(params, ParamsDecoder::new(0)).finish()
            } else {
                match params.push(data) {
                    Ok(()) => return Next::Go,
                    Err(err) => Err(err),
                }
            };
            request.state = State::Ready { params, stdin: Vec::new(), stdin_ended: false };
        }
        Record::Stdin { id, data } => {
            let Some(request) = requests.get_mut(id) else { return Next::Go };
            request.stdin_done |= data.is_empty();
            match &mut request.state {
                State::Ready { stdin, stdin_ended, .. } if !*stdin_ended => {
                    if data.is_empty() {
                        *stdin_ended = true;
                    } else {
                        stdin.push(data);
                    }
                }
                State::Started { body, .. } => {
                    if data.is_empty() {
                        *body = None;
                    } else if let Some(tx) = body {
                        match tx.try_send(data) {
                            Ok(()) => {}
                            Err(mpsc::error::TrySendError::Full(data)) => return Next::Wait(tx.clone(), data),
                            // The application dropped its body: the rest is discarded.
                            Err(mpsc::error::TrySendError::Closed(_)) => *body = None,
                        }
                    }
                }
                _ => {}
            }
        }
        Record::AbortRequest { id } => {
            if let Some(request) = requests.remove(id) {
                if let State::Started { abort, .. } = &request.state {
                    abort.abort();
                }
                let mut out = BytesMut::new();
                encode_end_request(&mut out, id, 0, ProtocolStatus::RequestComplete);
                if write(writer, &out).await.is_err() || !request.keep_conn {
                    return Next::Close;
                }
            }
        }
        Record::GetValues { data } => {
            let asked = parse_pairs(data).unwrap_or_default();
            let concurrency = shared.config.concurrency.to_string();
            let answers: Vec<(&str, String)> = asked
                .iter()
                .filter_map(|(name, _)| match &name[..] {
                    b"FCGI_MAX_CONNS" => Some(("FCGI_MAX_CONNS", concurrency.clone())),
                    b"FCGI_MAX_REQS" => Some(("FCGI_MAX_REQS", concurrency.clone())),
                    b"FCGI_MPXS_CONNS" => Some(("FCGI_MPXS_CONNS", "1".to_string())),
                    _ => None,
                })
                .collect();
            let mut out = BytesMut::new();
            encode_get_values_result(&mut out, &answers);
            return written(write(writer, &out).await);
        }
        Record::Other { kind, id: 0 } => {
            let mut out = BytesMut::new();
            encode_unknown_type(&mut out, kind);
            return written(write(writer, &out).await);
        }
        // Records a front does not send to a responder: ignored.
        _ => {}
    }
    Next::Go
}

#[cfg(test)]
mod tests {
    use super::rest_of_record;

    #[test]
    fn the_rest_of_a_record_is_counted_from_its_header() {
        assert_eq!(rest_of_record(&[]), 0, "no header yet");
        assert_eq!(rest_of_record(&[1, 5, 0, 1, 0xff, 0xff, 3, 0]), 65_535 + 3);
        assert_eq!(rest_of_record(&[1, 5, 0, 1, 0, 2, 0, 0, b'a']), 1);
        // A whole record and the start of the next: nothing owed.
        assert_eq!(rest_of_record(&[1, 5, 0, 1, 0, 1, 0, 0, b'a', 1]), 0);
    }
}
