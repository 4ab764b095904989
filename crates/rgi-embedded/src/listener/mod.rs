//! Where the server listens: TCP (IPv4, IPv6), Unix sockets, and sockets
//! inherited from a parent (socket activation, the development server).

use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};

use crate::conn::ConnState;
use crate::error::Error;
use crate::tls::TlsConfig;

mod inherit;
mod sys;

pub use inherit::{from_fd, from_listen_fds, is_listening_socket, pass_listen_fds};

/// An address to listen on, as written in `RGI_BIND` (DEP-2): `host:port`,
/// `[ipv6]:port`, or `unix:/path`. A host name (`localhost:8000`) is
/// resolved when parsed, preferring an IPv4 address.
///
/// ```
/// use rgi_embedded::BindAddr;
///
/// assert!(matches!("127.0.0.1:8000".parse(), Ok(BindAddr::Tcp(_))));
/// assert!(matches!("localhost:8000".parse(), Ok(BindAddr::Tcp(a)) if a.ip().is_loopback()));
/// assert!(matches!("[::1]:8000".parse(), Ok(BindAddr::Tcp(_))));
/// assert!(matches!("unix:/run/app.sock".parse(), Ok(BindAddr::Unix(_))));
/// assert!("localhost".parse::<BindAddr>().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindAddr {
    /// A TCP address.
    Tcp(SocketAddr),
    /// A Unix socket path.
    Unix(PathBuf),
}

impl std::str::FromStr for BindAddr {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = |reason| Error::BadAddress { addr: s.to_string(), reason };
        if let Some(path) = s.strip_prefix("unix:") {
            if path.is_empty() {
                return Err(bad("a unix socket needs a path: unix:/path/to.sock"));
            }
            return Ok(BindAddr::Unix(PathBuf::from(path)));
        }
        if let Ok(addr) = s.parse() {
            return Ok(BindAddr::Tcp(addr));
        }
        let shape = "expected host:port, [ipv6]:port or unix:/path";
        let (host, port) = s.rsplit_once(':').ok_or_else(|| bad(shape))?;
        let port: u16 = port.parse().map_err(|_| bad("the port must be a number from 0 to 65535"))?;
        if host.is_empty() || host.contains([':', '[', ']', '/']) {
            return Err(bad(shape));
        }
        // A host name (`localhost`) is resolved once, here; IPv4 first,
        // as the default 127.0.0.1 is.
        let addrs: Vec<SocketAddr> =
            (host, port).to_socket_addrs().map_err(|_| bad("the host name does not resolve"))?.collect();
        addrs
            .iter()
            .find(|a| a.is_ipv4())
            .or_else(|| addrs.first())
            .map(|a| BindAddr::Tcp(*a))
            .ok_or_else(|| bad("the host name does not resolve"))
    }
}

impl fmt::Display for BindAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BindAddr::Tcp(addr) => write!(f, "{addr}"),
            BindAddr::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

/// A listening socket: TCP or Unix, bound here or inherited.
#[derive(Debug)]
pub struct Listener {
    kind: Kind,
    /// A Unix socket file this process created, removed at shutdown.
    owned_path: Option<PathBuf>,
    /// TLS on this listener's connections.
    tls: Option<Arc<TlsConfig>>,
    /// Each connection starts with a PROXY protocol header (PRX-1).
    proxy_protocol: bool,
}

#[derive(Debug)]
enum Kind {
    Tcp(TcpListener),
    Unix(UnixListener),
    /// Inherited before a runtime existed; registered with it at `serve`.
    StdTcp(std::net::TcpListener),
    StdUnix(std::os::unix::net::UnixListener),
}

impl Listener {
    /// Binds `addr`. A Unix socket path that exists as a socket nobody
    /// listens on (left by a crash) is replaced; any other file there is an
    /// error.
    pub async fn bind(addr: &BindAddr) -> Result<Self, Error> {
        match addr {
            BindAddr::Tcp(sa) => {
                let l = TcpListener::bind(sa).await.map_err(|source| Error::Bind { addr: sa.to_string(), source })?;
                Ok(Self::tcp(l))
            }
            BindAddr::Unix(path) => {
                let bind_err = |source| Error::BindUnix { path: path.clone(), source };
                sys::remove_stale_socket(path).map_err(bind_err)?;
                let l = UnixListener::bind(path).map_err(bind_err)?;
                Ok(Self { kind: Kind::Unix(l), owned_path: Some(path.clone()), tls: None, proxy_protocol: false })
            }
        }
    }

    /// A TCP listener made elsewhere.
    pub fn tcp(listener: TcpListener) -> Self {
        Self { kind: Kind::Tcp(listener), owned_path: None, tls: None, proxy_protocol: false }
    }

    /// A Unix listener made elsewhere (its file is left in place).
    pub fn unix(listener: UnixListener) -> Self {
        Self { kind: Kind::Unix(listener), owned_path: None, tls: None, proxy_protocol: false }
    }

    /// This listener with TLS: its connections are served over TLS with
    /// `tls`'s certificate (HTTP/2 when the client offers `h2` by ALPN)
    /// and their url scheme is `https` (ENV-7).
    pub fn with_tls(mut self, tls: Arc<TlsConfig>) -> Self {
        self.tls = Some(tls);
        self
    }

    /// This listener behind a balancer that speaks the PROXY protocol:
    /// every connection must start with a version 1 or 2 header, whose
    /// source address becomes the client's (PRX-1, PRX-2). A connection
    /// without one is closed; with TLS, the header comes before the
    /// handshake.
    pub fn with_proxy_protocol(mut self) -> Self {
        self.proxy_protocol = true;
        self
    }

    pub(crate) fn proxy_protocol(&self) -> bool {
        self.proxy_protocol
    }

    /// A duplicate of the listening socket's descriptor (close-on-exec),
    /// to hand to another process: both then accept from the same queue,
    /// as a binary upgrade needs.
    pub fn try_clone_fd(&self) -> io::Result<std::os::fd::OwnedFd> {
        use std::os::fd::AsFd;
        match &self.kind {
            Kind::Tcp(l) => l.as_fd().try_clone_to_owned(),
            Kind::Unix(l) => l.as_fd().try_clone_to_owned(),
            Kind::StdTcp(l) => l.as_fd().try_clone_to_owned(),
            Kind::StdUnix(l) => l.as_fd().try_clone_to_owned(),
        }
    }

    /// This listener, leaving its Unix socket file in place when the server
    /// stops (its owner removes it, or hands it on to another process).
    pub fn keep_file(mut self) -> Self {
        self.owned_path = None;
        self
    }

    pub(crate) fn tls(&self) -> Option<&Arc<TlsConfig>> {
        self.tls.as_ref()
    }

    pub(crate) fn owned_path(&self) -> Option<PathBuf> {
        self.owned_path.clone()
    }

    /// The listener as a std socket, for a server of another protocol (the
    /// FastCGI daemon takes an inherited socket this way).
    pub fn into_std(self) -> io::Result<StdListener> {
        Ok(match self.kind {
            Kind::Tcp(l) => StdListener::Tcp(l.into_std()?),
            Kind::Unix(l) => StdListener::Unix(l.into_std()?),
            Kind::StdTcp(l) => StdListener::Tcp(l),
            Kind::StdUnix(l) => StdListener::Unix(l),
        })
    }

    /// Registers a listener made outside the runtime with it.
    pub(crate) fn into_registered(self) -> io::Result<Self> {
        let kind = match self.kind {
            Kind::StdTcp(l) => Kind::Tcp(TcpListener::from_std(l)?),
            Kind::StdUnix(l) => Kind::Unix(UnixListener::from_std(l)?),
            kind => kind,
        };
        Ok(Self { kind, owned_path: self.owned_path, tls: self.tls, proxy_protocol: self.proxy_protocol })
    }

    pub(crate) fn std_tcp(listener: std::net::TcpListener) -> Self {
        Self { kind: Kind::StdTcp(listener), owned_path: None, tls: None, proxy_protocol: false }
    }

    pub(crate) fn std_unix(listener: std::os::unix::net::UnixListener) -> Self {
        Self { kind: Kind::StdUnix(listener), owned_path: None, tls: None, proxy_protocol: false }
    }

    /// What this listener is bound to.
    pub fn local_addr(&self) -> io::Result<BindAddr> {
        let unix = |addr: std::os::unix::net::SocketAddr| {
            BindAddr::Unix(addr.as_pathname().map(PathBuf::from).unwrap_or_default())
        };
        match &self.kind {
            Kind::Tcp(l) => l.local_addr().map(BindAddr::Tcp),
            Kind::StdTcp(l) => l.local_addr().map(BindAddr::Tcp),
            Kind::Unix(l) => l.local_addr().map(|a| unix(a.into())),
            Kind::StdUnix(l) => l.local_addr().map(unix),
        }
    }

    pub(crate) async fn accept(&self) -> io::Result<Accepted> {
        match &self.kind {
            Kind::Tcp(l) => {
                let (stream, peer) = l.accept().await?;
                Ok(tcp_accepted(stream, Some(peer)))
            }
            Kind::Unix(l) => {
                let (stream, _) = l.accept().await?;
                Ok((Stream::Unix(stream), None, None))
            }
            Kind::StdTcp(_) | Kind::StdUnix(_) => {
                Err(io::Error::other("listener used before it was registered with the runtime"))
            }
        }
    }

    /// A connection already queued in the kernel, if there is one, without
    /// waiting: accept(2) on the non-blocking socket itself, whatever the
    /// runtime has heard of yet.
    pub(crate) fn try_accept(&self) -> io::Result<Option<Accepted>> {
        let taken = match &self.kind {
            Kind::Tcp(l) => socket2::SockRef::from(l).accept(),
            Kind::Unix(l) => socket2::SockRef::from(l).accept(),
            Kind::StdTcp(_) | Kind::StdUnix(_) => return Ok(None),
        };
        let (socket, _) = match taken {
            Ok(taken) => taken,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
            Err(e) => return Err(e),
        };
        socket.set_nonblocking(true)?;
        match &self.kind {
            Kind::Tcp(_) => {
                let stream = TcpStream::from_std(std::net::TcpStream::from(socket))?;
                let peer = stream.peer_addr().ok();
                Ok(Some(tcp_accepted(stream, peer)))
            }
            _ => {
                let stream = UnixStream::from_std(std::os::unix::net::UnixStream::from(socket))?;
                Ok(Some((Stream::Unix(stream), None, None)))
            }
        }
    }
}

/// An accepted TCP connection, ready to serve.
pub(crate) fn tcp_accepted(stream: TcpStream, peer: Option<SocketAddr>) -> Accepted {
    // Small responses must not wait for Nagle's algorithm.
    let _ = stream.set_nodelay(true);
    let local = stream.local_addr().ok();
    (Stream::Tcp(stream), local, peer)
}

/// A listening socket as std types.
#[derive(Debug)]
pub enum StdListener {
    /// TCP.
    Tcp(std::net::TcpListener),
    /// A Unix socket.
    Unix(std::os::unix::net::UnixListener),
}

impl StdListener {
    /// Binds `addr` without a runtime (for a process that has not started
    /// one yet). As with [`Listener::bind`], a stale Unix socket is
    /// replaced and any other file at the path is an error.
    pub fn bind(addr: &BindAddr) -> Result<Self, Error> {
        match addr {
            BindAddr::Tcp(sa) => std::net::TcpListener::bind(sa)
                .map(Self::Tcp)
                .map_err(|source| Error::Bind { addr: sa.to_string(), source }),
            BindAddr::Unix(path) => {
                let bind_err = |source| Error::BindUnix { path: path.clone(), source };
                sys::remove_stale_socket(path).map_err(bind_err)?;
                std::os::unix::net::UnixListener::bind(path).map(Self::Unix).map_err(bind_err)
            }
        }
    }
}

/// An accepted connection, its local address and its peer's (none on a
/// Unix socket).
pub(crate) type Accepted = (Stream, Option<SocketAddr>, Option<SocketAddr>);

/// An accepted connection.
#[derive(Debug)]
pub(crate) enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl Stream {
    /// This stream, counting the bytes it reads into `state` for the
    /// connection's watchdog.
    pub(crate) fn counting(self, state: Arc<ConnState>) -> CountingStream {
        CountingStream { inner: self, state }
    }

    /// The socket's descriptor.
    pub(crate) fn raw_fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsRawFd;
        match self {
            Stream::Tcp(s) => s.as_raw_fd(),
            Stream::Unix(s) => s.as_raw_fd(),
            Stream::Tls(s) => s.get_ref().0.as_raw_fd(),
        }
    }
}

/// A stream that counts what it reads (see [`Stream::counting`]).
#[derive(Debug)]
pub(crate) struct CountingStream {
    inner: Stream,
    state: Arc<ConnState>,
}

impl Drop for CountingStream {
    fn drop(&mut self) {
        // The socket closes with this stream: nothing may use its
        // descriptor number any more.
        self.state.stream_closed();
    }
}

impl AsyncRead for CountingStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let result = match &mut this.inner {
            Stream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Unix(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        };
        let read = (buf.filled().len() - before) as u64;
        if read > 0 {
            this.state.bytes_read.fetch_add(read, Ordering::Relaxed);
        }
        result
    }
}

impl AsyncWrite for CountingStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().inner {
            Stream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Unix(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().inner {
            Stream::Tcp(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Unix(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match &self.inner {
            Stream::Tcp(s) => s.is_write_vectored(),
            Stream::Unix(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().inner {
            Stream::Tcp(s) => Pin::new(s).poll_flush(cx),
            Stream::Unix(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().inner {
            Stream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Unix(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
