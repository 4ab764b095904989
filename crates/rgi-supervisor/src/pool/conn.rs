//! Connections from the pool to a daemon.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use tokio::net::{TcpStream, UnixStream};

use rgi_daemon::socket::{Socket, StdStream};

/// Where a daemon listens.
#[derive(Clone, PartialEq, Eq)]
pub enum BackendAddr {
    /// A Unix socket.
    Unix(PathBuf),
    /// A TCP address.
    Tcp(SocketAddr),
}

impl fmt::Debug for BackendAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for BackendAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BackendAddr::Unix(p) => write!(f, "unix:{}", p.display()),
            BackendAddr::Tcp(a) => write!(f, "{a}"),
        }
    }
}

/// An open connection to a daemon.
pub(crate) type Conn = Socket;

/// Connects to a daemon, within `timeout`.
pub(crate) async fn connect(addr: &BackendAddr, timeout: Duration) -> io::Result<Conn> {
    let connect = async {
        // Tokio connects without blocking; the connection is then watched
        // for reading only (see `socket`). Connections are kept and reused,
        // so the re-registration is paid once per connection.
        let stream = match addr {
            BackendAddr::Unix(path) => StdStream::Unix(UnixStream::connect(path).await?.into_std()?),
            BackendAddr::Tcp(a) => {
                let s = TcpStream::connect(a).await?;
                let _ = s.set_nodelay(true);
                StdStream::Tcp(s.into_std()?)
            }
        };
        Socket::new(stream)
    };
    tokio::time::timeout(timeout, connect)
        .await
        .unwrap_or_else(|_| Err(io::Error::new(io::ErrorKind::TimedOut, "connecting timed out")))
}
