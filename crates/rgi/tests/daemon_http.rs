//! The daemon socket's HTTP side (UPG-6): the echo example started as a
//! FastCGI daemon answers HTTP on the same socket, taking the client, the
//! scheme and the mount prefix from its front's forwarding fields.
#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use rgi_test_support::{workspace_binary, LoggedChild};

/// Sends `raw` on a new connection to `socket`; the whole answer.
fn exchange(socket: &Path, raw: &[u8]) -> String {
    let mut conn = UnixStream::connect(socket).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    conn.write_all(raw).unwrap();
    let mut answer = Vec::new();
    let _ = conn.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

#[test]
fn a_daemon_socket_answers_http_with_its_fronts_forwarding_fields() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("echo.sock");
    let mut command = Command::new(workspace_binary("echo"));
    command.env("RGI_FASTCGI", format!("unix:{}", socket.display())).env("RGI_LOG", "info");
    // The daemon names no address; its socket is ours.
    let (daemon, _) = LoggedChild::spawn("echo", command, Duration::from_secs(60), |line| {
        line.contains("daemon ready").then(|| "127.0.0.1:0".to_string())
    });

    // The front's fields: the last X-Forwarded-For entry is the client (a
    // forged one before it changes nothing), the prefix is SCRIPT_NAME.
    let answer = exchange(
        &socket,
        b"GET /app/x%20y?q=1 HTTP/1.1\r\nHost: shop.example\r\nConnection: close\r\n\
          X-Forwarded-For: 192.0.2.66, 203.0.113.7\r\nX-Forwarded-Proto: https\r\n\
          X-Forwarded-Prefix: /app\r\n\r\n",
    );
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}\n{}", daemon.log());
    let body = &answer[answer.find("\r\n\r\n").unwrap() + 4..];
    let environ: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(environ["SCRIPT_NAME"], "/app", "{body}");
    assert_eq!(environ["PATH_INFO"], "/x y", "{body}");
    assert_eq!(environ["REMOTE_ADDR"], "203.0.113.7", "{body}");
    assert_eq!(environ["wsgi.url_scheme"], "https", "{body}");
    assert_eq!(environ["SERVER_NAME"], "shop.example", "{body}");
    assert!(!body.contains("HTTP_X_FORWARDED_PREFIX"), "the prefix field reached the application: {body}");

    // A prefix the path is not under is refused, naming the field.
    let answer = exchange(
        &socket,
        b"GET /app/x HTTP/1.1\r\nHost: t\r\nConnection: close\r\nX-Forwarded-Prefix: /elsewhere\r\n\r\n",
    );
    assert!(answer.starts_with("HTTP/1.1 400") && answer.contains("X-Forwarded-Prefix"), "{answer}");
    daemon.wait_log(Duration::from_secs(5), "the refusal's log line", |log| log.contains("X-Forwarded-Prefix"));

    // Bytes that are neither FastCGI nor HTTP end their own connection
    // only; the daemon goes on.
    let answer = exchange(&socket, b"\x16\x03\x01\x02\x00garbage\r\n\r\n");
    assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 400"), "{answer}");
    let answer = exchange(&socket, b"GET / HTTP/1.0\r\nHost: t\r\n\r\n");
    assert!(answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200"), "{answer}");
}
