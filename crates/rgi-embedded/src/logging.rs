//! The log subscriber every rgi binary installs: `tracing` to stderr,
//! filtered by `RGI_LOG`, else `RUST_LOG`, else a default (DEP-6).

use tracing_subscriber::EnvFilter;

/// Installs the log subscriber (unless the process already has one),
/// filtered by `RGI_LOG`, else `RUST_LOG` (tracing's `EnvFilter` syntax,
/// e.g. `info,rgi_daemon=debug`), else `default`.
///
/// A malformed filter is an error naming the variable and its value; the
/// subscriber is then installed with `default`, so the caller can log the
/// error before it exits.
///
/// ```
/// // In a binary's main:
/// if let Err(err) = rgi_embedded::init_logging("info") {
///     tracing::error!("{err}");
///     // ... and exit with a failure status.
/// }
/// ```
pub fn init_logging(default: &str) -> Result<(), String> {
    let (filter, error) = match chosen_filter() {
        None => (EnvFilter::new(default), None),
        Some((var, value)) => match EnvFilter::builder().parse(&value) {
            Ok(filter) => (filter, None),
            Err(e) => (EnvFilter::new(default), Some(format!("{var}={value:?} is not a valid log filter: {e}"))),
        },
    };
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(std::io::stderr).try_init();
    error.map_or(Ok(()), Err)
}

/// The variable that sets the filter, and its value: `RGI_LOG` first, so
/// rgi's level can differ from the application's own `RUST_LOG` habits.
fn chosen_filter() -> Option<(&'static str, String)> {
    ["RGI_LOG", "RUST_LOG"]
        .into_iter()
        .find_map(|var| std::env::var(var).ok().filter(|v| !v.trim().is_empty()).map(|v| (var, v)))
}
