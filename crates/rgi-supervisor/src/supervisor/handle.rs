//! What the rest of the program holds of a supervised group: its pool,
//! where its rollout stands, and the commands it takes.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::pool::{Group, Pool};

use super::group_loop::GroupLoop;
use super::process::Ids;
use super::{GroupConfig, SocketDir, SupervisorError};

/// What can be asked of a running group.
#[derive(Debug)]
pub(super) enum Command {
    Reload,
    Shutdown(oneshot::Sender<()>),
}

/// Asks a group to reload.
#[derive(Debug, Clone)]
pub struct Reloader {
    commands: mpsc::UnboundedSender<Command>,
}

impl Reloader {
    /// See [`SupervisedGroup::reload`].
    pub fn reload(&self) {
        let _ = self.commands.send(Command::Reload);
    }
}

/// Where the latest generation of a group's processes stands: the first
/// start is generation 0, each reload the next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rollout {
    /// Its processes are starting.
    Starting {
        /// The generation.
        generation: u64,
    },
    /// Every slot is served by a ready process of this generation.
    Ready {
        /// The generation.
        generation: u64,
    },
    /// A process of this generation failed to start (it may still be
    /// retried; a later `Ready` supersedes this).
    Failed {
        /// The generation.
        generation: u64,
        /// How the process ended.
        reason: String,
    },
}

impl Rollout {
    /// The generation it is about.
    pub fn generation(&self) -> u64 {
        match self {
            Rollout::Starting { generation } | Rollout::Ready { generation } | Rollout::Failed { generation, .. } => {
                *generation
            }
        }
    }
}

/// A supervised group: its pool and a handle on its loop.
#[derive(Debug)]
pub struct SupervisedGroup {
    group: Arc<Group>,
    commands: mpsc::UnboundedSender<Command>,
    rollout: watch::Receiver<Rollout>,
    task: JoinHandle<()>,
}

impl SupervisedGroup {
    /// Starts the group's processes and its supervising loop.
    pub fn start(config: GroupConfig, dir: Arc<SocketDir>) -> Result<Self, SupervisorError> {
        if config.command.is_empty() {
            return Err(SupervisorError::Config { group: config.name.clone(), reason: "empty command".into() });
        }
        if config.processes == 0 {
            return Err(SupervisorError::Config {
                group: config.name.clone(),
                reason: "processes must be at least 1".into(),
            });
        }
        let ids = Ids::resolve(&config)?;
        let (pool_tx, pool_rx) = mpsc::unbounded_channel();
        let (commands, commands_rx) = mpsc::unbounded_channel();
        let group = Group::new(&config.name, config.pool.clone(), Some(pool_tx));
        let (rollout_tx, rollout) = watch::channel(Rollout::Starting { generation: 0 });
        let task = GroupLoop::start(config, ids, dir, Arc::clone(&group), pool_rx, commands_rx, rollout_tx);
        Ok(Self { group, commands, rollout, task })
    }

    /// Where the latest generation stands, to watch (a development
    /// server waits on it after each rebuild).
    pub fn rollout(&self) -> watch::Receiver<Rollout> {
        self.rollout.clone()
    }

    /// The group's pool, to mount in a server.
    pub fn pool(&self) -> Pool {
        Pool::new(Arc::clone(&self.group))
    }

    /// The shared group state (for status pages).
    pub fn group(&self) -> &Arc<Group> {
        &self.group
    }

    /// Replaces every process gracefully: new ones start and become ready,
    /// then the old ones drain (DMN-8).
    pub fn reload(&self) {
        let _ = self.commands.send(Command::Reload);
    }

    /// A handle that can ask for a reload from elsewhere (a signal task).
    pub fn reloader(&self) -> Reloader {
        Reloader { commands: self.commands.clone() }
    }

    /// Stops every process: SIGTERM, then SIGKILL after the graceful
    /// timeout; returns when all have exited.
    pub async fn shutdown(self) {
        let (done, wait) = oneshot::channel();
        if self.commands.send(Command::Shutdown(done)).is_ok() {
            let _ = wait.await;
        }
        let _ = self.task.await;
    }
}
