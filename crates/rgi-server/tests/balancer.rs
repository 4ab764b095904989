//! rgi-server behind a balancer: readiness and liveness, the shutdown
//! delay, and a PROXY protocol listener that takes connections from its
//! trusted proxies only (SRV-16, SRV-17, PRX-1, PRX-4). The PROXY and
//! forwarding rules themselves are conformance vectors
//! (`vectors/proxies.toml`), run through rgi-server here too.
#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use rgi_conformance::{run, vectors, Options, Target};
use rgi_test_support::{get, listening_addrs};
use support::*;

/// The address of the server's PROXY listener: the second it says it
/// listens on (after --listen's).
fn proxy_listener(server: &ServerProc) -> SocketAddr {
    server.wait_log(Duration::from_secs(30), "the PROXY listener", |log| listening_addrs(log).len() >= 2);
    listening_addrs(&server.log())[1].parse().unwrap()
}

/// Waits until GET `path` answers `status`, at most `limit`.
fn wait_status(server: &ServerProc, path: &str, status: u16, limit: Duration) -> String {
    let deadline = Instant::now() + limit;
    loop {
        let (got, body) = get(server.addr, path);
        if got == status {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "{path} answered {got} {body}, not {status}, for {limit:?}\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn readiness_follows_the_groups_and_goes_false_before_the_server_stops() {
    // SRV-16, SRV-17
    let mut server = ServerProc::start(
        r#"
[server]
liveness = "/livez"
readiness = "/readyz"
shutdown-delay = "3s"

[groups.app]
command = ["{app}"]
processes = 1

[[mounts]]
prefix = "/"
group = "app"
"#,
    );
    assert_eq!(get(server.addr, "/livez"), (200, "alive\n".to_string()));
    wait_status(&server, "/readyz", 200, Duration::from_secs(30));
    server.signal(libc::SIGTERM);
    let stopping = Instant::now();
    let body = wait_status(&server, "/readyz", 503, Duration::from_secs(2));
    assert!(body.contains("draining"), "{body}");
    // Still serving and accepting while the balancer notices.
    let (status, body) = get(server.addr, "/pid");
    assert_eq!(status, 200, "{body}");
    server.wait_log(Duration::from_secs(20), "the server to stop", |log| log.contains("stopped"));
    assert!(stopping.elapsed() >= Duration::from_secs(3), "stopped after {:?}, before the delay", stopping.elapsed());
    let log = server.log();
    assert!(log.contains("reporting not ready, still serving"), "{log}");
    assert!(server.process.wait(Duration::from_secs(30)).success());
}

#[test]
fn a_second_signal_ends_the_shutdown_delay() {
    // SRV-17
    let mut server = ServerProc::start(
        r#"
[server]
readiness = "/readyz"
shutdown-delay = "60s"

[groups.app]
command = ["{app}"]
processes = 1

[[mounts]]
prefix = "/"
group = "app"
"#,
    );
    wait_status(&server, "/readyz", 200, Duration::from_secs(30));
    server.signal(libc::SIGTERM);
    wait_status(&server, "/readyz", 503, Duration::from_secs(2));
    server.signal(libc::SIGTERM);
    assert!(server.process.wait(Duration::from_secs(30)).success());
    assert!(server.log().contains("second signal: stopping now"), "{}", server.log());
}

#[test]
fn a_group_that_cannot_serve_makes_the_server_not_ready_but_alive() {
    // SRV-16
    let server = ServerProc::start(
        r#"
[server]
liveness = "/livez"
readiness = "/readyz"

[groups.broken]
command = ["{app}"]
processes = 1
env = { RGI_TEST_FAIL_START = "1" }

[[mounts]]
prefix = "/"
group = "broken"
"#,
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = get(server.addr, "/readyz");
        assert_eq!(status, 503, "{body}");
        if body.contains("group broken cannot serve") {
            break;
        }
        assert!(Instant::now() < deadline, "readiness never named the group: {body}\n{}", server.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(get(server.addr, "/livez").0, 200);
}

#[test]
fn the_vectors_pass_through_rgi_servers_proxy_listener() {
    // PRX-1 to PRX-7 through rgi-server's configuration, daemons behind.
    let server = ServerProc::start(
        r#"
[server]
proxy-listen = ["127.0.0.1:0"]
trusted-proxies = ["127.0.0.1", "10.0.0.0/8"]

[groups.echo]
command = ["{echo}"]
processes = 1

[[mounts]]
prefix = "/echo"
group = "echo"
"#
        .replace("{echo}", &binary("echo").display().to_string())
        .as_str(),
    );
    let proxy = proxy_listener(&server);
    let target = Target { authority: proxy.to_string(), prefix: "/echo".into() };
    let vectors = vectors::builtin().unwrap();
    let options = Options { proxy_listener: true, ..Options::default() };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let report = runtime.block_on(run(&target, &vectors, &options));
    assert!(report.ok(), "{}\n{}", report.summary(), report.failures().join("\n"));
}

#[test]
fn the_vectors_pass_over_tls_through_a_proxy_listener() {
    // PRX-1, PRX-2: TLS passed through by the balancer, the PROXY header
    // before the handshake (tls-proxy-listen).
    let tls = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/tls");
    let server = ServerProc::start(
        &r#"
[server]
tls-proxy-listen = ["127.0.0.1:0"]
tls-cert = "{tls}/cert.pem"
tls-key = "{tls}/key.pem"
trusted-proxies = ["127.0.0.1", "10.0.0.0/8"]

[groups.echo]
command = ["{echo}"]
processes = 1

[[mounts]]
prefix = "/echo"
group = "echo"
"#
        .replace("{echo}", &binary("echo").display().to_string())
        .replace("{tls}", &tls.display().to_string()),
    );
    let proxy = proxy_listener(&server);
    let target = Target { authority: proxy.to_string(), prefix: "/echo".into() };
    let vectors = vectors::builtin().unwrap();
    let client = rgi_conformance::client::tls_client(&tls.join("cert.pem")).unwrap();
    let options = Options { proxy_listener: true, tls: Some(client), ..Options::default() };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let report = runtime.block_on(run(&target, &vectors, &options));
    assert!(report.ok(), "{}\n{}", report.summary(), report.failures().join("\n"));
    let proxied =
        report.results.iter().filter(|r| r.id == "proxy-v2-client" && r.outcome == rgi_conformance::Outcome::Pass);
    assert_eq!(proxied.count(), 1, "the PROXY vectors did not run over TLS");
}

#[test]
fn a_proxy_listener_closes_connections_from_untrusted_peers() {
    // PRX-4, PRX-1: closed with a log line; the server goes on.
    let server = ServerProc::start(
        r#"
[server]
proxy-listen = ["127.0.0.1:0"]
trusted-proxies = ["10.0.0.0/8"]

[groups.app]
command = ["{app}"]
processes = 1

[[mounts]]
prefix = "/"
group = "app"
"#,
    );
    let proxy = proxy_listener(&server);
    let mut conn = TcpStream::connect(proxy).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = conn.write_all(b"PROXY TCP4 10.0.0.9 10.0.0.1 4000 80\r\nGET /pid HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut answer = Vec::new();
    let _ = conn.read_to_end(&mut answer);
    assert!(answer.is_empty(), "answered: {}", String::from_utf8_lossy(&answer));
    server.wait_log(Duration::from_secs(10), "the refusal's log line", |log| {
        log.contains("takes connections from trusted proxies only")
    });
    assert_eq!(get(server.addr, "/pid").0, 200);
}

#[test]
fn bad_proxy_settings_are_refused_by_name() {
    let path = std::path::Path::new("/etc/rgi.toml");
    let base = "[groups.a]\ncommand = [\"/bin/true\"]\n[[mounts]]\nprefix = \"/\"\ngroup = \"a\"\n";
    for (server, want) in [
        ("trusted-proxies = [\"10.0.0.0/33\"]", "trusted-proxies: \"10.0.0.0/33\" is not an address or a network"),
        ("proxy-listen = [\"nowhere\"]", "proxy-listen"),
        ("readiness = \"health\"", "readiness"),
        ("threads = 0", "threads: 0"),
    ] {
        let text = format!("[server]\n{server}\n{base}");
        let err = rgi_server::Config::parse(&text, path).unwrap_err().to_string();
        assert!(err.contains(want), "{server}: {err}");
    }
}

#[test]
fn the_kubernetes_manifests_configuration_is_valid() {
    // The ConfigMap's rgi-server.toml, as the pod reads it.
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/deploy/balancer/kubernetes.yaml");
    let yaml = std::fs::read_to_string(&path).unwrap();
    let start = yaml.find("rgi-server.toml: |").expect("the ConfigMap's rgi-server.toml");
    let text: String = yaml[start..]
        .lines()
        .skip(1)
        .take_while(|l| l.is_empty() || l.starts_with("    "))
        .map(|l| format!("{}\n", l.get(4..).unwrap_or("")))
        .collect();
    let config = rgi_server::Config::parse(&text, std::path::Path::new("/etc/rgi/rgi-server.toml"))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(config.readiness.as_deref(), Some("/readyz"));
    assert_eq!(config.shutdown_delay, Duration::from_secs(10));
}
