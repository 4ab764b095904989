//! The vectors against a reference WSGI server: gunicorn (Debian's
//! python3-gunicorn) running conformance/reference/echo_wsgi.py. Vectors
//! that encode plain gateway semantics pass there too; rgi-only ones are
//! skipped with their reasons. Skips visibly when gunicorn is absent,
//! except under CI (CI=true), where `.ci/run` installs it and it must run.
#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]
#![allow(clippy::print_stdout, reason = "the suite reports what it ran, as its runner does")]

use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rgi_conformance::{run, vectors, Options, Profile, Target};
use rgi_test_support::{pass_fd, skip_unless_ci};

const PYTHON: &str = "/usr/bin/python3";

struct Gunicorn(Child);

impl Drop for Gunicorn {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn gunicorn_available() -> bool {
    Command::new(PYTHON)
        .args(["-c", "import gunicorn"])
        .env_clear()
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// gunicorn serving the reference echo app on `listener` (as fd 3).
fn start(listener: &std::net::TcpListener, script_name: &str) -> Gunicorn {
    let reference = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../conformance/reference");
    let fd = listener.as_raw_fd();
    let mut cmd = Command::new(PYTHON);
    cmd.args(["-m", "gunicorn", "--worker-class", "gthread", "--threads", "4", "--workers", "1"])
        .args(["--bind", "fd://3", "--chdir"])
        .arg(&reference)
        .arg("echo_wsgi:application")
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if !script_name.is_empty() {
        cmd.env("SCRIPT_NAME", script_name);
    }
    pass_fd(&mut cmd, fd, 3);
    Gunicorn(cmd.spawn().unwrap())
}

fn wait_ready(addr: std::net::SocketAddr) {
    use std::io::{Read, Write};
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(mut s) = std::net::TcpStream::connect(addr) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            if s.write_all(b"GET / HTTP/1.0\r\n\r\n").is_ok() {
                let mut out = String::new();
                if s.read_to_string(&mut out).is_ok() && out.starts_with("HTTP/1") {
                    return;
                }
            }
        }
        assert!(Instant::now() < deadline, "gunicorn did not answer within 20 s");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn vectors_hold_on_gunicorn() {
    if !gunicorn_available() {
        skip_unless_ci(
            "the gunicorn cross-check",
            &format!("{PYTHON} has no gunicorn (apt-get install python3-gunicorn)"),
        );
        return;
    }
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let vectors = vectors::builtin().unwrap();
    for prefix in ["", "/mnt"] {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let _gunicorn = start(&listener, prefix);
        drop(listener);
        wait_ready(addr);
        let target = Target { authority: addr.to_string(), prefix: prefix.to_string() };
        let options = Options { profile: Profile::WsgiReference, ..Options::default() };
        let report = rt.block_on(run(&target, &vectors, &options));
        for line in &report.results {
            println!("{line}");
        }
        println!("gunicorn at {prefix:?}: {}", report.summary());
        assert!(report.ok(), "gunicorn at {prefix:?}: {}\n{}", report.summary(), report.failures().join("\n"));
        let (passed, _, _) = report.counts();
        assert!(passed >= 45, "too few vectors apply to a WSGI server: {passed}");
    }
}
