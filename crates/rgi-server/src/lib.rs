//! The rgi production server, like `mod_wsgi-express`: one TOML file of
//! listeners, daemon process groups, and mounts (URL prefix → group or
//! static directory), plus an optional status page.
//!
//! The front is rgi's embedded server; each group is mounted as its
//! [`Pool`](rgi_supervisor::Pool), an ordinary application, so there is one
//! HTTP stack and one set of rules. `SIGHUP` reloads every group
//! gracefully; `SIGTERM`/`SIGINT` stop the server, then the daemons;
//! `SIGUSR2` starts the server's binary anew on the same sockets and hands
//! over to it (a binary upgrade, see `upgrade`).

use std::future::Future;
use std::sync::Arc;

use rgi_embedded::{BindAddr, Listener, Mounts, Notifier, Server, TlsConfig};
use rgi_static::StaticFiles;
use rgi_supervisor::{SocketDir, SupervisedGroup, SupervisorError};

pub mod config;
pub mod health;
pub mod status;
mod upgrade;

pub use config::{Config, ConfigError, MountTarget};
pub use status::Status;

/// Why the server could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A process group could not start.
    #[error(transparent)]
    Supervisor(#[from] SupervisorError),
    /// The HTTP side failed.
    #[error(transparent)]
    Http(#[from] rgi_embedded::Error),
    /// A static directory is unusable.
    #[error("static directory {path}: {source}")]
    Static {
        /// The directory.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Nowhere to listen.
    #[error("no address to listen on: give --listen or [server] listen")]
    NoListener,
    /// Started to take over from a running server, and could not.
    #[error("not taking over from the running server: {0}")]
    Upgrade(String),
}

/// Runs the server of `config` until `shutdown` completes (or a signal),
/// then stops it and its daemons. `listen` overrides the file's addresses.
pub async fn run(
    config: Config,
    listen: Vec<BindAddr>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServerError> {
    // Sockets systemd passed (socket activation) win over any address.
    let pid = std::env::var("LISTEN_PID").ok();
    let fds = std::env::var("LISTEN_FDS").ok();
    let inherited = rgi_embedded::from_listen_fds(pid.as_deref(), fds.as_deref())?;
    // systemd's FileDescriptorName, or a binary upgrade's: `https` sockets
    // are the TLS listeners.
    let names: Vec<String> = match (&inherited, std::env::var("LISTEN_FDNAMES")) {
        (Some(_), Ok(names)) => names.split(':').map(str::to_string).collect(),
        _ => Vec::new(),
    };
    let addrs = if listen.is_empty() { config.listen.clone() } else { listen };
    if addrs.is_empty() && inherited.is_none() && config.tls.is_none() && config.proxy_listen.is_empty() {
        return Err(ServerError::NoListener);
    }
    let tls = match &config.tls {
        Some(t) => Some((Arc::new(TlsConfig::load(&t.cert, &t.key)?), (t.listen.clone(), t.proxy_listen.clone()))),
        None => None,
    };
    let notifier = Arc::new(Notifier::from_env());
    let socket_group = match &config.socket_group {
        Some(name) => Some(group_id(name)?),
        None => None,
    };
    let dir = Arc::new(SocketDir::open(config.socket_dir.as_deref(), socket_group)?);
    tracing::info!(dir = %dir.path().display(), "daemon sockets");
    let mut groups: Vec<SupervisedGroup> = Vec::new();
    for gc in &config.groups {
        groups.push(SupervisedGroup::start(gc.clone(), Arc::clone(&dir))?);
    }
    let mut mounts = Mounts::new();
    for (prefix, target) in &config.mounts {
        match target {
            MountTarget::Group(name) => {
                if let Some(g) = groups.iter().find(|g| &g.group().name == name) {
                    mounts.add(prefix, g.pool())?;
                }
            }
            MountTarget::Static { dir, cache } => {
                let files =
                    StaticFiles::new(dir).map_err(|source| ServerError::Static { path: dir.clone(), source })?;
                mounts.add(prefix, files.cache_size(*cache))?;
            }
        }
    }
    if let Some(path) = &config.status {
        mounts.add(path, Status::new(groups.iter().map(|g| Arc::clone(g.group())).collect()))?;
    }
    let phase = Arc::new(health::Phase::default());
    if let Some(path) = &config.liveness {
        mounts.add(path, health::Liveness)?;
    }
    if let Some(path) = &config.readiness {
        let groups = groups.iter().map(|g| Arc::clone(g.group())).collect();
        mounts.add(path, health::Readiness::new(groups, Arc::clone(&phase)))?;
    }
    // Each listener, and what it serves (`http`, `https`, `proxy`), for a
    // successor to know.
    let mut listeners: Vec<(Listener, &'static str)> = Vec::new();
    // Unix socket files this server made: removed when it stops, unless a
    // successor serves them.
    let mut socket_files = Vec::new();
    let inherited_tls = names.iter().any(|n| n == "https" || n == "https-proxy");
    match inherited {
        Some(inherited) => {
            tracing::info!(sockets = inherited.len(), "serving on inherited sockets (LISTEN_FDS)");
            for (i, listener) in inherited.into_iter().enumerate() {
                match (names.get(i).map(String::as_str), &tls) {
                    (Some("https"), Some((tls, _))) => listeners.push((listener.with_tls(Arc::clone(tls)), "https")),
                    (Some("https-proxy"), Some((tls, _))) => {
                        listeners.push((listener.with_tls(Arc::clone(tls)).with_proxy_protocol(), "https-proxy"))
                    }
                    (Some("proxy"), _) => listeners.push((listener.with_proxy_protocol(), "proxy")),
                    (Some("https" | "https-proxy"), None) => {
                        return Err(ServerError::Config(ConfigError::Invalid {
                            path: "LISTEN_FDNAMES".into(),
                            message: "an https socket was passed, but [server] has no tls-cert and tls-key".into(),
                        }))
                    }
                    _ => listeners.push((listener, "http")),
                }
            }
        }
        None => {
            for addr in &addrs {
                if let BindAddr::Unix(path) = addr {
                    socket_files.push(path.clone());
                }
                listeners.push((Listener::bind(addr).await?.keep_file(), "http"));
            }
            for addr in &config.proxy_listen {
                if let BindAddr::Unix(path) = addr {
                    socket_files.push(path.clone());
                }
                listeners.push((Listener::bind(addr).await?.keep_file().with_proxy_protocol(), "proxy"));
            }
        }
    }
    if let (Some((tls, (addrs, proxy_addrs))), false) = (&tls, inherited_tls) {
        for addr in addrs {
            listeners.push((Listener::bind(addr).await?.with_tls(Arc::clone(tls)), "https"));
        }
        // The PROXY header comes before the handshake (TLS passed through).
        for addr in proxy_addrs {
            listeners
                .push((Listener::bind(addr).await?.with_tls(Arc::clone(tls)).with_proxy_protocol(), "https-proxy"));
        }
    }
    let handover = upgrade::Handover {
        sockets: listeners
            .iter()
            .map(|(l, name)| l.try_clone_fd().map(|fd| (fd, *name)))
            .collect::<std::io::Result<_>>()
            .map_err(|source| ServerError::Http(rgi_embedded::Error::Bind { addr: "a listener".into(), source }))?,
    };
    let listeners: Vec<Listener> = listeners.into_iter().map(|(l, _)| l).collect();
    let reloads: Vec<_> = groups.iter().map(|g| (g.reloader(), g.rollout())).collect();
    let first_rollouts: Vec<_> = groups.iter().map(|g| g.rollout()).collect();
    let certificate = tls.map(|(tls, _)| tls);
    let hup = tokio::spawn(reload_on_sighup(reloads, certificate, Arc::clone(&notifier)));
    let watchdog = notifier.watchdog_interval().map(|every| {
        let notifier = Arc::clone(&notifier);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                notifier.notify("WATCHDOG=1");
            }
        })
    });
    // Started by a binary upgrade, to take over from a running server.
    let taking_over = std::env::var_os(upgrade::READY_ENV).is_some();
    if taking_over {
        // Accept nothing until this server can answer.
        if let Err(reason) = upgrade::await_groups(&groups).await {
            hup.abort();
            if let Some(watchdog) = watchdog {
                watchdog.abort();
            }
            for group in groups {
                group.shutdown().await;
            }
            return Err(ServerError::Upgrade(reason));
        }
    }
    let server = Server::builder().config(config.server.clone()).mounts(mounts).build();
    // The sockets are bound: connections wait in their backlog from here.
    // Ready is said once every group has its first processes up (or has
    // failed to start them), so a server this one replaces stops
    // accepting only when this one can answer.
    let ready = {
        let notifier = Arc::clone(&notifier);
        let phase = Arc::clone(&phase);
        tokio::spawn(async move {
            for mut rollout in first_rollouts {
                let _ = rollout.wait_for(|r| !matches!(r, rgi_supervisor::Rollout::Starting { .. })).await;
            }
            phase.serving();
            if taking_over {
                // systemd follows the new process (with NotifyAccess=all).
                notifier.notify(&format!("MAINPID={}", std::process::id()));
            }
            notifier.notify("READY=1");
            upgrade::tell_predecessor();
        })
    };
    let mut handed_over = false;
    let served = server
        .serve(listeners, async {
            tokio::select! {
                () = shutdown => {}
                () = rgi_embedded::shutdown_signal() => {}
                _successor = upgrade::on_sigusr2(handover) => handed_over = true,
            }
            // Not ready first (SRV-17); a successor that took over needs no
            // delay, the balancer's connections already go to it.
            phase.draining();
            if !handed_over {
                rgi_embedded::health::shutdown_delay(config.shutdown_delay).await;
            }
            notifier.notify("STOPPING=1");
        })
        .await;
    ready.abort();
    if handed_over {
        // The successor serves the same files (and, when the directory was
        // named in the configuration, its daemons' sockets live there too).
        if config.socket_dir.is_some() {
            dir.hand_on();
        }
    } else {
        for path in socket_files {
            let _ = std::fs::remove_file(path);
        }
    }
    hup.abort();
    if let Some(watchdog) = watchdog {
        watchdog.abort();
    }
    for group in groups {
        group.shutdown().await;
    }
    drop(dir);
    served.map_err(ServerError::from)
}

/// SIGHUP reloads every group; systemd hears RELOADING, then READY once
/// every group's new processes are ready (or have failed to start).
async fn reload_on_sighup(
    groups: Vec<(rgi_supervisor::Reloader, tokio::sync::watch::Receiver<rgi_supervisor::Rollout>)>,
    certificate: Option<Arc<TlsConfig>>,
    notifier: Arc<Notifier>,
) {
    let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else { return };
    while hup.recv().await.is_some() {
        tracing::info!("SIGHUP: reloading every group");
        notifier.reloading();
        // New connections get the certificate the files now hold; open
        // ones keep theirs. A bad file keeps the old certificate.
        if let Some(tls) = &certificate {
            match tls.reload() {
                Ok(()) => tracing::info!(cert = %tls.cert_path().display(), "TLS certificate reloaded"),
                Err(err) => tracing::error!("{err}; the previous certificate stays in use"),
            }
        }
        let mut rollouts = Vec::new();
        for (reloader, rollout) in &groups {
            let before = rollout.borrow().generation();
            reloader.reload();
            rollouts.push((rollout.clone(), before));
        }
        for (mut rollout, before) in rollouts {
            let _ = rollout
                .wait_for(|r| r.generation() > before && !matches!(r, rgi_supervisor::Rollout::Starting { .. }))
                .await;
        }
        notifier.notify("READY=1");
    }
}

fn group_id(name: &str) -> Result<u32, ServerError> {
    rgi_supervisor::group_id(name).map_err(|e| {
        ServerError::Supervisor(SupervisorError::Config {
            group: "[server]".into(),
            reason: format!("socket-group {name:?}: {e}"),
        })
    })
}
