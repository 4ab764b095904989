//! `rgi-dev`, rgi's development server: Django's runserver for rgi
//! applications.
//!
//! It owns the listening socket for its whole life, builds the crate with
//! cargo, runs the application as a supervised child process (the daemon
//! mode's supervisor and pool, one process) and forwards requests to it.
//! On a source change it rebuilds; requests that arrive meanwhile wait and
//! are answered by the new build, which takes over only once it has
//! started. A compile error, or an application that cannot start, is a
//! page in the browser and text in the terminal.
//!
//! ```text
//! rgi-dev path/to/my-app --addr 127.0.0.1:8000 --settings dev.toml
//! ```

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rgi_core::{Deployment, Mode, Settings};
use rgi_embedded::{BindAddr, Config, Listener, Mounts, Server};
use rgi_static::StaticFiles;
use rgi_supervisor::{BackendState, GroupConfig, Pool, Rollout, SocketDir, SupervisedGroup};
use tokio::sync::watch;

mod cargo_build;
mod cli;
mod front;
mod pages;
mod project;
mod request_log;
mod source_watch;

pub use cli::Options;
pub use project::Project;

use cargo_build::Outcome;
use front::{DevFront, Phase};
use source_watch::SourceWatcher;

/// Why the development server could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DevError {
    /// The crate cannot be served (no manifest, no binary, several).
    #[error("{0}")]
    Project(String),
    /// A command-line value is wrong.
    #[error("{0}")]
    Usage(String),
    /// The address cannot be listened on.
    #[error(transparent)]
    Listen(#[from] rgi_embedded::Error),
    /// The source cannot be watched.
    #[error("cannot watch the source: {0}")]
    Watch(String),
    /// The application's process cannot be supervised.
    #[error(transparent)]
    Supervisor(#[from] rgi_supervisor::SupervisorError),
}

/// Serves the crate `options` name until `shutdown` completes; then stops
/// the application's process and returns.
pub async fn run(options: Options, shutdown: impl Future<Output = ()>) -> Result<(), DevError> {
    let path = options.path.clone();
    let bin = options.bin.clone();
    let project = tokio::task::spawn_blocking(move || Project::load(&path, bin.as_deref()))
        .await
        .map_err(|e| DevError::Project(e.to_string()))??;
    let settings = SettingsFile::resolve(&options, &project)?;
    let addr: BindAddr = options.addr.parse().map_err(|e: rgi_embedded::Error| DevError::Usage(e.to_string()))?;
    let listener = Listener::bind(&addr).await?;
    let local = listener.local_addr().map_err(|e| DevError::Usage(e.to_string()))?;

    let (phase_tx, phase_rx) = watch::channel(Phase::Waiting);
    let mut mounts = Mounts::new();
    for (prefix, dir) in &options.statics {
        let files =
            StaticFiles::new(dir).map_err(|e| DevError::Usage(format!("--static {prefix}={}: {e}", dir.display())))?;
        mounts.add(prefix, files).map_err(DevError::Listen)?;
    }
    mounts.add("", DevFront::new(&project.package, phase_rx)).map_err(DevError::Listen)?;
    let mut config = Config::default();
    config.access_sink = Some(request_log::sink());
    config.grace_period = Duration::from_secs(2);
    // The application's own process applies its body limit (its
    // `run_with_limits`, or RGI_MAX_BODY_BYTES): the front must not refuse
    // first with a lower one of its own.
    config.limits.max_body_bytes = None;
    let deployment = Arc::new(Deployment::new(Mode::Dev, Arc::new(Settings::empty())));
    let server = Server::builder().config(config).mounts(mounts).deployment(deployment).build();
    let (stop_server, server_stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.serve(vec![listener], async move {
        let _ = server_stopped.await;
    }));

    let mut watcher = if options.noreload { None } else { Some(SourceWatcher::start(&project)?) };
    banner(&project, &local, &options, &settings);

    let mut dev = Dev {
        project,
        release: options.release,
        settings: settings.pass,
        dir: Arc::new(SocketDir::open(None, None)?),
        app: None,
        phase: phase_tx,
    };
    tokio::pin!(shutdown);
    let mut rebuild = Some(Instant::now());
    loop {
        if let Some(since) = rebuild.take() {
            tokio::select! {
                () = dev.rebuild(watcher.as_mut(), since) => {}
                () = &mut shutdown => break,
            }
        }
        tokio::select! {
            () = &mut shutdown => break,
            Some(changed) = next_change(watcher.as_mut()) => {
                say(&format!("{} changed; rebuilding", dev.relative(&changed)));
                rebuild = Some(Instant::now());
            }
            Ok(()) = rollout_changed(dev.app.as_mut()) => dev.follow_rollout(),
        }
    }
    say("stopping");
    let _ = stop_server.send(());
    if let Some(app) = dev.app.take() {
        app.group.shutdown().await;
    }
    let _ = serving.await;
    Ok(())
}

/// The settings file: what is passed to the application, and what the
/// banner says (SET-6).
struct SettingsFile {
    pass: Option<PathBuf>,
    shown: String,
}

impl SettingsFile {
    fn resolve(options: &Options, project: &Project) -> Result<Self, DevError> {
        if let Some(file) = &options.settings {
            let file = std::path::absolute(file).map_err(|e| DevError::Usage(format!("--settings: {e}")))?;
            if !file.is_file() {
                return Err(DevError::Usage(format!("--settings {}: no such file", file.display())));
            }
            return Ok(Self { shown: file.display().to_string(), pass: Some(file) });
        }
        if let Some(file) = std::env::var_os("RGI_SETTINGS").filter(|v| !v.is_empty()) {
            let file =
                std::path::absolute(PathBuf::from(file)).map_err(|e| DevError::Usage(format!("RGI_SETTINGS: {e}")))?;
            return Ok(Self { shown: format!("{} (from RGI_SETTINGS)", file.display()), pass: Some(file) });
        }
        let default = project.dir.join("rgi.toml");
        let shown = if default.is_file() {
            default.display().to_string()
        } else {
            format!("none (no --settings, no RGI_SETTINGS, no {})", default.display())
        };
        Ok(Self { pass: None, shown })
    }
}

/// The state of one development session.
struct Dev {
    project: Project,
    release: bool,
    settings: Option<PathBuf>,
    dir: Arc<SocketDir>,
    /// The application's process group, once a build has been started.
    app: Option<App>,
    phase: watch::Sender<Phase>,
}

/// The application's one-process group and its rollout as last seen here.
struct App {
    group: SupervisedGroup,
    rollout: watch::Receiver<Rollout>,
}

impl Dev {
    /// Builds (again while the source keeps changing) and starts what was
    /// built; requests wait meanwhile.
    async fn rebuild(&mut self, mut watcher: Option<&mut SourceWatcher>, since: Instant) {
        self.phase.send_replace(Phase::Waiting);
        let outcome = loop {
            let outcome = cargo_build::build(&self.project, self.release).await;
            // A save during the build: that build is already stale.
            match watcher.as_deref_mut().and_then(SourceWatcher::drain_pending) {
                Some(changed) => say(&format!("{} changed during the build; building again", self.relative(&changed))),
                None => break outcome,
            }
        };
        match outcome {
            Outcome::Failed { errors, cargo_output } => {
                say(&format!(
                    "{} does not build: {} error(s); serving the error page until it does",
                    self.project.package,
                    errors.len()
                ));
                self.phase.send_replace(Phase::BuildFailed {
                    errors: Arc::new(errors),
                    cargo_output: Arc::new(cargo_output),
                });
            }
            Outcome::Built { executable, took } => {
                self.start(executable).await;
                if let Phase::Serving(_) = &*self.phase.borrow() {
                    say(&format!(
                        "serving the new build ({} ms after the change; cargo took {} ms)",
                        since.elapsed().as_millis(),
                        took.as_millis()
                    ));
                }
            }
        }
    }

    /// Starts the group on its first build, reloads it after; waits until
    /// the new process is ready or has failed.
    async fn start(&mut self, executable: PathBuf) {
        let app = match &mut self.app {
            Some(app) => {
                let before = app.group.rollout().borrow().generation();
                app.group.reload();
                wait_rollout(&app.group, Some(before)).await;
                app
            }
            None => {
                let mut config = GroupConfig::new(&self.project.package, vec![executable.display().to_string()]);
                config.processes = 1;
                config.dev = true;
                config.settings = self.settings.clone();
                config.working_dir = Some(self.project.dir.clone());
                config.display_name = Some(format!("rgi-dev: {}", self.project.package));
                config.graceful_timeout = Duration::from_secs(3);
                match SupervisedGroup::start(config, Arc::clone(&self.dir)) {
                    Ok(group) => {
                        wait_rollout(&group, None).await;
                        let rollout = group.rollout();
                        self.app.insert(App { group, rollout })
                    }
                    Err(err) => {
                        say(&format!("cannot start {}: {err}", self.project.package));
                        return;
                    }
                }
            }
        };
        let phase = phase_of(&app.rollout.borrow_and_update(), app.group.pool());
        self.phase.send_replace(phase);
    }

    /// Keeps the phase in step with the process: a crash that will not
    /// restart shows its page, a recovery serves again.
    fn follow_rollout(&mut self) {
        let Some(app) = &mut self.app else { return };
        let rollout = app.rollout.borrow_and_update().clone();
        if matches!(*self.phase.borrow(), Phase::Waiting | Phase::BuildFailed { .. }) {
            return;
        }
        let changed = matches!(
            (&rollout, &*self.phase.borrow()),
            (Rollout::Failed { .. }, Phase::Serving(_)) | (Rollout::Ready { .. }, Phase::AppFailed { .. })
        );
        if changed {
            self.phase.send_replace(phase_of(&rollout, app.group.pool()));
        }
    }

    fn relative(&self, path: &std::path::Path) -> String {
        path.strip_prefix(&self.project.dir).unwrap_or(path).display().to_string()
    }
}

fn phase_of(rollout: &Rollout, pool: Pool) -> Phase {
    match rollout {
        Rollout::Failed { reason, .. } => {
            say(&format!("the application failed to start: {reason}"));
            Phase::AppFailed { pool, reason: format!("The application failed to start: it {reason}") }
        }
        _ => {
            // After a reload the old process may still be listed, draining.
            let serving = pool.group().backends().iter().rev().find(|b| b.state() == BackendState::Ready).cloned();
            if let Some(pid) = serving.and_then(|b| b.pid) {
                say(&format!("{} is running (pid {pid})", pool.group().name));
            }
            Phase::Serving(pool)
        }
    }
}

/// Waits until the generation after `before` (or the first) is ready or
/// has failed.
async fn wait_rollout(group: &SupervisedGroup, before: Option<u64>) {
    let mut rollout = group.rollout();
    let _ =
        rollout.wait_for(|r| before.is_none_or(|b| r.generation() > b) && !matches!(r, Rollout::Starting { .. })).await;
}

async fn next_change(watcher: Option<&mut SourceWatcher>) -> Option<PathBuf> {
    match watcher {
        Some(watcher) => watcher.next().await,
        None => std::future::pending().await,
    }
}

async fn rollout_changed(app: Option<&mut App>) -> Result<(), watch::error::RecvError> {
    match app {
        Some(app) => app.rollout.changed().await,
        None => std::future::pending().await,
    }
}

fn banner(project: &Project, local: &BindAddr, options: &Options, settings: &SettingsFile) {
    let url = match local {
        BindAddr::Tcp(addr) => format!("http://{addr}/"),
        BindAddr::Unix(path) => format!("unix:{}", path.display()),
    };
    let build = if options.release { "release build" } else { "debug build" };
    let reload = if options.noreload { "not watching the source (--noreload)" } else { "rebuilding on change" };
    let mut text = format!(
        "rgi-dev {}: {} (binary {}) in {}\n  serving on {url}\n  mode: dev, {build}, {reload}\n  settings: {}",
        env!("CARGO_PKG_VERSION"),
        project.package,
        project.bin,
        project.dir.display(),
        settings.shown,
    );
    for (prefix, dir) in &options.statics {
        text.push_str(&format!("\n  static: {prefix}/ -> {}", dir.display()));
    }
    text.push_str("\nQuit with Ctrl-C.");
    say(&text);
}

/// A line for the developer, on the terminal.
#[allow(clippy::print_stderr, reason = "the development server talks to the developer's terminal")]
fn say(text: &str) {
    eprintln!("{text}");
}
