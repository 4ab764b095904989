//! The entry point, run as the real `hello` binary: one binary, the mode
//! chosen when it starts (DEP-1 to DEP-4, SET-1, SET-2, SET-4, SRV-9).
#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use rgi_test_support::pass_fd;

const HELLO: &str = env!("CARGO_BIN_EXE_hello");

/// A child process, killed by its PID if the test ends first.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Proc {
    fn pid(&self) -> i32 {
        i32::try_from(self.0.id()).unwrap()
    }

    /// Waits for the exit status, at most `limit`.
    fn wait_for(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "process did not exit within {limit:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stderr(&mut self) -> String {
        let mut err = String::new();
        self.0.stderr.take().unwrap().read_to_string(&mut err).unwrap();
        err
    }
}

fn hello() -> Command {
    let mut cmd = Command::new(HELLO);
    cmd.env_remove("RGI_BIND").env_remove("RGI_SETTINGS").env_remove("LISTEN_FDS").env_remove("LISTEN_PID");
    cmd.env("RGI_LOG", "info").stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
    cmd
}

/// GET / over a Unix socket, retrying while the server starts.
fn get_unix(path: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(mut s) = UnixStream::connect(path) {
            s.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).unwrap();
            return out;
        }
        assert!(Instant::now() < deadline, "server never listened on {}", path.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn get_tcp(addr: std::net::SocketAddr) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(mut s) = std::net::TcpStream::connect(addr) {
            s.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
            let mut out = String::new();
            match s.read_to_string(&mut out) {
                Ok(_) => return out,
                Err(e) => panic!("reading from {addr}: {e}"),
            }
        }
        assert!(Instant::now() < deadline, "server never listened on {addr}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn sigterm(pid: i32) {
    // std has no signal API; the pid is our own child's.
    let status = Command::new("kill").arg("-TERM").arg(pid.to_string()).status().unwrap();
    assert!(status.success());
}

#[test]
fn serves_on_rgi_bind_and_stops_on_sigterm() {
    // DEP-1, DEP-2, SRV-9
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("hello.sock");
    let mut proc = Proc(hello().env("RGI_BIND", format!("unix:{}", sock.display())).spawn().unwrap());
    let resp = get_unix(&sock);
    assert!(resp.starts_with("HTTP/1.0 200 OK"), "{resp}");
    assert!(resp.ends_with("\r\n\r\nHello, World!"), "{resp}");
    assert!(resp.to_ascii_lowercase().contains("content-type: text/plain"), "{resp}");
    sigterm(proc.pid());
    assert!(proc.wait_for(Duration::from_secs(10)).success());
    assert!(proc.stderr().contains("SIGTERM received"));
}

#[test]
fn defaults_to_127_0_0_1_port_8000() {
    // DEP-1: whether or not port 8000 is free here, the address tried is it.
    let mut proc = Proc(hello().spawn().unwrap());
    std::thread::sleep(Duration::from_millis(500));
    let _ = std::net::TcpStream::connect("127.0.0.1:8000");
    sigterm(proc.pid());
    proc.wait_for(Duration::from_secs(10));
    let err = proc.stderr();
    assert!(err.contains("127.0.0.1:8000"), "{err}");
}

#[test]
fn an_invalid_rgi_bind_fails_naming_it() {
    // DEP-2
    let mut proc = Proc(hello().env("RGI_BIND", "localhost").spawn().unwrap());
    let status = proc.wait_for(Duration::from_secs(10));
    assert_eq!(status.code(), Some(1));
    let err = proc.stderr();
    assert!(err.contains("RGI_BIND") && err.contains("\"localhost\""), "{err}");
}

#[test]
fn rust_log_is_honoured_without_rgi_log_and_a_malformed_filter_is_named() {
    // DEP-6
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("hello.sock");
    let mut quiet = hello();
    quiet.env_remove("RGI_LOG").env("RUST_LOG", "warn").env("RGI_BIND", format!("unix:{}", sock.display()));
    let mut proc = Proc(quiet.spawn().unwrap());
    assert!(get_unix(&sock).ends_with("Hello, World!"));
    sigterm(proc.pid());
    assert!(proc.wait_for(Duration::from_secs(10)).success());
    let err = proc.stderr();
    assert!(!err.contains("listening"), "RUST_LOG=warn let an info line through:\n{err}");

    for (var, value) in [("RGI_LOG", "rgi=notalevel"), ("RUST_LOG", "info,=[")] {
        let mut bad = hello();
        bad.env_remove("RGI_LOG").env(var, value).env("RGI_BIND", format!("unix:{}", sock.display()));
        let mut proc = Proc(bad.spawn().unwrap());
        let status = proc.wait_for(Duration::from_secs(10));
        assert_eq!(status.code(), Some(78), "{var}={value}");
        let err = proc.stderr();
        assert!(err.contains(&format!("{var}={value:?} is not a valid log filter")), "{err}");
    }
}

/// Sends `request` over the Unix socket at `path` (retrying while the
/// server starts) and returns the answer's status code.
fn status_unix(path: &Path, request: &[u8]) -> u16 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(mut s) = UnixStream::connect(path) {
            s.write_all(request).unwrap();
            let mut out = String::new();
            let _ = s.read_to_string(&mut out);
            return out.get(9..12).and_then(|c| c.parse().ok()).unwrap_or_else(|| panic!("no status in {out:?}"));
        }
        assert!(Instant::now() < deadline, "server never listened on {}", path.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn limits_come_from_the_environment_and_a_malformed_one_is_named() {
    // DEP-7
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("hello.sock");
    let mut limited = hello();
    limited.env("RGI_MAX_BODY_BYTES", "10").env("RGI_BIND", format!("unix:{}", sock.display()));
    let mut proc = Proc(limited.spawn().unwrap());
    let post = |len: usize| format!("POST / HTTP/1.0\r\nContent-Length: {len}\r\n\r\n{}", "b".repeat(len));
    assert_eq!(status_unix(&sock, post(10).as_bytes()), 200);
    assert_eq!(status_unix(&sock, post(11).as_bytes()), 413);
    sigterm(proc.pid());
    assert!(proc.wait_for(Duration::from_secs(10)).success());

    let mut bad = hello();
    bad.env("RGI_MAX_BODY_BYTES", "16M").env("RGI_BIND", format!("unix:{}", sock.display()));
    let mut proc = Proc(bad.spawn().unwrap());
    assert_eq!(proc.wait_for(Duration::from_secs(10)).code(), Some(78));
    let err = proc.stderr();
    assert!(err.contains("RGI_MAX_BODY_BYTES=\"16M\""), "{err}");
}

#[test]
fn a_fastcgi_socket_it_binds_gets_the_mode_and_group_asked_for_and_is_removed_at_exit() {
    // DEP-8
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("fcgi.sock");
    // A group this process is in, so no privilege is needed to give it.
    // SAFETY: getegid(2) cannot fail.
    let gid = unsafe { libc::getegid() };
    let group = std::fs::read_to_string("/etc/group")
        .unwrap()
        .lines()
        .find_map(|l| {
            let mut f = l.split(':');
            let name = f.next()?;
            (f.nth(1)?.parse::<u32>().ok()? == gid).then(|| name.to_string())
        })
        .unwrap();
    let mut daemon = hello();
    daemon
        .env("RGI_FASTCGI", format!("unix:{}", sock.display()))
        .env("RGI_FASTCGI_MODE", "660")
        .env("RGI_FASTCGI_GROUP", &group);
    let mut proc = Proc(daemon.spawn().unwrap());
    // Ready once it answers FCGI_GET_VALUES (a bound socket alone is not:
    // connections queue there before the daemon serves).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let answered = UnixStream::connect(&sock).and_then(|mut s| {
            s.set_read_timeout(Some(Duration::from_secs(5)))?;
            s.write_all(b"\x01\x09\x00\x00\x00\x11\x00\x00\x0f\x00FCGI_MPXS_CONNS")?;
            let mut header = [0u8; 8];
            s.read_exact(&mut header)
        });
        if answered.is_ok() {
            break;
        }
        assert!(Instant::now() < deadline, "the daemon did not answer FCGI_GET_VALUES");
        std::thread::sleep(Duration::from_millis(20));
    }
    let meta = std::fs::metadata(&sock).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o660);
    assert_eq!(meta.gid(), gid);
    sigterm(proc.pid());
    assert!(proc.wait_for(Duration::from_secs(10)).success());
    assert!(!sock.exists(), "the socket outlived the daemon");

    // A directory anyone can write to (no sticky bit) is refused.
    let open = dir.path().join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    let mut unsafe_dir = hello();
    unsafe_dir.env("RGI_FASTCGI", format!("unix:{}", open.join("s.sock").display()));
    let mut proc = Proc(unsafe_dir.spawn().unwrap());
    assert_eq!(proc.wait_for(Duration::from_secs(10)).code(), Some(1));
    assert!(proc.stderr().contains("writable by anyone"));
    assert!(!open.join("s.sock").exists());
}

#[test]
fn rgi_tls_cert_and_key_serve_https_with_http2() {
    // SRV-14, ENV-7
    if !Command::new("curl").arg("--version").output().is_ok_and(|o| o.status.success()) {
        rgi_test_support::skip_unless_ci("the embedded TLS test", "there is no curl (apt-get install curl)");
        return;
    }
    let certs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tls");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let mut tls = hello();
    tls.env("RGI_BIND", addr.to_string())
        .env("RGI_TLS_CERT", certs.join("cert.pem"))
        .env("RGI_TLS_KEY", certs.join("key.pem"));
    let mut proc = Proc(tls.spawn().unwrap());
    let deadline = Instant::now() + Duration::from_secs(10);
    let out = loop {
        let out = Command::new("curl")
            .args(["-sS", "--http2", "--max-time", "5", "-w", " %{http_version}", "--cacert"])
            .arg(certs.join("cert.pem"))
            .arg(format!("https://{addr}/"))
            .output()
            .expect("curl");
        if out.status.success() || Instant::now() > deadline {
            break out;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Hello, World! 2", "{}", String::from_utf8_lossy(&out.stderr));
    sigterm(proc.pid());
    assert!(proc.wait_for(Duration::from_secs(10)).success());

    // One without the other is refused at start, naming what is missing.
    let mut half = hello();
    half.env("RGI_BIND", addr.to_string()).env("RGI_TLS_CERT", certs.join("cert.pem"));
    let mut proc = Proc(half.spawn().unwrap());
    assert_eq!(proc.wait_for(Duration::from_secs(10)).code(), Some(78));
    assert!(proc.stderr().contains("RGI_TLS_CERT and RGI_TLS_KEY go together"));
}

/// Runs `hello` with `fd` as its descriptor 3 and LISTEN_FDS=1 naming it,
/// as systemd and the development server do: `sh` sets LISTEN_PID to its
/// own pid, which `exec` keeps.
fn with_inherited(fd: i32) -> Proc {
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c").arg("LISTEN_PID=$$ LISTEN_FDS=1 exec \"$0\"").arg(HELLO);
    cmd.env_remove("RGI_BIND").env_remove("RGI_SETTINGS").env("RGI_LOG", "info");
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
    pass_fd(&mut cmd, fd, 3);
    Proc(cmd.spawn().unwrap())
}

#[test]
fn serves_on_a_socket_passed_with_listen_fds() {
    // DEP-1, DEP-3
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut proc = with_inherited(listener.as_raw_fd());
    drop(listener);
    let resp = std::panic::catch_unwind(|| get_tcp(addr));
    let Ok(resp) = resp else {
        let _ = proc.0.kill();
        panic!("no answer; the server said: {}", proc.stderr());
    };
    assert!(resp.ends_with("Hello, World!"), "{resp}");
    sigterm(proc.pid());
    assert!(proc.wait_for(Duration::from_secs(10)).success());
    let err = proc.stderr();
    assert!(err.contains(&format!("listening addr={addr}")), "{err}");
}

#[test]
fn a_listen_fd_that_is_not_a_listening_socket_fails_by_name() {
    // DEP-3
    let file = tempfile::tempfile().unwrap();
    let mut proc = with_inherited(file.as_raw_fd());
    let status = proc.wait_for(Duration::from_secs(10));
    assert!(!status.success());
    let err = proc.stderr();
    assert!(err.contains("descriptor 3") && err.contains("not a socket"), "{err}");
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::File::create(&path).unwrap().write_all(text.as_bytes()).unwrap();
    path
}

#[test]
fn missing_or_malformed_settings_fail_the_start_with_status_78() {
    // DEP-4, SET-1, SET-4
    let dir = tempfile::tempdir().unwrap();
    let mut proc = Proc(hello().env("RGI_SETTINGS", "/nonexistent/app.toml").spawn().unwrap());
    assert_eq!(proc.wait_for(Duration::from_secs(10)).code(), Some(78));
    assert!(proc.stderr().contains("/nonexistent/app.toml"));

    let bad = write(dir.path(), "bad.toml", "[app]\nname = \"x\"\nport = \n");
    let mut proc = Proc(hello().env("RGI_SETTINGS", &bad).spawn().unwrap());
    assert_eq!(proc.wait_for(Duration::from_secs(10)).code(), Some(78));
    let err = proc.stderr();
    assert!(err.contains(&format!("{}:3:", bad.display())), "{err}");
}

#[test]
fn a_malformed_default_settings_file_is_found_and_refused() {
    // SET-2, SET-4: rgi.toml in the working directory is read when present.
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "rgi.toml", "this is not toml\n");
    let mut proc = Proc(hello().current_dir(dir.path()).spawn().unwrap());
    assert_eq!(proc.wait_for(Duration::from_secs(10)).code(), Some(78));
    assert!(proc.stderr().contains("rgi.toml:1:"));
}
