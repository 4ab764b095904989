//! An upgrade request to a daemon group: FastCGI cannot carry the
//! connection, so rgi-server says so instead of switching (UPG-5).
#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

mod support;

use rgi_test_support::{get, request};
use support::*;

#[test]
fn an_upgrade_to_a_daemon_is_not_implemented_and_says_why() {
    // UPG-5
    let server = ServerProc::start(
        r#"
[groups.app]
command = ["{app}"]
processes = 1

[[mounts]]
prefix = "/"
group = "app"
"#,
    );
    let (status, body) = request(
        server.addr,
        "GET /chat HTTP/1.1\r\nHost: t\r\nConnection: Upgrade, close\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    );
    assert_eq!(status, 501, "{body}");
    assert!(body.contains("\"websocket\"") && body.contains("FastCGI"), "{body}");
    server.wait_log(std::time::Duration::from_secs(10), "the log line", |log| log.contains("upgrade refused"));
    // Without an upgrade, the same path is the application's.
    assert_eq!(get(server.addr, "/chat").0, 200);
}
