//! The echo binary reports what it saw (the conformance suite's probe),
//! the deployment mode (DEP-5) and the settings in use (SET-1, SET-3).
#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(sock: &Path, env: &[(&str, &str)]) -> Proc {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_echo"));
    cmd.env_remove("RGI_SETTINGS").env_remove("RGI_DEPLOYMENT").env("RGI_BIND", format!("unix:{}", sock.display()));
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    Proc(cmd.spawn().unwrap())
}

fn request(sock: &Path, raw: &[u8]) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut s = loop {
        match UnixStream::connect(sock) {
            Ok(s) => break s,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => panic!("echo never listened: {e}"),
        }
    };
    s.write_all(raw).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.0 200") && head.contains("application/json"), "{head}");
    serde_json::from_str(body).unwrap()
}

#[test]
fn echo_reports_variables_body_and_mode() {
    // ENV-1, ENV-10, DEP-5
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("echo.sock");
    let _proc = start(&sock, &[("RGI_DEPLOYMENT", "dev")]);
    let v = request(
        &sock,
        b"POST /x%20y?a=1 HTTP/1.0\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nX-Test: yes\r\n\r\nhello",
    );
    assert_eq!(v["REQUEST_METHOD"], "POST");
    assert_eq!(v["PATH_INFO"], "/x y");
    assert_eq!(v["rgi.raw_path_info"], "/x%20y");
    assert_eq!(v["QUERY_STRING"], "a=1");
    assert_eq!(v["CONTENT_TYPE"], "text/plain");
    assert_eq!(v["CONTENT_LENGTH"], "5");
    assert_eq!(v["HTTP_X_TEST"], "yes");
    assert_eq!(v["SERVER_PROTOCOL"], "HTTP/1.0");
    assert_eq!(v["wsgi.url_scheme"], "http");
    assert_eq!(v["rgi.mode"], "dev");
    assert_eq!(v["body_length"], 5);
    assert_eq!(v["body_sha256"], "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
}

#[test]
fn echo_reports_the_settings_file_in_use() {
    // SET-1, SET-3
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("echo.sock");
    let settings = dir.path().join("site.toml");
    std::fs::write(&settings, "[echo]\nanswer = 42\n").unwrap();
    let _proc = start(&sock, &[("RGI_SETTINGS", settings.to_str().unwrap())]);
    let v = request(&sock, b"GET / HTTP/1.0\r\n\r\n");
    assert_eq!(v["rgi.settings"], settings.to_str().unwrap());
    assert_eq!(v["rgi.mode"], "embedded");
}
