//! Deployment facts: how and where the application runs (ENV-9).

use std::fmt;
use std::sync::Arc;

use crate::settings::Settings;

/// The deployment mode an application runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Mode {
    /// Inside the HTTP server's own process.
    Embedded,
    /// In a supervised daemon process, behind a front over FastCGI.
    Daemon,
    /// Under the development server.
    Dev,
}

impl Mode {
    /// `"embedded"`, `"daemon"` or `"dev"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Embedded => "embedded",
            Mode::Daemon => "daemon",
            Mode::Dev => "dev",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Facts about the process serving the request, the same for all of its
/// requests: made once at start and shared.
///
/// ```
/// use rgi_core::{Deployment, Mode, Settings};
///
/// let d = Deployment::new(Mode::Embedded, Settings::empty().into()).with_multiprocess(false);
/// assert_eq!(d.mode(), Mode::Embedded);
/// assert!(d.multithread());
/// assert_eq!(d.process_id(), std::process::id());
/// ```
#[derive(Clone)]
pub struct Deployment {
    mode: Mode,
    multithread: bool,
    multiprocess: bool,
    process_id: u32,
    settings: Arc<Settings>,
}

impl Deployment {
    /// Facts for this process: multithreaded, single-process, its own pid.
    pub fn new(mode: Mode, settings: Arc<Settings>) -> Self {
        Self { mode, multithread: true, multiprocess: false, process_id: std::process::id(), settings }
    }

    /// Whether requests may run on several threads at once (`wsgi.multithread`).
    pub fn with_multithread(mut self, yes: bool) -> Self {
        self.multithread = yes;
        self
    }

    /// Whether other processes serve the same application (`wsgi.multiprocess`).
    pub fn with_multiprocess(mut self, yes: bool) -> Self {
        self.multiprocess = yes;
        self
    }

    /// The process the facts describe, when it is not this one (a server
    /// describing a process it supervises, a test).
    pub fn with_process_id(mut self, pid: u32) -> Self {
        self.process_id = pid;
        self
    }

    /// The mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// `wsgi.multithread`.
    pub fn multithread(&self) -> bool {
        self.multithread
    }

    /// `wsgi.multiprocess`.
    pub fn multiprocess(&self) -> bool {
        self.multiprocess
    }

    /// The id of the process running the application.
    pub fn process_id(&self) -> u32 {
        self.process_id
    }

    /// The settings in use (SET-3).
    pub fn settings(&self) -> &Settings {
        &self.settings
    }
}

impl fmt::Debug for Deployment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Deployment")
            .field("mode", &self.mode)
            .field("multithread", &self.multithread)
            .field("multiprocess", &self.multiprocess)
            .field("process_id", &self.process_id)
            .field("settings", &self.settings.path())
            .finish()
    }
}
