//! Sockets between the front and its daemons, watched for reading only:
//! the daemon side here, and the front's pool (`rgi-supervisor`) too.
//!
//! Tokio registers every stream for reading and writing. On a Unix socket
//! that costs a wake-up per message: each time one side reads, the kernel
//! tells the other that it may write again (`unix_write_space`), and with
//! edge-triggered epoll that wakes its event loop even though it never
//! waited to write. Measured on the front and its daemons, those wake-ups
//! were the largest single cost of a request after the data copies. So
//! these sockets are registered for reading only; a write that finds the
//! socket full registers a second handle (a `dup`) for writability, once,
//! and only for that connection.

use std::io::{self, IoSlice, Write};
use std::net::Shutdown;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{ready, Context, Poll};

use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};

use crate::sys;

/// A connected stream socket, Unix or TCP.
#[derive(Debug)]
pub enum StdStream {
    /// A Unix stream socket.
    Unix(std::os::unix::net::UnixStream),
    /// A TCP stream.
    Tcp(std::net::TcpStream),
}

impl AsRawFd for StdStream {
    fn as_raw_fd(&self) -> RawFd {
        match self {
            StdStream::Unix(s) => s.as_raw_fd(),
            StdStream::Tcp(s) => s.as_raw_fd(),
        }
    }
}

impl AsFd for StdStream {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        match self {
            StdStream::Unix(s) => s.as_fd(),
            StdStream::Tcp(s) => s.as_fd(),
        }
    }
}

impl StdStream {
    fn write(&self, buf: &[u8]) -> io::Result<usize> {
        match self {
            StdStream::Unix(s) => (&*s).write(buf),
            StdStream::Tcp(s) => (&*s).write(buf),
        }
    }

    fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            StdStream::Unix(s) => (&*s).write_vectored(bufs),
            StdStream::Tcp(s) => (&*s).write_vectored(bufs),
        }
    }

    fn shutdown_write(&self) -> io::Result<()> {
        match self {
            StdStream::Unix(s) => s.shutdown(Shutdown::Write),
            StdStream::Tcp(s) => s.shutdown(Shutdown::Write),
        }
    }

    fn try_clone_fd(&self) -> io::Result<OwnedFd> {
        self.as_fd().try_clone_to_owned()
    }
}

/// A non-blocking socket registered with the runtime for reading only.
/// Reading and writing take `&self`, so one task may read while others
/// write (each write is whole records; callers serialise writes).
#[derive(Debug)]
pub struct Socket {
    io: AsyncFd<StdStream>,
    /// Made when a write first finds the socket full.
    writable: OnceLock<AsyncFd<OwnedFd>>,
}

impl Socket {
    /// Takes a connected stream; it must already be non-blocking.
    pub fn new(stream: StdStream) -> io::Result<Self> {
        Ok(Self { io: sys::register(stream, Interest::READABLE)?, writable: OnceLock::new() })
    }

    /// Reads into the unfilled part of `buf`, waiting until the socket is
    /// readable.
    pub fn poll_read_into(&self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        loop {
            let mut guard = ready!(self.io.poll_read_ready(cx))?;
            let (room, before) = (buf.remaining(), buf.filled().len());
            match guard.try_io(|io| sys::recv_into(io.get_ref().as_fd(), buf)) {
                Ok(result) => {
                    // A short read emptied the socket: the next read would
                    // only find it so (EAGAIN, a wasted call per request).
                    // New data raises readiness anew (edge-triggered), as
                    // tokio's own sockets rely on.
                    let got = buf.filled().len() - before;
                    if result.is_ok() && got > 0 && got < room {
                        guard.clear_ready();
                    }
                    return Poll::Ready(result);
                }
                Err(_would_block) => continue,
            }
        }
    }

    /// Writes from `buf`, waiting (on a second registration, made once)
    /// when the socket is full.
    pub fn poll_write_from(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.poll_write_with(cx, |stream| stream.write(buf))
    }

    /// Writes from `bufs` in one call (`writev`), as [`poll_write_from`]
    /// does from one buffer.
    ///
    /// [`poll_write_from`]: Self::poll_write_from
    pub fn poll_write_vectored_from(&self, cx: &mut Context<'_>, bufs: &[IoSlice<'_>]) -> Poll<io::Result<usize>> {
        self.poll_write_with(cx, |stream| stream.write_vectored(bufs))
    }

    fn poll_write_with(
        &self,
        cx: &mut Context<'_>,
        write: impl Fn(&StdStream) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        loop {
            match write(self.io.get_ref()) {
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                done => return Poll::Ready(done),
            }
            let writable = match self.writable.get() {
                Some(writable) => writable,
                None => {
                    let fd = self.io.get_ref().try_clone_fd()?;
                    let registered = sys::register(fd, Interest::WRITABLE)?;
                    self.writable.get_or_init(|| registered)
                }
            };
            let mut guard = ready!(writable.poll_write_ready(cx))?;
            match write(self.io.get_ref()) {
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => guard.clear_ready(),
                done => return Poll::Ready(done),
            }
        }
    }

    /// The first byte the peer sent, left unread; `None` if it closed
    /// without sending one. Waits until there is one.
    pub async fn peek_byte(&self) -> io::Result<Option<u8>> {
        self.io.async_io(Interest::READABLE, |io| sys::peek_byte(io.as_fd())).await
    }

    /// The stream itself, no longer registered with the runtime, for a
    /// server that speaks another protocol on it.
    pub fn into_std(self) -> StdStream {
        self.io.into_inner()
    }

    /// Writes all of `buf`.
    pub async fn write_all(&self, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            let n = std::future::poll_fn(|cx| self.poll_write_from(cx, buf)).await?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            buf = &buf[n..];
        }
        Ok(())
    }

    /// Writes all of `bufs`, in as few `writev` calls as the socket takes.
    pub async fn write_all_vectored(&self, bufs: &mut [IoSlice<'_>]) -> io::Result<()> {
        write_all_vectored(bufs, |cx, bufs| self.poll_write_vectored_from(cx, bufs)).await
    }

    /// Ends the writing direction (the peer reads EOF).
    pub fn shutdown_write(&self) -> io::Result<()> {
        self.io.get_ref().shutdown_write()
    }
}

impl AsyncRead for Socket {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::into_inner(self).poll_read_into(cx, buf)
    }
}

/// Writes all of `bufs` with `poll_write`, a vectored write of some
/// writer: again from where a short write stopped, until all is written.
/// (`AsyncWriteExt` has no `write_all_vectored`.)
pub async fn write_all_vectored(
    mut bufs: &mut [IoSlice<'_>],
    mut poll_write: impl FnMut(&mut Context<'_>, &[IoSlice<'_>]) -> Poll<io::Result<usize>>,
) -> io::Result<()> {
    IoSlice::advance_slices(&mut bufs, 0);
    while !bufs.is_empty() {
        let n = std::future::poll_fn(|cx| poll_write(cx, bufs)).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        IoSlice::advance_slices(&mut bufs, n);
    }
    Ok(())
}

impl AsyncWrite for Socket {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::into_inner(self).poll_write_from(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::into_inner(self).poll_write_vectored_from(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Pin::into_inner(self).shutdown_write())
    }
}

/// A listening socket whose accepted connections become [`Socket`]s
/// without passing through a registration for writing.
#[derive(Debug)]
pub(crate) enum StdListener {
    Unix(std::os::unix::net::UnixListener),
    Tcp(std::net::TcpListener),
}

impl AsRawFd for StdListener {
    fn as_raw_fd(&self) -> RawFd {
        match self {
            StdListener::Unix(l) => l.as_raw_fd(),
            StdListener::Tcp(l) => l.as_raw_fd(),
        }
    }
}

impl AsFd for StdListener {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        match self {
            StdListener::Unix(l) => l.as_fd(),
            StdListener::Tcp(l) => l.as_fd(),
        }
    }
}

/// Accepts connections as [`Socket`]s.
#[derive(Debug)]
pub(crate) struct Acceptor {
    io: AsyncFd<StdListener>,
}

impl Acceptor {
    /// Takes a non-blocking listener.
    pub(crate) fn new(listener: StdListener) -> io::Result<Self> {
        Ok(Self { io: sys::register(listener, Interest::READABLE)? })
    }

    pub(crate) async fn accept(&self) -> io::Result<Socket> {
        let stream = self
            .io
            .async_io(Interest::READABLE, |listener| {
                let fd = sys::accept_nonblocking(listener.as_fd())?;
                Ok(match listener {
                    StdListener::Unix(_) => StdStream::Unix(fd.into()),
                    StdListener::Tcp(_) => {
                        let s = std::net::TcpStream::from(fd);
                        let _ = s.set_nodelay(true);
                        StdStream::Tcp(s)
                    }
                })
            })
            .await?;
        Socket::new(stream)
    }
}
