//! The server suite against rgi's embedded adapter over a real socket, at
//! the root and under a mount prefix; and the vector files themselves.
#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]
#![allow(clippy::print_stdout, reason = "the suite reports what it ran, as its runner does")]

use std::time::Duration;

use rgi_conformance::{run, vectors, Options, Profile, Protocol, Report, Target};
use rgi_embedded::{BindAddr, Config, Listener, Mounts, Server};

async fn embedded_echo(prefix: &str) -> (Target, tokio::sync::oneshot::Sender<()>) {
    echo_on(prefix, false).await
}

/// Echo at `prefix`; `proxy`: on a PROXY protocol listener, trusting
/// 127.0.0.1 and 10.0.0.0/8 as the proxy vectors say.
async fn echo_on(prefix: &str, proxy: bool) -> (Target, tokio::sync::oneshot::Sender<()>) {
    let mut listener = Listener::bind(&"127.0.0.1:0".parse().unwrap()).await.unwrap();
    let BindAddr::Tcp(addr) = listener.local_addr().unwrap() else { panic!("tcp") };
    let mut config = Config::default();
    if proxy {
        listener = listener.with_proxy_protocol();
        config.trusted_proxies = "127.0.0.1, 10.0.0.0/8".parse().unwrap();
    }
    let mut mounts = Mounts::new();
    mounts.add(prefix, echo::Echo).unwrap();
    let server = Server::builder().config(config).mounts(mounts).build();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server.serve(vec![listener], async move {
        let _ = stopped.await;
    }));
    (Target { authority: addr.to_string(), prefix: prefix.to_string() }, stop)
}

fn assert_passes(report: &Report, what: &str) {
    for line in &report.results {
        println!("{line}");
    }
    println!("{what}: {}", report.summary());
    assert!(report.ok(), "{what}: {}\n{}", report.summary(), report.failures().join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_adapter_passes_every_vector_at_the_root() {
    let (target, _stop) = embedded_echo("").await;
    let vectors = vectors::builtin().unwrap();
    let report =
        tokio::time::timeout(Duration::from_secs(120), run(&target, &vectors, &Options::default())).await.unwrap();
    assert_passes(&report, "embedded at /");
    let (_, _, skipped) = report.counts();
    let proxy_only = vectors.iter().filter(|v| v.has_tag(vectors::PROXY_LISTENER)).count();
    assert!(skipped <= 8 + proxy_only, "too many vectors skipped at the root: {skipped}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_protocol_listener_passes_every_vector() {
    // PRX-1 to PRX-7: every vector after a PROXY header, and the proxy
    // vectors' own headers, forged fields and broken headers; the
    // listener is as transparent as a plain one otherwise.
    for prefix in ["", "/mnt"] {
        let (target, _stop) = echo_on(prefix, true).await;
        let vectors = vectors::builtin().unwrap();
        let options = Options { proxy_listener: true, ..Options::default() };
        let report = tokio::time::timeout(Duration::from_secs(120), run(&target, &vectors, &options)).await.unwrap();
        assert_passes(&report, &format!("a PROXY protocol listener at {prefix:?}"));
        let ran =
            report.results.iter().filter(|r| r.id.starts_with("proxy-") && r.outcome == rgi_conformance::Outcome::Pass);
        assert!(ran.count() >= 8, "the proxy vectors did not run");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_adapter_passes_every_vector_under_a_prefix() {
    let (target, _stop) = embedded_echo("/mnt").await;
    let vectors = vectors::builtin().unwrap();
    let report =
        tokio::time::timeout(Duration::from_secs(120), run(&target, &vectors, &Options::default())).await.unwrap();
    assert_passes(&report, "embedded at /mnt");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_adapter_passes_the_vectors_over_http2() {
    // ENV-8: the same vectors as HTTP/2 requests (prior knowledge).
    for prefix in ["", "/mnt"] {
        let (target, _stop) = embedded_echo(prefix).await;
        let vectors = vectors::builtin().unwrap();
        let options = Options { protocol: Protocol::Http2, ..Options::default() };
        let report = tokio::time::timeout(Duration::from_secs(120), run(&target, &vectors, &options)).await.unwrap();
        assert_passes(&report, &format!("embedded over HTTP/2 at {prefix:?}"));
        assert!(report.counts().0 > 40, "only {} vectors ran over HTTP/2", report.counts().0);
    }
}

/// echo in a FastCGI daemon (in this process) behind a pool mounted in the
/// embedded server: the gateway variables an application sees are the same
/// as embedded (DMN-2, DMN-3).
async fn daemon_echo(prefix: &str) -> (Target, tempfile::TempDir, tokio::sync::oneshot::Sender<()>) {
    use std::sync::Arc;

    use rgi_core::{Deployment, Mode, Settings};
    use rgi_daemon::daemon::{serve, DaemonConfig, DaemonListener};
    use rgi_supervisor::{BackendAddr, Pool, PoolConfig};

    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("echo.sock");
    let daemon_listener = DaemonListener::Unix(tokio::net::UnixListener::bind(&socket).unwrap());
    let deployment = Arc::new(Deployment::new(Mode::Daemon, Arc::new(Settings::empty())));
    tokio::spawn(serve(
        daemon_listener,
        Arc::new(echo::Echo),
        deployment,
        DaemonConfig::default(),
        std::future::pending(),
    ));
    let pool = Pool::fixed("echo", vec![BackendAddr::Unix(socket)], 16, PoolConfig::default());
    let listener = Listener::bind(&"127.0.0.1:0".parse().unwrap()).await.unwrap();
    let BindAddr::Tcp(addr) = listener.local_addr().unwrap() else { panic!("tcp") };
    let mut mounts = Mounts::new();
    mounts.add(prefix, pool).unwrap();
    let server = Server::builder().mounts(mounts).build();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server.serve(vec![listener], async move {
        let _ = stopped.await;
    }));
    (Target { authority: addr.to_string(), prefix: prefix.to_string() }, dir, stop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_behind_the_pool_passes_every_vector() {
    for prefix in ["", "/mnt"] {
        let (target, _dir, _stop) = daemon_echo(prefix).await;
        let vectors = vectors::builtin().unwrap();
        let options = Options::default();
        let report = tokio::time::timeout(Duration::from_secs(120), run(&target, &vectors, &options)).await.unwrap();
        assert_passes(&report, &format!("daemon behind the pool at {prefix:?}"));
    }
}

#[test]
fn vector_files_are_well_formed_and_all_built_in() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("vectors");
    let from_disk = vectors::load_dir(&dir).unwrap();
    let built_in = vectors::builtin().unwrap();
    assert_eq!(from_disk.len(), built_in.len(), "a vector file is missing from BUILTIN_FILES");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".toml"))
        .collect();
    names.sort();
    let mut listed: Vec<String> = vectors::BUILTIN_FILES.iter().map(|(n, _)| (*n).to_string()).collect();
    listed.sort();
    assert_eq!(names, listed);
    assert!(built_in.len() >= 60, "the suite promises at least 60 vectors, has {}", built_in.len());
}

#[test]
fn bad_vector_files_are_refused_by_name() {
    let missing_reason = "[[vector]]\nid = \"x\"\ndescription = \"d\"\ncovers = [\"ENV-3\"]\ntags = [\"rgi-only\"]\n[vector.request]\n[vector.expect]\n";
    let err = vectors::parse("f.toml", missing_reason).unwrap_err().to_string();
    assert!(err.contains("f.toml") && err.contains("gives no reason"), "{err}");
    let no_covers = "[[vector]]\nid = \"x\"\ndescription = \"d\"\ncovers = []\n[vector.request]\n[vector.expect]\n";
    assert!(vectors::parse("f.toml", no_covers).unwrap_err().to_string().contains("covers no requirement"));
    let unknown_field = "[[vector]]\nid = \"x\"\ndescription = \"d\"\ncovers = [\"A-1\"]\nbogus = 1\n[vector.request]\n[vector.expect]\n";
    assert!(vectors::parse("f.toml", unknown_field).is_err());
}

#[test]
fn the_profile_skips_what_does_not_apply() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let vectors = vectors::builtin().unwrap();
    // Nothing listens on port 1: a vector that runs fails, one skipped does not.
    let target = Target::parse("http://127.0.0.1:1").unwrap();
    let options =
        Options { profile: Profile::WsgiReference, timeout: Duration::from_millis(200), ..Options::default() };
    let report = rt.block_on(run(&target, &vectors, &options));
    let skipped: Vec<_> = report
        .results
        .iter()
        .filter(|r| matches!(r.outcome, rgi_conformance::Outcome::Skip(_)))
        .map(|r| r.id.clone())
        .collect();
    assert!(skipped.iter().any(|id| id == "path-encoded-slash"));
    assert!(!skipped.iter().any(|id| id == "path-space"));
}
