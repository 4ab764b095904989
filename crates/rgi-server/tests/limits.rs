//! One set of limits end to end: `[server.limits]` of rgi-server reaches
//! its daemons, so a body limit raised above the daemons' default holds
//! through the whole path, with a declared length and chunked, at the
//! limit and one byte either side (FCGI-9, DEP-7, BODY-4).
#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

mod support;

use std::time::Duration;

use rgi_test_support::request;
use support::{binary, ServerProc};

/// Above the daemons' own 16 MiB default: only a passed-on limit lets
/// these bodies through.
const LIMIT: usize = 17 * 1024 * 1024;

fn post(len: usize, chunked: bool) -> String {
    let body = "r".repeat(len);
    if chunked {
        let mut raw =
            String::from("POST /echo/ HTTP/1.1\r\nHost: t\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n");
        for chunk in body.as_bytes().chunks(1 << 20) {
            raw.push_str(&format!("{:x}\r\n{}\r\n", chunk.len(), std::str::from_utf8(chunk).unwrap()));
        }
        raw.push_str("0\r\n\r\n");
        raw
    } else {
        format!("POST /echo/ HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: {len}\r\n\r\n{body}")
    }
}

#[test]
fn a_body_limit_raised_at_the_front_holds_in_the_daemon() {
    let echo = binary("echo");
    let server = ServerProc::start(&format!(
        r#"
[server.limits]
max-body-bytes = {LIMIT}

[groups.echo]
command = ["{}"]
processes = 1

[[mounts]]
prefix = "/echo"
group = "echo"
"#,
        echo.display()
    ));
    server.wait_log(Duration::from_secs(30), "the daemon to start", |l| l.contains("daemon ready"));
    for chunked in [false, true] {
        for len in [LIMIT - 1, LIMIT, LIMIT + 1] {
            let (status, body) = request(server.addr, &post(len, chunked));
            let want = if len > LIMIT { 413 } else { 200 };
            assert_eq!(status, want, "{len} bytes, chunked={chunked}: {}", &body[..body.len().min(300)]);
            if want == 200 {
                assert!(body.contains(&format!("\"body_length\": {len}")), "{}", &body[..body.len().min(300)]);
            }
        }
    }
}
