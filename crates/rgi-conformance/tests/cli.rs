//! The runner from the command line: one line per vector, a summary line,
//! and an exit status that says whether anything failed.
#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

use std::process::Command;

use rgi_embedded::{BindAddr, Listener, Mounts, Server};

/// Serves `app` on a thread of its own until the process ends.
fn serve(app: impl rgi_core::Application) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        rt.block_on(async move {
            let listener = Listener::bind(&"127.0.0.1:0".parse().unwrap()).await.unwrap();
            let BindAddr::Tcp(addr) = listener.local_addr().unwrap() else { panic!() };
            tx.send(addr).unwrap();
            let mut mounts = Mounts::new();
            mounts.add("/", app).unwrap();
            let _ = Server::builder().mounts(mounts).build().serve(vec![listener], std::future::pending()).await;
        });
    });
    format!("http://{}", rx.recv().unwrap())
}

fn conformance(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rgi-conformance")).args(args).output().unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
}

#[test]
fn a_conforming_server_passes_with_status_zero() {
    let url = serve(echo::Echo);
    let (code, out) = conformance(&[&url]);
    assert_eq!(code, Some(0), "{out}");
    let last = out.lines().rfind(|l| l.contains(" passed, ")).unwrap();
    assert!(last.contains(" passed, 0 failed, "), "{last}");
    assert!(out.lines().any(|l| l.starts_with("PASS  path-space")));
    assert!(out.lines().any(|l| l.starts_with("SKIP  mount-exact  (needs a non-empty mount prefix)")));
}

#[test]
fn a_server_without_echo_fails_with_expected_and_actual() {
    let url = serve(hello::Hello);
    let (code, out) = conformance(&[&url, "--only", "path-space"]);
    assert_eq!(code, Some(1), "{out}");
    let fail = out.lines().find(|l| l.starts_with("FAIL  path-space")).unwrap();
    assert!(fail.contains("expected the echo application's JSON"), "{fail}");
    assert!(out.contains("0 passed, 1 failed, 0 skipped"), "{out}");
}

#[test]
fn nothing_listening_is_one_clear_line_and_status_2() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (code, out) = conformance(&[&format!("http://127.0.0.1:{port}")]);
    assert_eq!(code, Some(2), "{out}");
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.contains(&format!("nothing answers at http://127.0.0.1:{port}")), "{out}");
    assert!(out.contains("Connection refused") || out.contains("refused"), "{out}");
}

#[test]
fn bad_arguments_exit_2_naming_the_problem() {
    let (code, out) = conformance(&["ftp://x"]);
    assert_eq!(code, Some(2));
    assert!(out.contains("give an http:// or https:// URL"), "{out}");
    let (code, out) = conformance(&["https://127.0.0.1:1"]);
    assert_eq!(code, Some(2));
    assert!(out.contains("needs --cacert"), "{out}");
    let (code, out) = conformance(&["http://127.0.0.1:1", "--vectors", "/nonexistent"]);
    assert_eq!(code, Some(2));
    assert!(out.contains("/nonexistent"), "{out}");
}
