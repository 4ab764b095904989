//! The application the development server mounts: it holds requests while
//! a build is under way, answers with the error page while the source does
//! not compile or the application cannot run, and otherwise forwards to
//! the application's process.

use std::sync::Arc;
use std::time::Duration;

use rgi_core::{async_trait, Application, Error, Request, Response};
use rgi_supervisor::{Pool, Refusal};
use tokio::sync::watch;

use crate::cargo_build::Diagnostic;
use crate::pages;

/// How long a request waits for a build before it gets a "still
/// building" page instead.
pub(crate) const WAIT_LIMIT: Duration = Duration::from_secs(120);

/// Where the development server stands.
#[derive(Debug, Clone)]
pub(crate) enum Phase {
    /// Building, or starting what was built: requests wait.
    Waiting,
    /// The application serves.
    Serving(Pool),
    /// The source does not compile.
    BuildFailed {
        /// The compiler's errors.
        errors: Arc<Vec<Diagnostic>>,
        /// Cargo's last lines.
        cargo_output: Arc<Vec<String>>,
    },
    /// What was built does not start (or keeps crashing).
    AppFailed {
        /// Its pool, for the record of its last exit.
        pool: Pool,
        /// What went wrong.
        reason: String,
    },
}

/// The mounted application.
#[derive(Debug, Clone)]
pub(crate) struct DevFront {
    package: String,
    phase: watch::Receiver<Phase>,
}

impl DevFront {
    /// Serves what `phase` says.
    pub(crate) fn new(package: &str, phase: watch::Receiver<Phase>) -> Self {
        Self { package: package.to_string(), phase }
    }
}

#[async_trait]
impl Application for DevFront {
    async fn call(&self, request: Request) -> Result<Response, Error> {
        let mut phase = self.phase.clone();
        let waited = tokio::time::timeout(WAIT_LIMIT, async {
            phase.wait_for(|p| !matches!(p, Phase::Waiting)).await.map(|current| current.clone())
        })
        .await;
        let current = match waited {
            Ok(Ok(current)) => current,
            // The server is stopping, or the build takes too long.
            Ok(Err(_)) | Err(_) => return Ok(pages::still_building(&self.package, WAIT_LIMIT.as_secs())),
        };
        match current {
            Phase::Serving(pool) => {
                let response = pool.call(request).await?;
                match response.extensions().get::<Refusal>() {
                    // The process died under the request, or none is up.
                    Some(refusal) => {
                        Ok(pages::app_failed(&self.package, &refusal.message, pool.group().last_exit().as_ref()))
                    }
                    None => Ok(response),
                }
            }
            Phase::BuildFailed { errors, cargo_output } => {
                Ok(pages::build_failed(&self.package, &errors, &cargo_output))
            }
            Phase::AppFailed { pool, reason } => {
                Ok(pages::app_failed(&self.package, &reason, pool.group().last_exit().as_ref()))
            }
            Phase::Waiting => Ok(pages::still_building(&self.package, WAIT_LIMIT.as_secs())),
        }
    }
}
