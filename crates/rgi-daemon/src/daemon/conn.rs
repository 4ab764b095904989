//! One front connection: records in, requests started, answers out.

use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use rgi_fastcgi::{
    encode_end_request, encode_get_values_result, encode_unknown_type, parse_pairs, Decoder, ParamsDecoder,
    ProtocolStatus, Record, Role,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpStream, UnixStream};
use tokio::sync::{mpsc, Mutex};
use tokio::task::AbortHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::request;
use super::Shared;

/// A front connection.
#[derive(Debug)]
pub(crate) enum Stream {
    Unix(UnixStream),
    Tcp(TcpStream),
}

/// The write side, shared by the requests of a connection; each write is
/// whole records, so multiplexed answers never interleave inside one.
pub(crate) type Writer = Arc<Mutex<WriteHalf>>;

#[derive(Debug)]
pub(crate) enum WriteHalf {
    Unix(tokio::net::unix::OwnedWriteHalf),
    Tcp(tokio::net::tcp::OwnedWriteHalf),
}

enum ReadHalf {
    Unix(tokio::net::unix::OwnedReadHalf),
    Tcp(tokio::net::tcp::OwnedReadHalf),
}

impl AsyncRead for ReadHalf {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ReadHalf::Unix(r) => Pin::new(r).poll_read(cx, buf),
            ReadHalf::Tcp(r) => Pin::new(r).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for WriteHalf {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            WriteHalf::Unix(w) => Pin::new(w).poll_write(cx, buf),
            WriteHalf::Tcp(w) => Pin::new(w).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            WriteHalf::Unix(w) => Pin::new(w).poll_flush(cx),
            WriteHalf::Tcp(w) => Pin::new(w).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            WriteHalf::Unix(w) => Pin::new(w).poll_shutdown(cx),
            WriteHalf::Tcp(w) => Pin::new(w).poll_shutdown(cx),
        }
    }
}

/// Writes whole records to the connection.
pub(crate) async fn write(writer: &Writer, bytes: &[u8]) -> io::Result<()> {
    writer.lock().await.write_all(bytes).await
}

/// What a finished request tells its connection.
#[derive(Debug)]
pub(crate) enum Done {
    /// The request ended normally.
    Ended { id: u16, keep_conn: bool },
    /// The response body failed after its head: end the connection so the
    /// front sees the truncation (BODY-6).
    Broken { id: u16 },
}

/// A request of this connection.
struct Active {
    keep_conn: bool,
    params: Option<ParamsDecoder>,
    body: Option<mpsc::Sender<Bytes>>,
    task: Option<AbortHandle>,
}

/// Serves one connection until the front closes it, a request without
/// FCGI_KEEP_CONN ends, or the daemon stops and nothing is in flight.
pub(crate) async fn serve(stream: Stream, shared: Arc<Shared>, tracker: TaskTracker, stopping: CancellationToken) {
    let (mut read, write) = match stream {
        Stream::Unix(s) => {
            let (r, w) = s.into_split();
            (ReadHalf::Unix(r), WriteHalf::Unix(w))
        }
        Stream::Tcp(s) => {
            let (r, w) = s.into_split();
            (ReadHalf::Tcp(r), WriteHalf::Tcp(w))
        }
    };
    let writer: Writer = Arc::new(Mutex::new(write));
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Done>();
    let mut active: HashMap<u16, Active> = HashMap::new();
    let mut buf = BytesMut::with_capacity(8192);
    let decoder = Decoder::new();
    loop {
        // Take every whole record off the buffer first.
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(record)) => {
                    let keep = handle(record, &mut active, &shared, &writer, &done_tx, &tracker).await;
                    if !keep {
                        abort_all(&mut active);
                        return;
                    }
                }
                Ok(None) => break,
                Err(err) => {
                    // Malformed bytes: this connection ends, the daemon goes on.
                    tracing::warn!(error = %err, "malformed FastCGI bytes; closing the connection");
                    abort_all(&mut active);
                    return;
                }
            }
        }
        buf.reserve(Decoder::MAX_RECORD.saturating_sub(buf.len()).min(65_536));
        tokio::select! {
            read_result = read.read_buf(&mut buf) => match read_result {
                Ok(0) | Err(_) => {
                    // The front went away: its requests are dropped (APP-7).
                    abort_all(&mut active);
                    return;
                }
                Ok(_) => {}
            },
            Some(done) = done_rx.recv() => match done {
                Done::Ended { id, keep_conn } => {
                    active.remove(&id);
                    if !keep_conn {
                        let _ = writer.lock().await.shutdown().await;
                        abort_all(&mut active);
                        return;
                    }
                }
                Done::Broken { id } => {
                    tracing::debug!(id, "closing the connection after a failed response body");
                    active.remove(&id);
                    abort_all(&mut active);
                    return;
                }
            },
            () = stopping.cancelled(), if active.is_empty() => return,
        }
    }
}

fn abort_all(active: &mut HashMap<u16, Active>) {
    for (_, request) in active.drain() {
        if let Some(task) = request.task {
            task.abort();
        }
    }
}

/// Handles one record; `false` ends the connection.
async fn handle(
    record: Record,
    active: &mut HashMap<u16, Active>,
    shared: &Arc<Shared>,
    writer: &Writer,
    done_tx: &mpsc::UnboundedSender<Done>,
    tracker: &TaskTracker,
) -> bool {
    match record {
        Record::BeginRequest { id, role, keep_conn } => {
            if role != Role::Responder as u16 {
                let mut out = BytesMut::new();
                encode_end_request(&mut out, id, 0, ProtocolStatus::UnknownRole);
                return write(writer, &out).await.is_ok();
            }
            if active.contains_key(&id) {
                tracing::warn!(id, "front began a request whose id is in use; closing the connection");
                return false;
            }
            let params = Some(ParamsDecoder::new(shared.config.max_params_bytes));
            active.insert(id, Active { keep_conn, params, body: None, task: None });
        }
        Record::Params { id, data } => {
            let Some(request) = active.get_mut(&id) else { return true };
            let Some(params) = request.params.as_mut() else { return true };
            if !data.is_empty() {
                if let Err(err) = params.push(&data) {
                    tracing::warn!(id, error = %err, "refusing a request");
                    request.params = None;
                    let (tx, rx) = mpsc::channel(8);
                    request.body = Some(tx);
                    let task = tracker.spawn(request::refuse(
                        id,
                        request.keep_conn,
                        err.to_string(),
                        rx,
                        Arc::clone(writer),
                        done_tx.clone(),
                    ));
                    request.task = Some(task.abort_handle());
                }
                return true;
            }
            let Some(params) = request.params.take() else { return true };
            let (tx, rx) = mpsc::channel(8);
            request.body = Some(tx);
            let task = tracker.spawn(request::run(
                Arc::clone(shared),
                id,
                request.keep_conn,
                params.finish(),
                rx,
                Arc::clone(writer),
                done_tx.clone(),
            ));
            request.task = Some(task.abort_handle());
        }
        Record::Stdin { id, data } => {
            let Some(request) = active.get_mut(&id) else { return true };
            if data.is_empty() {
                request.body = None;
            } else if let Some(body) = &request.body {
                // Backpressure: a slow reader slows this connection's reads.
                if body.send(data).await.is_err() {
                    request.body = None;
                }
            }
        }
        Record::AbortRequest { id } => {
            if let Some(request) = active.remove(&id) {
                if let Some(task) = request.task {
                    task.abort();
                }
                let mut out = BytesMut::new();
                encode_end_request(&mut out, id, 0, ProtocolStatus::RequestComplete);
                if write(writer, &out).await.is_err() || !request.keep_conn {
                    return false;
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
            return write(writer, &out).await.is_ok();
        }
        Record::Other { kind, id: 0 } => {
            let mut out = BytesMut::new();
            encode_unknown_type(&mut out, kind);
            return write(writer, &out).await.is_ok();
        }
        // Records a front does not send to a responder: ignored.
        _ => {}
    }
    true
}
