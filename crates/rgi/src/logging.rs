//! Logging for the entry point: `tracing` to stderr (DEP-6).

use tracing_subscriber::EnvFilter;

/// Installs the log subscriber: the filter from `RGI_LOG` (tracing's
/// `EnvFilter` syntax), by default `info`. Does nothing if the
/// application already installed one.
pub(crate) fn init() {
    let filter = EnvFilter::try_from_env("RGI_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(std::io::stderr).try_init();
}
