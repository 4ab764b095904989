//! Interop: an rgi daemon behind every FastCGI front a site may run
//! (nginx, Apache mod_proxy_fcgi with and without connection reuse,
//! Apache mod_fcgid spawning the application, Caddy, HAProxy), each with
//! the configuration file its deployment guide in `docs/deploy/` shows:
//! the test reads that very file (FCGI-3, FCGI-7, FCGI-8, FCGI-9, DMN-2).
//!
//! Through each: a GET and its SCRIPT_NAME/PATH_INFO split under the
//! `/app` mount, a 10 MiB upload with a declared length, 20 MiB refused
//! with 413, 2,000 requests at concurrency 32 with no 5xx, a streamed
//! response whose first line arrives within a second, and the
//! conformance vectors. A front that is not installed is skipped, except
//! under CI (`CI` set), where `.ci/run` installs every one.
#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]
#![allow(clippy::print_stdout, reason = "the suite reports what it ran, as its runner does")]

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rgi_conformance::{run, vectors, Options, Profile, Target};
use rgi_test_support::{first_status, get, request, skip_unless_ci};
use support::{binary, daemon_binding, is_root, Proc};

/// The mount every guide shows.
const PREFIX: &str = "/app";

/// A front server, and how the guide's configuration is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Front {
    Nginx,
    ApacheProxyFcgi { reuse: bool },
    ApacheFcgid,
    Caddy,
    Haproxy,
}

impl Front {
    /// The program, and the guide's configuration file in `docs/deploy/`.
    fn program_and_config(self) -> (&'static str, &'static str) {
        match self {
            Front::Nginx => ("/usr/sbin/nginx", "nginx.conf"),
            Front::ApacheProxyFcgi { .. } => ("/usr/sbin/apache2", "apache-proxy-fcgi.conf"),
            Front::ApacheFcgid => ("/usr/sbin/apache2", "apache-fcgid.conf"),
            Front::Caddy => ("/usr/bin/caddy", "Caddyfile"),
            Front::Haproxy => ("/usr/sbin/haproxy", "haproxy.cfg"),
        }
    }

    /// The name vectors use in `front-quirks`.
    fn quirks_name(self) -> &'static str {
        match self {
            Front::Nginx => "nginx",
            Front::ApacheProxyFcgi { .. } => "apache-proxy-fcgi",
            Front::ApacheFcgid => "apache-fcgid",
            Front::Caddy => "caddy",
            Front::Haproxy => "haproxy",
        }
    }

    /// Whether the front starts the application itself (mod_fcgid).
    fn spawns_the_application(self) -> bool {
        self == Front::ApacheFcgid
    }

    fn installed(self) -> Result<(), String> {
        let (program, _) = self.program_and_config();
        if !Path::new(program).exists() {
            return Err(format!("there is no {program}"));
        }
        if matches!(self, Front::ApacheFcgid) && !Path::new("/usr/lib/apache2/modules/mod_fcgid.so").exists() {
            return Err("there is no mod_fcgid (apt-get install libapache2-mod-fcgid)".into());
        }
        Ok(())
    }
}

/// A front in front of the application `app`, both running.
struct Running {
    addr: SocketAddr,
    dir: tempfile::TempDir,
    // Dropped front first, then the daemon.
    front: Proc,
    _daemon: Option<Proc>,
}

impl Running {
    fn start(front: Front, app: &Path) -> Self {
        let dir = tempfile::tempdir().unwrap();
        // Fronts that drop privileges (Apache's workers, as www-data) must
        // reach the socket and the application through this directory.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        for sub in ["run", "logs", "caddy"] {
            std::fs::create_dir(dir.path().join(sub)).unwrap();
        }
        if is_root() {
            let www = Command::new("chown").arg("www-data:www-data").arg(dir.path().join("run")).status();
            assert!(www.is_ok_and(|s| s.success()), "cannot give the run directory to www-data");
        }
        let socket = dir.path().join("run/fcgi.sock");
        let daemon = (!front.spawns_the_application()).then(|| daemon_binding(app, &socket));
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let (program, file) = front.program_and_config();
        let guide = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/deploy").join(file);
        let mut config = std::fs::read_to_string(&guide).unwrap_or_else(|e| panic!("{}: {e}", guide.display()));
        for (from, to) in [
            ("/srv/myapp", dir.path().display().to_string()),
            ("127.0.0.1:8080", addr.to_string()),
            (":8080", format!(":{port}")),
            ("/run/myapp/fcgi.sock", socket.display().to_string()),
            ("/usr/local/bin/myapp", app.display().to_string()),
        ] {
            config = config.replace(from, &to);
        }
        assert!(config.contains(&format!(":{port}")), "{file} does not listen on port 8080, which the test moves");
        if front == (Front::ApacheProxyFcgi { reuse: false }) {
            config = config.replace("enablereuse=on", "enablereuse=off");
        }
        if !is_root() {
            // Only root can switch users; unprivileged, the front runs as us.
            config = config
                .lines()
                .filter(|l| !l.starts_with("User ") && !l.starts_with("Group "))
                .collect::<Vec<_>>()
                .join("\n");
            config = config.replace("user www-data;", "");
        }
        let conf = dir.path().join(file);
        std::fs::write(&conf, config).unwrap();
        let mut cmd = Command::new(program);
        match front {
            Front::Nginx => cmd
                .arg("-p")
                .arg(dir.path())
                .arg("-c")
                .arg(&conf)
                .arg("-e")
                .arg(dir.path().join("logs/nginx-error.log")),
            Front::ApacheProxyFcgi { .. } | Front::ApacheFcgid => cmd.arg("-f").arg(&conf).arg("-DFOREGROUND"),
            Front::Caddy => cmd.args(["run", "--adapter", "caddyfile", "--config"]).arg(&conf),
            Front::Haproxy => cmd.arg("-db").arg("-f").arg(&conf),
        };
        cmd.env("HOME", dir.path())
            .env("XDG_DATA_HOME", dir.path().join("caddy"))
            .env("XDG_CONFIG_HOME", dir.path().join("caddy"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(dir.path().join("logs/front-stderr.log")).unwrap()));
        let front_proc = Proc(cmd.spawn().unwrap_or_else(|e| panic!("cannot start {program}: {e}")));
        let mut running = Running { addr, dir, front: front_proc, _daemon: daemon };
        running.wait_answering(front);
        running
    }

    fn logs(&self) -> String {
        let mut out = String::new();
        for entry in std::fs::read_dir(self.dir.path().join("logs")).unwrap().flatten() {
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            let text = &text[text.len().saturating_sub(3000)..];
            out.push_str(&format!("--- {}\n{}\n", entry.file_name().to_string_lossy(), text));
        }
        out
    }

    fn wait_answering(&mut self, front: Front) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.front.0.try_wait().unwrap() {
                panic!("{front:?} exited ({status}):\n{}", self.logs());
            }
            // The status line alone: a streaming answer takes long to end.
            let head = format!("GET {PREFIX}/ HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
            if first_status(self.addr, &head) == Some(200) {
                return;
            }
            assert!(Instant::now() < deadline, "{front:?} did not answer on {}:\n{}", self.addr, self.logs());
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn post(len: usize) -> String {
    format!(
        "POST {PREFIX}/upload HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: {len}\r\n\r\n{}",
        "u".repeat(len)
    )
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not the echo JSON ({e}): {}", &body[..body.len().min(500)]))
}

/// Everything a front must get right, with the echo application behind it.
fn check(front: Front) {
    if let Err(why) = front.installed() {
        skip_unless_ci(&format!("the {front:?} interop test"), &why);
        return;
    }
    let echo = binary("echo");
    let running = Running::start(front, &echo);
    let addr = running.addr;
    let logs = || running.logs();
    let began = Instant::now();
    let phase = |what: &str| println!("{front:?}: {what} at {:?}", began.elapsed());

    // The mount's split: SCRIPT_NAME is the prefix, PATH_INFO the rest.
    let (status, body) = get(addr, &format!("{PREFIX}/x%20y/z?q=1"));
    assert_eq!(status, 200, "{front:?}: {body}\n{}", logs());
    let environ = json(&body);
    assert_eq!(environ["SCRIPT_NAME"], PREFIX, "{front:?}: {body}");
    assert_eq!(environ["PATH_INFO"], "/x y/z", "{front:?}: {body}");
    assert_eq!(environ["QUERY_STRING"], "q=1", "{front:?}: {body}");

    phase("split");
    // A 10 MiB upload with a declared length passes whole; 20 MiB is over
    // the daemon's 16 MiB and is refused with 413, not a 5xx.
    let (status, body) = request(addr, &post(10 << 20));
    assert_eq!(status, 200, "{front:?}: 10 MiB upload: {}\n{}", &body[..body.len().min(300)], logs());
    assert_eq!(json(&body)["body_length"], 10 << 20, "{front:?}");
    let status = first_status(addr, &post(20 << 20));
    assert_eq!(status, Some(413), "{front:?}: 20 MiB upload\n{}", logs());

    phase("uploads");
    // 2,000 requests at concurrency 32: no 5xx.
    let threads: Vec<_> = (0..32)
        .map(|t| {
            std::thread::spawn(move || {
                let mut bad = Vec::new();
                for i in 0..63 {
                    if t * 63 + i >= 2000 {
                        break;
                    }
                    let (status, body) = get(addr, &format!("{PREFIX}/load/{t}/{i}"));
                    if status != 200 {
                        bad.push(format!("{status} {}", &body[..body.len().min(200)]));
                    }
                }
                bad
            })
        })
        .collect();
    let bad: Vec<String> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
    assert!(
        bad.is_empty(),
        "{front:?}: {} of 2000 requests failed: {:?}\n{}",
        bad.len(),
        &bad[..bad.len().min(5)],
        logs()
    );

    phase("2,000 requests");
    // The conformance vectors, through the front.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let options =
        Options { profile: Profile::Front, front: Some(front.quirks_name().to_string()), ..Options::default() };
    let target = Target { authority: addr.to_string(), prefix: PREFIX.to_string() };
    let report = rt.block_on(run(&target, &vectors::builtin().unwrap(), &options));
    for line in &report.results {
        println!("{line}");
    }
    println!("{front:?}: {}", report.summary());
    assert!(report.ok(), "{front:?}: {}\n{}\n{}", report.summary(), report.failures().join("\n"), logs());
    assert!(report.counts().0 >= 50, "too few vectors ran behind {front:?}: {}", report.summary());
    phase("vectors");
    // An upgrade request: FastCGI cannot carry the connection, so a front
    // that only speaks FastCGI gets a plain answer, never a 101 or a hang
    // (UPG-5); nginx, as its guide configures it, tunnels it (UPG-7).
    let upgrade = format!(
        "GET {PREFIX}/ws HTTP/1.1\r\nHost: t\r\nConnection: Upgrade, close\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    );
    let (status, body) = request(addr, &upgrade);
    println!("{front:?}: an upgrade request to a FastCGI application: {status}");
    // HAProxy and mod_fcgid drop the upgrade fields themselves: the
    // application then answers a plain GET.
    let dropped = status == 200 && !body.contains("websocket");
    let refused = status == 501 && body.contains("FastCGI");
    assert!(
        refused || dropped || front == Front::Nginx && status == 200,
        "{front:?}: an upgrade request: {status} {body}\n{}",
        logs()
    );
    drop(running);
    phase("stopped");

    // A streamed response: its first line arrives at once, not when the
    // front has buffered the whole answer.
    let streaming = binary("streaming");
    let running = Running::start(front, &streaming);
    let mut conn = TcpStream::connect(running.addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let started = Instant::now();
    conn.write_all(format!("GET {PREFIX}/ HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes()).unwrap();
    let mut reader = BufReader::new(&conn);
    let mut line = String::new();
    while reader.read_line(&mut line).unwrap() > 0 && line != "\r\n" {
        line.clear();
    }
    // The head is there (a front may first start a process for it, as
    // mod_fcgid does); the body's lines must follow as they are written,
    // one every 100 ms, not when the front's buffer fills.
    let head_at = started.elapsed();
    let mut lines = 0;
    let mut buf = [0u8; 256];
    let body_started = Instant::now();
    while lines < 3 {
        let n = reader.read(&mut buf).unwrap();
        assert!(n > 0, "{front:?}: the stream ended early");
        lines += buf[..n].iter().filter(|&&b| b == b'\n').count();
    }
    let took = body_started.elapsed();
    assert!(
        took < Duration::from_secs(1),
        "{front:?}: 3 streamed lines took {took:?} (head after {head_at:?})\n{}",
        running.logs()
    );
    phase("streamed");
    drop(reader);
    drop(conn);
    drop(running);
    phase("stopped");
}

#[test]
fn behind_nginx() {
    check(Front::Nginx);
}

#[test]
fn websockets_behind_nginx_reach_the_daemon_over_http() {
    // UPG-6, UPG-7: axum's WebSocketUpgrade, unchanged, behind nginx configured
    // as its guide shows (docs/deploy/nginx.conf).
    if let Err(why) = Front::Nginx.installed() {
        skip_unless_ci("the nginx WebSocket test", &why);
        return;
    }
    let running = Running::start(Front::Nginx, &binary("axum-example"));
    let url = format!("ws://{}{PREFIX}/ws", running.addr);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let talked = rt.block_on(async {
        rgi_test_support::ws::conversation(&url).await?;
        rgi_test_support::ws::many(&url, 50).await.map(drop)
    });
    if let Err(err) = talked {
        panic!("{err}\n{}", running.logs());
    }
    // Over HTTP, the mount split and the client are the daemon's as over
    // FastCGI, whatever the client claims.
    for (path, expected) in [("environ", "\"script_name\":\"/app\""), ("peer", "127.0.0.1")] {
        let forged = format!(
            "GET {PREFIX}/{path} HTTP/1.1\r\nHost: t\r\nConnection: upgrade, close\r\nUpgrade: something\r\n\
             X-Forwarded-Prefix: /elsewhere\r\nX-Forwarded-For: 192.0.2.66\r\nForwarded: for=192.0.2.66\r\n\r\n"
        );
        let (status, body) = request(running.addr, &forged);
        assert_eq!(status, 200, "{path}: {body}\n{}", running.logs());
        assert!(body.contains(expected), "{path}: {body}");
    }
}

#[test]
fn behind_apache_mod_proxy_fcgi_reusing_connections() {
    check(Front::ApacheProxyFcgi { reuse: true });
}

#[test]
fn behind_apache_mod_proxy_fcgi_a_connection_per_request() {
    check(Front::ApacheProxyFcgi { reuse: false });
}

#[test]
fn behind_apache_mod_fcgid_which_spawns_the_application() {
    check(Front::ApacheFcgid);
}

#[test]
fn behind_caddy() {
    check(Front::Caddy);
}

#[test]
fn behind_haproxy() {
    check(Front::Haproxy);
}

/// Not a front: the guide files the tests read are where the guides say.
#[test]
fn every_guide_names_its_configuration_file() {
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/deploy");
    for (guide, file) in [
        ("nginx.md", "nginx.conf"),
        ("apache.md", "apache-proxy-fcgi.conf"),
        ("apache.md", "apache-fcgid.conf"),
        ("caddy.md", "Caddyfile"),
        ("haproxy.md", "haproxy.cfg"),
        ("systemd.md", "myapp.service"),
        ("systemd.md", "rgi-server.service"),
        ("systemd.md", "rgi-server.socket"),
        ("README.md", "nginx.md"),
    ] {
        let text = std::fs::read_to_string(deploy.join(guide)).unwrap_or_else(|e| panic!("docs/deploy/{guide}: {e}"));
        assert!(text.contains(file), "docs/deploy/{guide} does not point to {file}");
        assert!(deploy.join(file).is_file());
    }
}
