//! HTTPS through rgi-server with `examples/tls.toml` as it is shipped
//! (HTTP/2 by ALPN and HTTP/1.1, to daemons), certificate reload on
//! SIGHUP, and certificate errors that name the file (ENV-7, SRV-14).
//! The client is curl, as a user's would be.
#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use rgi_conformance::{Options, Protocol, Target};
use rgi_test_support::{listening_addrs, skip_unless_ci, LoggedChild};
use support::binary;

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

/// `examples/tls.toml` with the daemons this test run built and ports the
/// OS picks, written into `dir` (so its relative paths still find the
/// certificate through a link).
fn shipped_config(dir: &Path, cert: &Path, key: &Path) -> PathBuf {
    let text = std::fs::read_to_string(examples().join("tls.toml")).unwrap();
    let hello = binary("hello");
    let bin_dir = hello.parent().unwrap();
    let text = text
        .replace("../target/release/", &format!("{}/", bin_dir.display()))
        .replace("127.0.0.1:8000", "127.0.0.1:0")
        .replace("127.0.0.1:8443", "127.0.0.1:0")
        .replace("tls/cert.pem", "{cert}")
        .replace("tls/key.pem", "{key}")
        .replace("{cert}", &cert.display().to_string())
        .replace("{key}", &key.display().to_string());
    binary("echo");
    let path = dir.join("tls.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// rgi-server on [`shipped_config`], once both its listeners are up; their
/// addresses in the order announced: the cleartext one, then the TLS one.
fn start_shipped(dir: &Path, cert: &Path, key: &Path) -> (LoggedChild, Vec<String>) {
    let config = shipped_config(dir, cert, key);
    let mut command = Command::new(env!("CARGO_BIN_EXE_rgi-server"));
    command.arg("--config").arg(&config).env("RGI_LOG", "info");
    let (server, _) =
        LoggedChild::spawn("rgi-server", command, Duration::from_secs(30), rgi_test_support::listening_addr);
    server.wait_log(Duration::from_secs(30), "both listeners", |l| listening_addrs(l).len() >= 2);
    let addrs = listening_addrs(&server.log());
    (server, addrs)
}

fn curl(args: &[&str]) -> (bool, String) {
    let out = Command::new("curl").args(["-sS", "--max-time", "20"]).args(args).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
}

fn have_curl() -> bool {
    if Command::new("curl").arg("--version").output().is_ok_and(|o| o.status.success()) {
        return true;
    }
    skip_unless_ci("the TLS test", "there is no curl (apt-get install curl)");
    false
}

#[test]
fn https_and_http2_reach_the_daemons_and_a_certificate_reload_keeps_serving() {
    // ENV-7, SRV-14
    if !have_curl() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::copy(examples().join("tls/cert.pem"), &cert).unwrap();
    std::fs::copy(examples().join("tls/key.pem"), &key).unwrap();
    let (server, addrs) = start_shipped(dir.path(), &cert, &key);
    let tls_addr = &addrs[1];
    let url = format!("https://{tls_addr}/echo/x?y=1");
    let cacert = cert.display().to_string();

    let (ok, out) = curl(&["--http2", "--cacert", &cacert, "-w", "\nhttp=%{http_version}", &url]);
    assert!(ok, "{out}\n{}", server.log());
    assert!(out.ends_with("http=2"), "not HTTP/2: {out}");
    let json: serde_json::Value = serde_json::from_str(out.rsplit_once('\n').unwrap().0).unwrap();
    assert_eq!(json["HTTPS"], "on", "{json}");
    assert_eq!(json["wsgi.url_scheme"], "https", "{json}");
    assert_eq!(json["SERVER_PROTOCOL"], "HTTP/2.0", "{json}");
    assert_eq!(json["PATH_INFO"], "/x", "{json}");

    let (ok, out) = curl(&["--http1.1", "--cacert", &cacert, "-w", "\nhttp=%{http_version}", &url]);
    assert!(ok && out.ends_with("http=1.1"), "{out}");
    assert!(out.contains("\"SERVER_PROTOCOL\": \"HTTP/1.1\""), "{out}");

    // SIGHUP with a broken certificate file: the old one stays in use.
    std::fs::write(&cert, "not a certificate").unwrap();
    server.signal(libc::SIGHUP);
    server.wait_log(Duration::from_secs(30), "the failed reload", |l| l.contains("previous certificate stays"));
    let (ok, out) = curl(&["--http2", "--cacert", &examples().join("tls/cert.pem").display().to_string(), &url]);
    assert!(ok, "a failed reload broke TLS: {out}");
    // Put back: the next SIGHUP reloads it.
    std::fs::copy(examples().join("tls/cert.pem"), &cert).unwrap();
    server.signal(libc::SIGHUP);
    server.wait_log(Duration::from_secs(30), "the reload", |l| l.contains("TLS certificate reloaded"));
    let (ok, out) = curl(&["--http2", "--cacert", &cacert, &url]);
    assert!(ok, "{out}");
}

#[test]
fn a_missing_or_mismatched_certificate_is_an_error_naming_the_file() {
    // SRV-14
    let dir = tempfile::tempdir().unwrap();
    for (cert, key, expected) in [
        (examples().join("tls/cert.pem"), examples().join("tls/other-key.pem"), "does not belong to the certificate"),
        (dir.path().join("absent.pem"), examples().join("tls/key.pem"), "absent.pem"),
        (examples().join("tls/key.pem"), examples().join("tls/key.pem"), "holds no certificate"),
    ] {
        let config = shipped_config(dir.path(), &cert, &key);
        let out = Command::new(env!("CARGO_BIN_EXE_rgi-server"))
            .arg("--config")
            .arg(&config)
            .arg("--check")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(expected), "expected {expected:?} in: {stderr}");
    }
}

#[test]
fn the_vectors_pass_over_http1_and_http2_cleartext_and_tls() {
    // DMN-2, ENV-7, ENV-8, SRV-14: every vector that applies to the
    // protocol, through rgi-server to its daemons, four ways.
    let dir = tempfile::tempdir().unwrap();
    let cert = examples().join("tls/cert.pem");
    let (server, addrs) = start_shipped(dir.path(), &cert, &examples().join("tls/key.pem"));
    let (plain, tls) = (&addrs[0], &addrs[1]);
    let roots = rgi_conformance::client::tls_client(&cert).unwrap();
    let vectors = rgi_conformance::vectors::builtin().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    for (addr, tls, protocol) in [
        (plain, None, Protocol::Http1),
        (plain, None, Protocol::Http2),
        (tls, Some(&roots), Protocol::Http1),
        (tls, Some(&roots), Protocol::Http2),
    ] {
        let target = Target { authority: addr.clone(), prefix: "/echo".into() };
        let options = Options { protocol, tls: tls.cloned(), ..Options::default() };
        let report = rt.block_on(rgi_conformance::run(&target, &vectors, &options));
        let what = format!("{protocol:?} {}", if options.tls.is_some() { "over TLS" } else { "cleartext" });
        let (passed, _, skipped) = report.counts();
        assert!(
            report.ok(),
            "{what}: {}\n{}\nserver log:\n{}",
            report.summary(),
            report.failures().join("\n"),
            server.log()
        );
        assert!(passed > 30, "{what}: only {passed} vectors ran ({skipped} skipped)");
        eprintln!("{what}: {}", report.summary());
    }
}
