//! Liveness and readiness, for a balancer's health checks and for
//! Kubernetes' probes (SRV-16, SRV-17).

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use http::StatusCode;
use rgi_core::{async_trait, Application, Error, Request, Response};
use rgi_embedded::health::health_response;
pub use rgi_embedded::health::Liveness;
use rgi_supervisor::{BackendState, Group, GroupHealth};

/// Where the server stands, as the readiness endpoint tells it.
#[derive(Debug, Default)]
pub struct Phase(AtomicU8);

const STARTING: u8 = 0;
const SERVING: u8 = 1;
const DRAINING: u8 = 2;

impl Phase {
    /// Every group has started its first processes (or failed to).
    pub fn serving(&self) {
        let _ = self.0.compare_exchange(STARTING, SERVING, Ordering::AcqRel, Ordering::Acquire);
    }

    /// The server is stopping: not ready from now on.
    pub fn draining(&self) {
        self.0.store(DRAINING, Ordering::Release);
    }
}

/// The readiness endpoint: `200 ready` when the server is serving and
/// every group has a process taking requests; else `503` with the reason:
/// starting, draining, or the group that cannot serve.
#[derive(Debug, Clone)]
pub struct Readiness {
    groups: Vec<Arc<Group>>,
    phase: Arc<Phase>,
}

impl Readiness {
    /// Readiness of the server in `phase`, serving `groups`.
    pub fn new(groups: Vec<Arc<Group>>, phase: Arc<Phase>) -> Self {
        Self { groups, phase }
    }

    /// Why the server is not ready, or `None` when it is.
    pub fn not_ready(&self) -> Option<String> {
        match self.phase.0.load(Ordering::Acquire) {
            STARTING => return Some("starting".into()),
            DRAINING => return Some("draining: the server is stopping".into()),
            _ => {}
        }
        for group in &self.groups {
            match group.health() {
                GroupHealth::Failed(reason) | GroupHealth::Failing(reason) => {
                    return Some(format!("group {} cannot serve: {reason}", group.name))
                }
                GroupHealth::Up => {}
            }
            if !group.backends().iter().any(|b| b.state() == BackendState::Ready) {
                return Some(format!("group {} has no process taking requests", group.name));
            }
        }
        None
    }
}

#[async_trait]
impl Application for Readiness {
    async fn call(&self, _request: Request) -> Result<Response, Error> {
        Ok(match self.not_ready() {
            None => health_response(StatusCode::OK, "ready"),
            Some(reason) => health_response(StatusCode::SERVICE_UNAVAILABLE, &format!("not ready: {reason}")),
        })
    }
}
