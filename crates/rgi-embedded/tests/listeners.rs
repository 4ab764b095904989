//! Where the server listens: TCP over IPv4 and IPv6, Unix sockets, and
//! sockets inherited from a parent, checked before use (DEP-2, DEP-3).
#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

mod support;

use std::os::fd::{AsRawFd, IntoRawFd};

use rgi_embedded::{from_fd, from_listen_fds, BindAddr, Listener, Mounts, Server};
use support::*;
use tokio::io::AsyncWriteExt;

async fn serve_on(listener: Listener) -> (tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let mut mounts = Mounts::new();
    mounts.add("/", environ_app()).unwrap();
    let server = Server::builder().mounts(mounts).build();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        server
            .serve(vec![listener], async move {
                let _ = stopped.await;
            })
            .await
            .unwrap();
    });
    (stop, task)
}

#[tokio::test]
async fn bind_addresses_parse_and_name_bad_ones() {
    // DEP-2
    assert_eq!("127.0.0.1:80".parse::<BindAddr>().unwrap(), BindAddr::Tcp(([127, 0, 0, 1], 80).into()));
    assert!(matches!("[::1]:8000".parse::<BindAddr>().unwrap(), BindAddr::Tcp(a) if a.is_ipv6()));
    assert_eq!("unix:/run/x.sock".parse::<BindAddr>().unwrap(), BindAddr::Unix("/run/x.sock".into()));
    // A host name is as good as an address (resolved once, IPv4 first).
    assert_eq!("localhost:80".parse::<BindAddr>().unwrap(), BindAddr::Tcp(([127, 0, 0, 1], 80).into()));
    for bad in ["localhost", "localhost:http", "localhost:99999", "8000", "unix:", "127.0.0.1", "[::1:80", ":80", ""] {
        let err = bad.parse::<BindAddr>().unwrap_err().to_string();
        assert!(err.contains(&format!("{bad:?}")), "{bad}: {err}");
    }
}

#[tokio::test]
async fn serves_on_ipv6_loopback() {
    // DEP-2
    bounded(async {
        let Ok(listener) = Listener::bind(&"[::1]:0".parse().unwrap()).await else {
            rgi_test_support::skip("the IPv6 listener test", "no IPv6 loopback on this machine");
            return;
        };
        let BindAddr::Tcp(addr) = listener.local_addr().unwrap() else { panic!() };
        let (_stop, _task) = serve_on(listener).await;
        let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
        conn.write_all(b"GET / HTTP/1.1\r\nHost: [::1]\r\n\r\n").await.unwrap();
        let v = vars(&read_response(&mut conn).await.unwrap());
        assert_eq!((v["REMOTE_ADDR"].as_str(), v["SERVER_NAME"].as_str()), ("::1", "[::1]"));
    })
    .await;
}

#[tokio::test]
async fn serves_on_a_unix_socket_and_removes_it_after() {
    // ENV-4: no client address on a Unix socket.
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.sock");
        let listener = Listener::bind(&BindAddr::Unix(path.clone())).await.unwrap();
        let (stop, task) = serve_on(listener).await;
        let mut conn = tokio::net::UnixStream::connect(&path).await.unwrap();
        conn.write_all(b"GET /x HTTP/1.0\r\n\r\n").await.unwrap();
        let mut out = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut conn, &mut out).await.unwrap();
        let text = String::from_utf8_lossy(&out);
        assert!(text.starts_with("HTTP/1.0 200"), "{text}");
        assert!(text.contains("PATH_INFO=/x") && !text.contains("REMOTE_ADDR=1"), "{text}");
        stop.send(()).unwrap();
        task.await.unwrap();
        assert!(!path.exists(), "socket file left behind");
    })
    .await;
}

#[tokio::test]
async fn a_stale_unix_socket_is_replaced_but_a_live_one_is_not() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.sock");
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        assert!(path.exists(), "stale socket left by a 'crash'");
        let live = Listener::bind(&BindAddr::Unix(path.clone())).await.unwrap();
        let err = Listener::bind(&BindAddr::Unix(path.clone())).await.unwrap_err().to_string();
        assert!(err.contains("app.sock") && err.contains("listening"), "{err}");
        drop(live);
        let file = dir.path().join("not-a-socket");
        std::fs::write(&file, "data").unwrap();
        assert!(Listener::bind(&BindAddr::Unix(file.clone())).await.is_err());
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "data", "a regular file was clobbered");
    })
    .await;
}

#[tokio::test]
async fn an_inherited_listening_socket_is_served() {
    // DEP-1, DEP-3
    bounded(async {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = std_listener.local_addr().unwrap();
        let listener = from_fd(std_listener.into_raw_fd()).unwrap();
        let (_stop, _task) = serve_on(listener).await;
        let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
        conn.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").await.unwrap();
        assert_eq!(read_response(&mut conn).await.unwrap().status, 200);
    })
    .await;
}

#[tokio::test]
async fn inherited_descriptors_of_the_wrong_kind_are_refused_by_name() {
    // DEP-3
    let file = tempfile::tempfile().unwrap();
    let err = from_fd(file.as_raw_fd()).unwrap_err().to_string();
    assert!(err.contains(&format!("descriptor {}", file.as_raw_fd())) && err.contains("not a socket"), "{err}");

    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let err = from_fd(udp.as_raw_fd()).unwrap_err().to_string();
    assert!(err.contains("not a stream"), "{err}");

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let stream = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let err = from_fd(stream.as_raw_fd()).unwrap_err().to_string();
    assert!(err.contains("not listening"), "{err}");

    let err = from_fd(9999).unwrap_err().to_string();
    assert!(err.contains("not an open file descriptor"), "{err}");
    // The refused descriptors were left open for their owners.
    assert!(udp.local_addr().is_ok() && stream.peer_addr().is_ok());
}

#[tokio::test]
async fn listen_fds_are_only_taken_when_meant_for_this_process() {
    // DEP-1, DEP-3
    assert!(from_listen_fds(None, None).unwrap().is_none());
    assert!(from_listen_fds(Some("1"), Some("1")).unwrap().is_none(), "another process's sockets");
    let me = std::process::id().to_string();
    assert!(from_listen_fds(Some(&me), Some("many")).unwrap_err().to_string().contains("LISTEN_FDS"));
    assert!(from_listen_fds(Some("pid"), Some("1")).unwrap_err().to_string().contains("LISTEN_PID"));
    assert!(from_listen_fds(Some(&me), Some("0")).is_err());
}
