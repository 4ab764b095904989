//! A front connection's sides: read by the connection's loop, written by
//! its requests in whole records.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};
use tokio::sync::Mutex;

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
