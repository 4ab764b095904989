//! The rgi production server, like `mod_wsgi-express`: one TOML file of
//! listeners, daemon process groups, and mounts (URL prefix → group or
//! static directory), plus an optional status page.
//!
//! The front is rgi's embedded server; each group is mounted as its
//! [`Pool`](rgi_daemon::Pool), an ordinary application, so there is one
//! HTTP stack and one set of rules. `SIGHUP` reloads every group
//! gracefully; `SIGTERM`/`SIGINT` stop the server, then the daemons.

use std::future::Future;
use std::sync::Arc;

use rgi_daemon::{SocketDir, SupervisedGroup, SupervisorError};
use rgi_embedded::{BindAddr, Listener, Mounts, Server};
use rgi_static::StaticFiles;

pub mod config;
pub mod status;

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
}

/// Runs the server of `config` until `shutdown` completes (or a signal),
/// then stops it and its daemons. `listen` overrides the file's addresses.
pub async fn run(
    config: Config,
    listen: Vec<BindAddr>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServerError> {
    let addrs = if listen.is_empty() { config.listen.clone() } else { listen };
    if addrs.is_empty() {
        return Err(ServerError::NoListener);
    }
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
            MountTarget::Static(dir) => {
                let files =
                    StaticFiles::new(dir).map_err(|source| ServerError::Static { path: dir.clone(), source })?;
                mounts.add(prefix, files)?;
            }
        }
    }
    if let Some(path) = &config.status {
        mounts.add(path, Status::new(groups.iter().map(|g| Arc::clone(g.group())).collect()))?;
    }
    let mut listeners = Vec::new();
    for addr in &addrs {
        listeners.push(Listener::bind(addr).await?);
    }
    let reloaders: Vec<_> = groups.iter().map(SupervisedGroup::reloader).collect();
    let hup = tokio::spawn(async move {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else { return };
        while hup.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading every group");
            for reload in &reloaders {
                reload.reload();
            }
        }
    });
    let server = Server::builder().config(config.server.clone()).mounts(mounts).build();
    let served = server
        .serve(listeners, async {
            tokio::select! {
                () = shutdown => {}
                () = rgi_embedded::shutdown_signal() => {}
            }
        })
        .await;
    hup.abort();
    for group in groups {
        group.shutdown().await;
    }
    drop(dir);
    served.map_err(ServerError::from)
}

fn group_id(name: &str) -> Result<u32, ServerError> {
    rgi_daemon::group_id(name).map_err(|e| {
        ServerError::Supervisor(SupervisorError::Config {
            group: "[server]".into(),
            reason: format!("socket-group {name:?}: {e}"),
        })
    })
}
