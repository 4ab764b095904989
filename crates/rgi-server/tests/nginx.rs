//! Interop: the examples' echo binary as a FastCGI daemon behind a real
//! nginx, configured as spec/fastcgi.md recommends, must pass the server
//! vectors that apply behind a front (FCGI-7, DMN-2, DEP-1).
//!
//! Three nginx servers, each in front of its own daemon, cover the ways
//! a daemon is started and reached: a Unix socket on fd 0 with kept-alive
//! upstream connections; a TCP socket on fd 0, one connection per
//! request, under a mount prefix; `RGI_FASTCGI=unix:...` with buffering
//! off both ways. Skips visibly when nginx is absent, except under CI
//! (`CI=true`), where `.ci/run` installs it and it must run.
#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]
#![allow(clippy::print_stdout, reason = "the suite reports what it ran, as its runner does")]

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rgi_conformance::{run, vectors, Options, Profile, Target};
use rgi_test_support::{get, pass_fd, request, skip_unless_ci};
use support::{binary, daemon_binding, is_root, Proc};

const NGINX: &str = "/usr/sbin/nginx";

/// The echo example as a daemon with `listener` as its fd 0, as
/// spawn-fcgi starts FastCGI programs.
fn daemon_on_fd0(listener: OwnedFd) -> Proc {
    let child = Command::new(binary("echo"))
        .env("RGI_LOG", "warn")
        .stdin(Stdio::from(listener))
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    Proc(child)
}

/// nginx with `config`, inheriting `listeners` as its own sockets (the
/// `NGINX` variable of its binary upgrade), so no port is ever guessed.
fn start_nginx(dir: &Path, config: &str, listeners: &[&TcpListener]) -> Proc {
    let conf = dir.join("nginx.conf");
    std::fs::write(&conf, config).unwrap();
    let fds: Vec<i32> = listeners.iter().map(|l| l.as_raw_fd()).collect();
    let inherited: String = fds.iter().map(|fd| format!("{fd};")).collect();
    let mut cmd = Command::new(NGINX);
    cmd.arg("-p").arg(dir).arg("-c").arg(&conf).arg("-e").arg(dir.join("error.log"));
    cmd.env("NGINX", inherited).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
    for fd in fds {
        pass_fd(&mut cmd, fd, fd);
    }
    Proc(cmd.spawn().unwrap())
}

fn wait_answering(addr: SocketAddr, nginx: &mut Proc, dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = nginx.0.try_wait().unwrap() {
            let mut stderr = String::new();
            let _ = nginx.0.stderr.take().unwrap().read_to_string(&mut stderr);
            let log = std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
            panic!("nginx exited ({status}): {stderr}\n{log}");
        }
        if get(addr, "/").0 != 0 {
            return;
        }
        assert!(Instant::now() < deadline, "nginx did not answer on {addr}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn nginx_config(dir: &Path, ports: [u16; 3], sockets: [&PathBuf; 2], tcp_daemon: SocketAddr) -> String {
    let d = dir.display();
    let (a, c) = (sockets[0].display(), sockets[1].display());
    // Workers must reach the sockets in this 0700 directory.
    let user = if is_root() { "user root;" } else { "" };
    let modules = String::from_utf8_lossy(&Command::new(NGINX).arg("-V").output().unwrap().stderr).into_owned();
    let mut temp = format!("client_body_temp_path {d}/body; fastcgi_temp_path {d}/fastcgi; proxy_temp_path {d}/proxy;");
    for module in ["uwsgi", "scgi"] {
        if !modules.contains(&format!("without-http_{module}_module")) {
            temp.push_str(&format!(" {module}_temp_path {d}/{module};"));
        }
    }
    let [root_port, mount_port, streaming_port] = ports;
    format!(
        r#"
{user}
daemon off;
master_process on;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{ worker_connections 256; }}
http {{
    access_log off;
    {temp}
    upstream kept {{
        server unix:{a};
        keepalive 8;
    }}
    # Root mount; kept-alive, multiplex-free connections to the daemon.
    server {{
        listen 127.0.0.1:{root_port};
        location / {{
            include /etc/nginx/fastcgi_params;
            fastcgi_param SCRIPT_NAME "";
            fastcgi_keep_conn on;
            fastcgi_pass kept;
        }}
    }}
    # Mounted at /mnt over TCP; a connection per request (no keep_conn).
    server {{
        listen 127.0.0.1:{mount_port};
        location = /mnt {{
            include /etc/nginx/fastcgi_params;
            fastcgi_param SCRIPT_NAME /mnt;
            fastcgi_pass {tcp_daemon};
        }}
        location /mnt/ {{
            include /etc/nginx/fastcgi_params;
            fastcgi_param SCRIPT_NAME /mnt;
            fastcgi_pass {tcp_daemon};
        }}
        location / {{ return 404; }}
    }}
    # Streaming both ways, to a daemon that bound RGI_FASTCGI itself.
    server {{
        listen 127.0.0.1:{streaming_port};
        location / {{
            include /etc/nginx/fastcgi_params;
            fastcgi_param SCRIPT_NAME "";
            fastcgi_request_buffering off;
            fastcgi_buffering off;
            fastcgi_pass unix:{c};
        }}
    }}
}}
"#
    )
}

#[test]
fn the_echo_daemon_behind_nginx_passes_the_front_vectors() {
    // FCGI-7, DMN-2, DEP-1
    if !Path::new(NGINX).exists() {
        skip_unless_ci("the nginx interop test", &format!("there is no {NGINX} (apt-get install nginx-light)"));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (sock_a, sock_c) = (dir.path().join("a.sock"), dir.path().join("c.sock"));
    let _a = daemon_on_fd0(UnixListener::bind(&sock_a).unwrap().into());
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    let tcp_daemon = tcp.local_addr().unwrap();
    let _b = daemon_on_fd0(tcp.into());
    let _c = daemon_binding(&binary("echo"), &sock_c);

    let fronts: Vec<TcpListener> = (0..3).map(|_| TcpListener::bind("127.0.0.1:0").unwrap()).collect();
    let addrs: Vec<SocketAddr> = fronts.iter().map(|l| l.local_addr().unwrap()).collect();
    let ports = [addrs[0].port(), addrs[1].port(), addrs[2].port()];
    let config = nginx_config(dir.path(), ports, [&sock_a, &sock_c], tcp_daemon);
    let mut nginx = start_nginx(dir.path(), &config, &fronts.iter().collect::<Vec<_>>());
    drop(fronts);
    for &addr in &addrs {
        wait_answering(addr, &mut nginx, dir.path());
    }

    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let vectors = vectors::builtin().unwrap();
    let options = Options { profile: Profile::Front, ..Options::default() };
    for (addr, prefix, what) in [
        (addrs[0], "", "fd-0 unix, keep_conn"),
        (addrs[1], "/mnt", "fd-0 tcp, /mnt"),
        (addrs[2], "", "RGI_FASTCGI, streaming"),
    ] {
        let target = Target { authority: addr.to_string(), prefix: prefix.to_string() };
        let report = rt.block_on(run(&target, &vectors, &options));
        for line in &report.results {
            println!("{line}");
        }
        println!("nginx ({what}): {}", report.summary());
        let log = std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default();
        assert!(
            report.ok(),
            "nginx ({what}): {}\n{}\nnginx log:\n{log}",
            report.summary(),
            report.failures().join("\n")
        );
        let (passed, _, _) = report.counts();
        assert!(passed >= 60, "too few vectors ran behind nginx ({what}): {passed}");
    }

    // Hostile: a client that sends half a streamed body and vanishes. nginx
    // drops its daemon connection; the daemon drops that request (FCGI-5)
    // and goes on serving.
    let mut s = TcpStream::connect(addrs[2]).unwrap();
    s.write_all(b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000\r\n\r\n").unwrap();
    s.write_all(&[b'x'; 50_000]).unwrap();
    drop(s);
    std::thread::sleep(Duration::from_millis(200));
    let (status, body) =
        request(addrs[2], "POST /after HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello");
    assert_eq!(status, 200, "{body}");
    let environ: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(environ["PATH_INFO"], "/after", "{body}");
}
