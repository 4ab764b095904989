//! Several applications in one server, each at a URL prefix (PATH-4).

use std::fmt;
use std::sync::Arc;

use rgi_core::Application;
use rgi_gateway::path::{validate_prefix, RequestTarget};

use crate::error::Error;

/// The mount table: prefixes and their applications, longest prefix first.
///
/// ```
/// use rgi_core::{from_fn, Body};
/// use rgi_embedded::Mounts;
///
/// let app = || from_fn(|_| async { Ok(http::Response::new(Body::empty())) });
/// let mut mounts = Mounts::new();
/// mounts.add("/", app()).unwrap();
/// mounts.add("/api", app()).unwrap();
/// assert!(mounts.add("/api/", app()).is_err()); // a trailing slash is refused
/// ```
#[derive(Clone, Default)]
pub struct Mounts {
    entries: Vec<Mount>,
}

#[derive(Clone)]
pub(crate) struct Mount {
    pub(crate) prefix: String,
    pub(crate) app: Arc<dyn Application>,
}

impl Mounts {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Mounts `app` at `prefix` (`/` or the empty string for the root).
    /// Fails on an invalid prefix or one already mounted.
    pub fn add(&mut self, prefix: &str, app: impl Application) -> Result<&mut Self, Error> {
        self.add_arc(prefix, Arc::new(app))
    }

    /// Like [`add`](Self::add), for an application already shared.
    pub fn add_arc(&mut self, prefix: &str, app: Arc<dyn Application>) -> Result<&mut Self, Error> {
        let prefix = validate_prefix(prefix).map_err(|e| Error::Mount(e.to_string()))?;
        if self.entries.iter().any(|m| m.prefix == prefix) {
            return Err(Error::Mount(format!("{prefix:?} is mounted twice")));
        }
        self.entries.push(Mount { prefix, app });
        // Longest first, so the first match is the longest (PATH-4).
        self.entries.sort_by_key(|m| std::cmp::Reverse(m.prefix.len()));
        Ok(self)
    }

    /// Whether nothing is mounted.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The application for `target` and where its SCRIPT_NAME ends.
    pub(crate) fn route(&self, target: &RequestTarget) -> Option<(&Mount, usize)> {
        self.entries.iter().find_map(|m| target.mount_split(&m.prefix).map(|at| (m, at)))
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Mount> {
        self.entries.iter()
    }
}

impl fmt::Debug for Mounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.entries.iter().map(|m| &m.prefix)).finish()
    }
}

/// A mount table is itself an application: it dispatches on PATH_INFO,
/// moving the matched prefix into SCRIPT_NAME (`Environ::shift_prefix`), so
/// the same table works embedded, in a daemon, or mounted below another
/// prefix. Unmatched paths get `404` (SRV-8).
#[rgi_core::async_trait]
impl rgi_core::Application for Mounts {
    async fn call(&self, mut request: rgi_core::Request) -> Result<rgi_core::Response, rgi_core::Error> {
        for mount in &self.entries {
            if request.environ_mut().shift_prefix(&mount.prefix) {
                return mount.app.call(request).await;
            }
        }
        Ok(crate::respond::plain(http::StatusCode::NOT_FOUND, "no application is mounted at this path", false))
    }

    async fn startup(&self) -> Result<(), rgi_core::Error> {
        for mount in &self.entries {
            mount.app.startup().await?;
        }
        Ok(())
    }

    async fn shutdown(&self) {
        for mount in &self.entries {
            mount.app.shutdown().await;
        }
    }
}
