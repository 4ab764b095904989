//! Several hosts behind a real HAProxy and a real nginx, under continuous
//! load: a rolling
//! restart of every host loses no request, a host killed outright costs
//! at most its requests in flight and leaves the balancer's rotation
//! within its check interval, and the application sees the client's own
//! address through the PROXY protocol and through X-Forwarded-For
//! (SRV-16, SRV-17, PRX-2, PRX-6).
//!
//! The hosts are network namespaces this test creates and deletes: a
//! client (192.168.9.2), the balancer (192.168.9.1, 10.0.1.1, 10.0.2.1)
//! and two rgi-server hosts (10.0.1.2, 10.0.2.2), joined by veth links
//! made inside them. No address exists outside them; nothing is routed.
//! It needs root, `ip`, HAProxy and nginx: skipped elsewhere, required in
//! CI. The balancers and the hosts run `docs/deploy/balancer/`'s files.
#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

mod support;

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rgi_test_support::{alive, skip_unless_ci, KeepAlive, LoggedChild};
use support::test_app;

/// The balancer checks every 200 ms and needs 2 failures: a host leaves
/// the rotation within this (with room for a loaded machine).
const NOTICED_WITHIN: Duration = Duration::from_secs(3);
/// How many clients keep requesting.
const CLIENTS: usize = 12;

/// The namespaces, deleted (with their links) when dropped.
struct Hosts {
    names: Vec<String>,
}

impl Hosts {
    fn create() -> Self {
        let tag = std::process::id();
        let names: Vec<String> = ["c", "lb", "h1", "h2"].iter().map(|n| format!("rgi{tag}{n}")).collect();
        let hosts = Self { names };
        for ns in &hosts.names {
            ip(&["netns", "add", ns]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        let [c, lb, h1, h2] = [0, 1, 2, 3].map(|i| hosts.names[i].clone());
        hosts.link(&c, "192.168.9.2/24", &lb, "192.168.9.1/24");
        hosts.link(&lb, "10.0.1.1/24", &h1, "10.0.1.2/24");
        hosts.link(&lb, "10.0.2.1/24", &h2, "10.0.2.2/24");
        hosts
    }

    /// A veth pair made straight inside `a` and `b` (no name ever exists
    /// in the test's own namespace), with an address on each end.
    fn link(&self, a: &str, a_addr: &str, b: &str, b_addr: &str) {
        let (ea, eb) = (format!("to-{}", &b[b.len() - 2..]), format!("to-{}", &a[a.len() - 2..]));
        ip(&["link", "add", &ea, "netns", a, "type", "veth", "peer", "name", &eb, "netns", b]);
        for (ns, dev, addr) in [(a, &ea, a_addr), (b, &eb, b_addr)] {
            ip(&["-n", ns, "addr", "add", addr, "dev", dev]);
            ip(&["-n", ns, "link", "set", dev, "up"]);
        }
    }

    fn name(&self, host: &str) -> &str {
        let i = ["c", "lb", "h1", "h2"].iter().position(|h| *h == host).unwrap();
        &self.names[i]
    }

    /// `program` run inside `host`'s namespace.
    fn command(&self, host: &str, program: &Path) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", self.name(host)]).arg(program);
        command
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        for ns in &self.names {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().unwrap();
    assert!(out.status.success(), "ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
}

fn deploy(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/deploy/balancer").join(file)
}

/// rgi-server on `host`, from the shipped host configuration.
fn start_host(hosts: &Hosts, host: &str, dir: &Path) -> LoggedChild {
    let shipped = std::fs::read_to_string(deploy("rgi-server.toml")).unwrap();
    let program = r#"command = ["/srv/app/bin/app"]"#;
    assert!(shipped.contains(program), "rgi-server.toml no longer names {program}");
    let config = shipped.replace(
        program,
        &format!("command = [{:?}]\nenv = {{ RGI_TEST_HOST = {host:?} }}", test_app().display().to_string()),
    );
    let path = dir.join(format!("{host}.toml"));
    std::fs::write(&path, config).unwrap();
    let mut command = hosts.command(host, Path::new(env!("CARGO_BIN_EXE_rgi-server")));
    command.arg("--config").arg(&path).env("RGI_LOG", "info");
    let (child, _) = LoggedChild::spawn(host, command, Duration::from_secs(30), rgi_test_support::listening_addr);
    child
}

/// HAProxy's view of `backend`'s servers: (name, status) from `show stat`.
fn balancer_view(socket: &Path, backend: &str) -> Vec<(String, String)> {
    let Ok(mut conn) = std::os::unix::net::UnixStream::connect(socket) else { return Vec::new() };
    let _ = conn.write_all(b"show stat\n");
    let mut csv = String::new();
    let _ = conn.read_to_string(&mut csv);
    csv.lines()
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|f| f.len() > 17 && f[0] == backend && f[1] != "BACKEND" && f[1] != "FRONTEND")
        .map(|f| (f[1].to_string(), f[17].to_string()))
        .collect()
}

/// Waits until every backend shows `host` in `status` (`UP`, `DOWN`).
fn wait_balancer(socket: &Path, host: &str, status: &str, limit: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let views: Vec<_> =
            ["hosts_proxy_protocol", "hosts_forwarded_for"].iter().map(|b| balancer_view(socket, b)).collect();
        let all = views.iter().all(|v| v.iter().any(|(h, s)| h == host && s.starts_with(status)));
        if all {
            return start.elapsed();
        }
        let log = socket.parent().map(|d| std::fs::read_to_string(d.join("haproxy.log")).unwrap_or_default());
        assert!(
            start.elapsed() < limit,
            "HAProxy never showed {host} {status} within {limit:?}: {views:?}\nits log:\n{}",
            log.unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The clients: each keeps a connection to one frontend and requests
/// `/whoami` (GET or POST) without pause, from the client's namespace.
struct Load {
    stop: Arc<AtomicBool>,
    answered: Arc<AtomicUsize>,
    failures: Arc<Mutex<Vec<String>>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(netns: &str) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let answered = Arc::new(AtomicUsize::new(0));
        let failures = Arc::new(Mutex::new(Vec::new()));
        let threads = (0..CLIENTS)
            .map(|i| {
                let (stop, answered, failures) = (Arc::clone(&stop), Arc::clone(&answered), Arc::clone(&failures));
                let netns = netns.to_string();
                std::thread::spawn(move || {
                    enter(&netns);
                    // The clients spread over the three frontends (HAProxy
                    // with the PROXY protocol, HAProxy with
                    // X-Forwarded-For, nginx); every other one POSTs,
                    // which a balancer must not send twice.
                    let port = [8080, 8090, 8070][i % 3];
                    let post = i % 2 == 1;
                    let addr = format!("192.168.9.1:{port}").parse().unwrap();
                    let mut conn = None;
                    while !stop.load(Ordering::Relaxed) {
                        let c = match conn.take() {
                            Some(c) => c,
                            None => match KeepAlive::connect(addr) {
                                Ok(c) => c,
                                Err(e) => {
                                    failures.lock().unwrap().push(format!("connect :{port}: {e}"));
                                    std::thread::sleep(Duration::from_millis(50));
                                    continue;
                                }
                            },
                        };
                        let mut c = c;
                        // POSTs take a while, so some are in flight when a
                        // host is told to stop.
                        let method = if post { "POST" } else { "GET" };
                        let answer = if post { c.post("/slow?ms=100", b"an order") } else { c.get("/whoami") };
                        let right = |body: &str| {
                            // GET: the client's own address, whichever way
                            // the balancer said it (PRX-2, PRX-6).
                            if post {
                                body.starts_with("slept")
                            } else {
                                body.split(' ').nth(1) == Some("192.168.9.2")
                            }
                        };
                        match answer {
                            Ok((200, body)) if right(&body) => {
                                answered.fetch_add(1, Ordering::Relaxed);
                                conn = Some(c);
                            }
                            Ok((status, body)) => {
                                failures.lock().unwrap().push(format!("{method} :{port}: {status} {body}"));
                            }
                            Err(e) => failures.lock().unwrap().push(format!("{method} :{port}: {e}")),
                        }
                    }
                })
            })
            .collect();
        Self { stop, answered, failures, threads }
    }

    /// Waits until `n` more answers came.
    fn wait_answers(&self, n: usize) {
        let target = self.answered.load(Ordering::Relaxed) + n;
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.answered.load(Ordering::Relaxed) < target {
            assert!(Instant::now() < deadline, "the load stalled: {:?}", self.failures.lock().unwrap());
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn failures(&self) -> Vec<String> {
        self.failures.lock().unwrap().clone()
    }

    fn stop(self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            t.join().unwrap();
        }
        self.answered.load(Ordering::Relaxed)
    }
}

/// Runs `f` on a thread of its own inside network namespace `netns`.
fn inside<T: Send + 'static>(netns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let netns = netns.to_string();
    std::thread::spawn(move || {
        enter(&netns);
        f()
    })
    .join()
    .unwrap()
}

/// Waits until `done` holds, at most 30 s.
fn poll(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "{what} within 30 s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits, from the client's namespace, until `addr` accepts connections.
fn wait_listening(netns: &str, addr: &str) {
    let addr: std::net::SocketAddr = addr.parse().unwrap();
    inside(netns, move || poll(&format!("{addr} listening"), || std::net::TcpStream::connect(addr).is_ok()));
}

/// Waits, from the client's namespace, until a request to `addr` is
/// answered by `host` (its `/whoami` names it).
fn wait_served_by(netns: &str, addr: &str, host: &str) {
    let (addr, host): (std::net::SocketAddr, String) = (addr.parse().unwrap(), host.to_string());
    inside(netns, move || {
        poll(&format!("{addr} sending a request to {host}"), || {
            rgi_test_support::get(addr, "/whoami").1.split(' ').next() == Some(host.as_str())
        });
    });
}

/// Moves this thread into network namespace `name` (setns affects the
/// calling thread only).
fn enter(name: &str) {
    let file = std::fs::File::open(format!("/var/run/netns/{name}")).unwrap();
    // SAFETY: setns(2) with a descriptor we own and a namespace type.
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(rc, 0, "setns {name}: {}", std::io::Error::last_os_error());
}

/// Where `program` is on the PATH.
fn which(program: &str) -> Option<PathBuf> {
    let out = Command::new("sh").args(["-c", &format!("command -v {program}")]).output().ok()?;
    let path = String::from_utf8(out.stdout).ok()?;
    (out.status.success() && !path.trim().is_empty()).then(|| PathBuf::from(path.trim()))
}

fn ready_to_run() -> bool {
    // SAFETY: geteuid(2) cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        skip_unless_ci("multihost", "needs root to make network namespaces");
        return false;
    }
    for program in ["ip", "haproxy", "nginx"] {
        if which(program).is_none() {
            skip_unless_ci(
                "multihost",
                &format!("{program} is not installed (apt-get install iproute2 haproxy nginx-light)"),
            );
            return false;
        }
    }
    true
}

#[test]
fn hosts_behind_haproxy_restart_in_turn_without_a_failed_request() {
    if !ready_to_run() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let hosts = Hosts::create();
    let mut servers: Vec<(String, LoggedChild)> =
        ["h1", "h2"].iter().map(|h| (h.to_string(), start_host(&hosts, h, dir.path()))).collect();
    let mut command = hosts.command("lb", &which("haproxy").unwrap());
    let log = std::fs::File::create(dir.path().join("haproxy.log")).unwrap();
    command.arg("-db").arg("-f").arg(deploy("haproxy.cfg")).env("HAPROXY_RUN", dir.path());
    command.stdin(std::process::Stdio::null()).stdout(log.try_clone().unwrap()).stderr(log);
    let _haproxy = support::Proc(command.spawn().unwrap());
    let socket = dir.path().join("admin.sock");
    std::fs::create_dir_all(dir.path().join("tmp")).unwrap();
    // nginx's workers (nobody) reach the temporary directories under it.
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let mut command = hosts.command("lb", &which("nginx").unwrap());
    let log = std::fs::File::create(dir.path().join("nginx.log")).unwrap();
    command.arg("-p").arg(dir.path()).arg("-c").arg(deploy("nginx.conf"));
    command.stdin(std::process::Stdio::null()).stdout(log.try_clone().unwrap()).stderr(log);
    let _nginx = support::Proc(command.spawn().unwrap());
    let balancer_logs = || {
        ["haproxy.log", "nginx.log"]
            .map(|f| format!("--- {f}\n{}", std::fs::read_to_string(dir.path().join(f)).unwrap_or_default()))
            .join("\n")
    };
    for host in ["h1", "h2"] {
        wait_balancer(&socket, host, "UP", Duration::from_secs(30));
    }
    wait_listening(hosts.name("c"), "192.168.9.1:8070");

    let load = Load::start(hosts.name("c"));
    load.wait_answers(200);

    // A rolling restart: each host in turn stops (not ready first, so the
    // balancer moves away), and a new one takes its place.
    for (host, server) in &mut servers {
        server.signal(libc::SIGTERM);
        let left = wait_balancer(&socket, host, "DOWN", Duration::from_secs(10));
        assert!(left < NOTICED_WITHIN, "{host} left the rotation only after {left:?}");
        // Out of the rotation while still serving: readiness went first.
        assert!(alive(server.pid()), "{host} had stopped before the balancer noticed:\n{}", server.log());
        assert!(server.wait(Duration::from_secs(60)).success(), "{host} did not stop cleanly:\n{}", server.log());
        load.wait_answers(100);
        *server = start_host(&hosts, host, dir.path());
        wait_balancer(&socket, host, "UP", Duration::from_secs(30));
        // nginx, which has no health checks, sends to the host again once
        // its fail_timeout is over: only then may the next host stop.
        wait_served_by(hosts.name("c"), "192.168.9.1:8070", host);
        load.wait_answers(100);
    }
    let failures = load.failures();
    assert!(
        failures.is_empty(),
        "a rolling restart failed {} requests: {failures:?}\n{}\n--- hosts\n{}",
        failures.len(),
        balancer_logs(),
        servers.iter().map(|(h, s)| format!("{h}:\n{}", s.log())).collect::<String>()
    );

    // A host killed outright: at most its requests in flight fail, and the
    // balancer stops sending to it within its check interval.
    let (host, server) = &servers[1];
    server.signal(libc::SIGKILL);
    let left = wait_balancer(&socket, host, "DOWN", Duration::from_secs(10));
    assert!(left < NOTICED_WITHIN, "{host} left the rotation only after {left:?}");
    let failed_by_then = load.failures();
    assert!(failed_by_then.len() <= CLIENTS, "more than the requests in flight failed: {failed_by_then:?}");
    load.wait_answers(300);
    let after = load.failures();
    let answered = load.stop();
    assert_eq!(
        after.len(),
        failed_by_then.len(),
        "requests failed after the balancer took {host} out ({answered} answered): {:?}",
        &after[failed_by_then.len()..]
    );
}
