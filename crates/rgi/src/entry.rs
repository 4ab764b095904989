//! The entry point: one binary, the mode chosen when it starts (DEP-1).

use std::process::ExitCode;
use std::sync::Arc;

use rgi_core::{Application, Deployment, Mode, Settings};
use rgi_embedded::{BindAddr, Config, Limits, Listener, Mounts, Server};
use rgi_gateway::respond::Report;

/// The exit status of a process whose application failed to load: settings
/// missing or malformed, the factory or `startup` failed (DEP-4). It is
/// `EX_CONFIG` from `sysexits.h`; supervisors read it as "do not respawn".
pub const EXIT_LOAD_FAILED: u8 = 78;

/// The address an embedded server listens on without `RGI_BIND`.
const DEFAULT_BIND: &str = "127.0.0.1:8000";

/// Runs `app` in the mode this process was started for, until it is told
/// to stop; the process's exit status follows (`main` returns it).
///
/// * With a listening socket on fd 0 (rgi's supervisor, spawn-fcgi,
///   mod_fcgid) or `RGI_FASTCGI=unix:/path` or `host:port`, a FastCGI
///   daemon; `RGI_CONCURRENCY` bounds the requests it handles at once and
///   `RGI_THREADS` its worker threads (`1`: a single-threaded runtime, on
///   which `tokio::task::block_in_place` is not available).
/// * With `LISTEN_FDS`/`LISTEN_PID` for this process (socket activation),
///   an embedded server on those sockets.
/// * Otherwise an embedded server on `RGI_BIND`, by default
///   `127.0.0.1:8000`.
///
/// The limits on what clients (or a front) send come from the
/// environment in every mode, `RGI_MAX_BODY_BYTES` and the others of
/// [`Limits::to_env`](rgi_embedded::Limits::to_env), else their defaults;
/// `rgi-server` passes its own to its daemons this way.
///
/// Settings are located first (`RGI_SETTINGS`, SET-1); `RGI_LOG` (else
/// `RUST_LOG`) sets the log filter and `RGI_ACCESS_LOG=1` logs every
/// request (DEP-6).
pub fn run(app: impl Application) -> ExitCode {
    run_with(move |_settings: &Settings| Ok::<_, std::convert::Infallible>(app))
}

/// Like [`run`], building the application from its settings first; a
/// factory error exits with [`EXIT_LOAD_FAILED`] (DEP-4). The factory
/// runs inside the async runtime, so it may `tokio::spawn` background
/// work or build clients that need one; for work it must await, use the
/// application's `startup`.
pub fn run_with<A, E, F>(factory: F) -> ExitCode
where
    A: Application,
    E: std::fmt::Display,
    F: FnOnce(&Settings) -> Result<A, E>,
{
    run_with_limits(Limits::default(), factory)
}

/// Like [`run_with`], with the application's own defaults for the limits
/// on what clients send: an upload service raises `max_body_bytes`, say.
/// The deployment still decides: a limit set in the environment
/// (`RGI_MAX_BODY_BYTES`..., which rgi-server sets for its daemons from
/// its own configuration) wins over the application's.
///
/// ```no_run
/// # struct App;
/// # #[rgi::async_trait]
/// # impl rgi::Application for App {
/// #     async fn call(&self, _: rgi::Request) -> Result<rgi::Response, rgi::Error> { unimplemented!() }
/// # }
/// let mut limits = rgi::Limits::default();
/// limits.max_body_bytes = Some(1 << 30); // 1 GiB uploads
/// rgi::run_with_limits(limits, |_settings: &rgi::Settings| Ok::<_, std::convert::Infallible>(App));
/// ```
pub fn run_with_limits<A, E, F>(limits: Limits, factory: F) -> ExitCode
where
    A: Application,
    E: std::fmt::Display,
    F: FnOnce(&Settings) -> Result<A, E>,
{
    start(limits, |settings| factory(settings).map(|app| Target::App(Arc::new(app))).map_err(|e| e.to_string()))
}

/// Runs several applications at their mount prefixes, in every mode.
pub fn run_mounts(mounts: Mounts) -> ExitCode {
    start(Limits::default(), move |_| Ok(Target::Mounts(mounts)))
}

enum Target {
    App(Arc<dyn Application>),
    Mounts(Mounts),
}

fn start(mut limits: Limits, build: impl FnOnce(&Settings) -> Result<Target, String>) -> ExitCode {
    if let Err(err) = rgi_embedded::init_logging("info") {
        tracing::error!("{err}");
        return ExitCode::from(EXIT_LOAD_FAILED);
    }
    rgi_embedded::raise_open_files_limit();
    let settings = match rgi_gateway::settings::locate() {
        Ok(settings) => Arc::new(settings),
        Err(err) => return load_failed(&Report(&err).to_string()),
    };
    // One set of limits in every mode: the application's defaults, then
    // the environment's (rgi-server passes its own this way).
    if let Err(message) = limits.apply_env(|name| std::env::var(name).ok()) {
        return load_failed(&message);
    }
    let transport = match Transport::from_env() {
        Ok(t) => t,
        Err(message) => {
            tracing::error!("{message}");
            return ExitCode::FAILURE;
        }
    };
    // One thread means the current-thread scheduler: the same work without
    // cross-thread wake-ups, as a process of a group of many (mod_wsgi's
    // `threads=1`). `block_in_place` needs several; `spawn_blocking` works.
    let mut runtime = match env_number("RGI_THREADS") {
        Some(1) => tokio::runtime::Builder::new_current_thread(),
        Some(threads) => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(threads.max(1));
            builder
        }
        None => tokio::runtime::Builder::new_multi_thread(),
    };
    let runtime = match runtime.enable_all().build() {
        Ok(rt) => rt,
        Err(err) => {
            tracing::error!("cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    // The factory runs inside the runtime, as `startup` does: it may
    // `tokio::spawn` background work or make clients that need a reactor.
    let built = {
        let _inside = runtime.enter();
        build(&settings)
    };
    let target = match built {
        Ok(target) => target,
        Err(message) => return load_failed(&format!("application factory failed: {message}")),
    };
    let dev = std::env::var_os("RGI_DEPLOYMENT").is_some_and(|v| v == "dev");
    if let Transport::FastCgi(listener, socket_file) = transport {
        let mode = if dev { Mode::Dev } else { Mode::Daemon };
        let processes = env_number("RGI_PROCESSES");
        // Without a supervisor to say, assume other processes may serve too.
        let deployment = Deployment::new(mode, settings).with_multiprocess(processes.is_none_or(|n| n > 1));
        let app = match target {
            Target::App(app) => app,
            Target::Mounts(mounts) => Arc::new(mounts) as Arc<dyn Application>,
        };
        let served = runtime.block_on(serve_daemon(listener, app, Arc::new(deployment), &limits));
        if let Some(path) = socket_file {
            let _ = std::fs::remove_file(path);
        }
        return match served {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => load_failed(&Report(&err).to_string()),
        };
    }
    let mode = if dev { Mode::Dev } else { Mode::Embedded };
    let deployment = Arc::new(Deployment::new(mode, settings));
    let result = runtime.block_on(serve_embedded(transport, target, deployment, limits));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(rgi_embedded::Error::Startup { source, .. }) => load_failed(&Report(&source).to_string()),
        // A certificate that cannot be used will not be usable on a retry.
        Err(err @ rgi_embedded::Error::Tls { .. }) => load_failed(&err.to_string()),
        Err(err) => {
            tracing::error!("{err}");
            ExitCode::FAILURE
        }
    }
}

/// How this process was asked to take requests.
enum Transport {
    /// FastCGI, on an inherited or bound socket; the socket file this
    /// process created, removed when it stops.
    FastCgi(rgi_embedded::StdListener, Option<std::path::PathBuf>),
    /// Sockets inherited through `LISTEN_FDS`.
    Inherited(Vec<Listener>),
    /// An address to bind.
    Bind(BindAddr),
}

impl Transport {
    /// Reads the environment; must run before any thread starts, as it
    /// removes the socket-activation variables (children must not see
    /// them as their own).
    fn from_env() -> Result<Self, String> {
        if let Ok(addr) = std::env::var("RGI_FASTCGI") {
            let addr: BindAddr = addr.parse().map_err(|e: rgi_embedded::Error| format!("RGI_FASTCGI: {e}"))?;
            if let BindAddr::Unix(path) = &addr {
                crate::fastcgi_socket::check_parent(path)?;
            }
            let listener = rgi_embedded::StdListener::bind(&addr).map_err(|e| format!("RGI_FASTCGI: {e}"))?;
            let owned = match addr {
                BindAddr::Unix(path) => {
                    if let Err(message) = crate::fastcgi_socket::set_owner_and_mode(&path) {
                        let _ = std::fs::remove_file(&path);
                        return Err(message);
                    }
                    Some(path)
                }
                BindAddr::Tcp(_) => None,
            };
            return Ok(Transport::FastCgi(listener, owned));
        }
        if rgi_embedded::is_listening_socket(0) {
            let listener = rgi_embedded::from_fd(0).and_then(|l| {
                l.into_std().map_err(|e| rgi_embedded::Error::Inherited { fd: 0, reason: e.to_string() })
            });
            return listener.map(|l| Transport::FastCgi(l, None)).map_err(|e| e.to_string());
        }
        let pid = std::env::var("LISTEN_PID").ok();
        let fds = std::env::var("LISTEN_FDS").ok();
        if let Some(listeners) =
            rgi_embedded::from_listen_fds(pid.as_deref(), fds.as_deref()).map_err(|e| e.to_string())?
        {
            // Single-threaded still: no runtime has started.
            std::env::remove_var("LISTEN_PID");
            std::env::remove_var("LISTEN_FDS");
            std::env::remove_var("LISTEN_FDNAMES");
            return Ok(Transport::Inherited(listeners));
        }
        let bind = std::env::var("RGI_BIND").unwrap_or_else(|_| DEFAULT_BIND.to_string());
        bind.parse().map(Transport::Bind).map_err(|e: rgi_embedded::Error| format!("RGI_BIND: {e}"))
    }
}

fn env_number(name: &str) -> Option<usize> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

/// The TLS certificate and key named by `RGI_TLS_CERT` and `RGI_TLS_KEY`
/// (both or neither).
fn tls_from_env() -> Result<Option<Arc<rgi_embedded::TlsConfig>>, rgi_embedded::Error> {
    match (std::env::var_os("RGI_TLS_CERT"), std::env::var_os("RGI_TLS_KEY")) {
        (None, None) => Ok(None),
        (Some(cert), Some(key)) => {
            rgi_embedded::TlsConfig::load(cert.as_ref(), key.as_ref()).map(|tls| Some(Arc::new(tls)))
        }
        (Some(path), None) | (None, Some(path)) => Err(rgi_embedded::Error::Tls {
            path: path.into(),
            reason: "RGI_TLS_CERT and RGI_TLS_KEY go together: set both".into(),
        }),
    }
}

/// Serves as a FastCGI daemon until SIGTERM or SIGINT (DEP-1).
async fn serve_daemon(
    listener: rgi_embedded::StdListener,
    app: Arc<dyn Application>,
    deployment: Arc<Deployment>,
    limits: &rgi_embedded::Limits,
) -> Result<(), rgi_core::Error> {
    use rgi_daemon::daemon::{serve_with_http, DaemonConfig, DaemonListener};
    let listener = match listener {
        rgi_embedded::StdListener::Unix(l) => {
            l.set_nonblocking(true)?;
            DaemonListener::Unix(tokio::net::UnixListener::from_std(l)?)
        }
        rgi_embedded::StdListener::Tcp(l) => {
            l.set_nonblocking(true)?;
            DaemonListener::Tcp(tokio::net::TcpListener::from_std(l)?)
        }
    };
    let mut config = DaemonConfig::default();
    config.max_params_bytes = limits.max_header_bytes;
    config.max_header_count = limits.max_header_count;
    config.max_header_field_bytes = limits.max_header_field_bytes;
    config.max_body_bytes = limits.max_body_bytes;
    if let Some(n) = env_number("RGI_CONCURRENCY") {
        config.concurrency = n.max(1);
    }
    if let Some(grace) = env_seconds("RGI_GRACE_PERIOD").map_err(|e| std::io::Error::other(e.to_string()))? {
        config.grace_period = grace;
    }
    let http = crate::daemon_http::side(Arc::clone(&app), Arc::clone(&deployment), limits)
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    serve_with_http(listener, app, deployment, config, Some(http), rgi_embedded::shutdown_signal()).await
}

/// A duration in seconds from the environment variable `name` (`30`,
/// `0.5`); `None` when it is not set. `RGI_GRACE_PERIOD` (seconds open
/// connections get after a stop signal; rgi-server sets it to the group's
/// `graceful-timeout`) and `RGI_SHUTDOWN_DELAY` are read so.
fn env_seconds(name: &'static str) -> Result<Option<std::time::Duration>, rgi_embedded::Error> {
    let Ok(secs) = std::env::var(name) else { return Ok(None) };
    secs.trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| Some(std::time::Duration::from_secs_f64(s)))
        .ok_or_else(|| rgi_embedded::Error::Env { name, reason: format!("{secs:?}: expected seconds, e.g. 5 or 0.5") })
}

async fn serve_embedded(
    transport: Transport,
    target: Target,
    deployment: Arc<Deployment>,
    limits: rgi_embedded::Limits,
) -> Result<(), rgi_embedded::Error> {
    let listeners = match transport {
        Transport::Inherited(listeners) => listeners,
        Transport::Bind(addr) => vec![Listener::bind(&addr).await?],
        Transport::FastCgi(..) => return Ok(()),
    };
    // RGI_TLS_CERT and RGI_TLS_KEY: every listener speaks TLS.
    let listeners: Vec<Listener> = match tls_from_env()? {
        Some(tls) => listeners.into_iter().map(|l| l.with_tls(Arc::clone(&tls))).collect(),
        None => listeners,
    };
    // Behind a balancer: RGI_PROXY_PROTOCOL=1 makes every listener expect
    // a PROXY header, RGI_TRUSTED_PROXIES names the balancers (PRX-*).
    let listeners = match std::env::var("RGI_PROXY_PROTOCOL").as_deref() {
        Ok("1") => listeners.into_iter().map(Listener::with_proxy_protocol).collect(),
        Ok("0" | "") | Err(_) => listeners,
        Ok(other) => {
            return Err(rgi_embedded::Error::Env {
                name: "RGI_PROXY_PROTOCOL",
                reason: format!("{other:?}: expected 1 or 0"),
            })
        }
    };
    let mut config = Config::default();
    if let Ok(list) = std::env::var("RGI_TRUSTED_PROXIES") {
        config.trusted_proxies = list.parse().map_err(|e: rgi_gateway::proxy::BadTrustedProxy| {
            rgi_embedded::Error::Env { name: "RGI_TRUSTED_PROXIES", reason: e.to_string() }
        })?;
    }
    config.limits = limits;
    if let Some(grace) = env_seconds("RGI_GRACE_PERIOD")? {
        config.grace_period = grace;
    }
    config.access_log = std::env::var_os("RGI_ACCESS_LOG").is_some_and(|v| v != "0" && !v.is_empty());
    let mut mounts = match target {
        Target::App(app) => {
            let mut mounts = Mounts::new();
            mounts.add_arc("/", app)?;
            mounts
        }
        Target::Mounts(mounts) => mounts,
    };
    // Behind a balancer or in Kubernetes: RGI_READINESS and RGI_LIVENESS
    // paths, and RGI_SHUTDOWN_DELAY seconds of not-ready before a stop
    // (SRV-16, SRV-17).
    let readiness = crate::health::Readiness::default();
    if let Some(path) = std::env::var("RGI_READINESS").ok().filter(|p| !p.is_empty()) {
        mounts.add(&path, readiness.clone())?;
    }
    if let Some(path) = std::env::var("RGI_LIVENESS").ok().filter(|p| !p.is_empty()) {
        mounts.add(&path, rgi_embedded::health::Liveness)?;
    }
    let delay = env_seconds("RGI_SHUTDOWN_DELAY")?.unwrap_or_default();
    let server = Server::builder().config(config).deployment(deployment).mounts(mounts).build();
    server.serve(listeners, crate::health::stop_after(delay, readiness.stopping)).await
}

fn load_failed(message: &str) -> ExitCode {
    tracing::error!("application failed to load: {message}");
    ExitCode::from(EXIT_LOAD_FAILED)
}
