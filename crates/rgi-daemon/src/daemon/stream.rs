//! A front connection's sides: read by the connection's loop, written by
//! its requests in whole records.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};
use tokio::sync::Mutex;

use rgi_fastcgi::{push_framed, stream_framing, Framing, RecordType};

use crate::socket::Socket;

/// The write side, shared by the requests of a connection; a write holds
/// the lock for whole records, so multiplexed answers never interleave
/// inside one.
pub(crate) type Writer = Arc<WriteSide>;

#[derive(Debug)]
pub(crate) struct WriteSide {
    socket: Arc<Socket>,
    lock: Mutex<()>,
}

/// The read side.
pub(crate) struct Reader(Arc<Socket>);

impl AsyncRead for Reader {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        self.0.poll_read_into(cx, buf)
    }
}

/// Splits a connection into its sides.
pub(crate) fn split(socket: Socket) -> (Reader, Writer) {
    let socket = Arc::new(socket);
    (Reader(Arc::clone(&socket)), Arc::new(WriteSide { socket, lock: Mutex::new(()) }))
}

/// Writes whole records to the connection.
pub(crate) async fn write(writer: &Writer, bytes: &[u8]) -> io::Result<()> {
    let _whole = writer.lock.lock().await;
    writer.socket.write_all(bytes).await
}

/// Writes whole records: `records`, then `data` as stream `kind` of
/// request `id`, framed where it lies, in one `writev`: a large frame is
/// not copied into records on its way.
pub(crate) async fn write_framed(
    writer: &Writer,
    records: &[u8],
    kind: RecordType,
    id: u16,
    data: &[u8],
) -> io::Result<()> {
    let framing: Vec<Framing> = stream_framing(kind, id, data.len()).collect();
    let mut slices = vec![IoSlice::new(records)];
    push_framed(&mut slices, &framing, data);
    let _whole = writer.lock.lock().await;
    writer.socket.write_all_vectored(&mut slices).await
}
