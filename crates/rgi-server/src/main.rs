// cargo build --release && target/release/rgi-server --config examples/daemon.toml --listen 127.0.0.1:8000
//! `rgi-server --config FILE [--listen ADDR]...`: runs the production
//! server. Exits 0 after a clean stop, 2 on a bad configuration, 1 on any
//! other failure.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use rgi_embedded::BindAddr;
use rgi_server::{run, Config, ServerError};

/// The rgi production server: listeners, daemon process groups and mounts
/// from one TOML file.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// The configuration file.
    #[arg(long, short)]
    config: PathBuf,
    /// Listen here instead of the file's [server] listen (repeatable):
    /// host:port, [ipv6]:port or unix:/path.
    #[arg(long)]
    listen: Vec<String>,
    /// Check the configuration and exit.
    #[arg(long)]
    check: bool,
    /// Print the status page of the server running with this
    /// configuration (its first listen address, or --listen) and exit.
    #[arg(long, conflicts_with = "check")]
    status: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(err) = rgi_embedded::init_logging("info") {
        tracing::error!("{err}");
        return ExitCode::from(2);
    }
    rgi_embedded::raise_open_files_limit();
    let config = match Config::load(&cli.config) {
        Ok(config) => config,
        Err(err) => {
            tracing::error!("{err}");
            return ExitCode::from(2);
        }
    };
    let listen: Result<Vec<BindAddr>, _> = cli.listen.iter().map(|a| a.parse()).collect();
    let listen = match listen {
        Ok(listen) => listen,
        Err(err) => {
            tracing::error!("--listen: {err}");
            return ExitCode::from(2);
        }
    };
    if cli.status {
        let Some(path) = config.status.as_deref() else {
            tracing::error!("{}: no [server] status path to ask", cli.config.display());
            return ExitCode::from(2);
        };
        let Some(addr) = listen.first().or(config.listen.first()) else {
            tracing::error!("{}: no address to ask: give --listen", cli.config.display());
            return ExitCode::from(2);
        };
        return match rgi_server::status::query(addr, path) {
            Ok(page) => {
                print_page(&page);
                ExitCode::SUCCESS
            }
            Err(err) => {
                tracing::error!("{err}");
                ExitCode::FAILURE
            }
        };
    }
    let problems = config.preflight();
    if cli.check {
        if !problems.is_empty() {
            for problem in &problems {
                tracing::error!("{problem}");
            }
            return ExitCode::from(2);
        }
        tracing::info!(groups = config.groups.len(), mounts = config.mounts.len(), "configuration is valid");
        return ExitCode::SUCCESS;
    }
    for problem in &problems {
        tracing::warn!("{problem}");
    }
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = config.threads {
        runtime.worker_threads(threads);
    }
    let runtime = match runtime.enable_all().build() {
        Ok(rt) => rt,
        Err(err) => {
            tracing::error!("cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(config, listen, std::future::pending())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(
            err @ (ServerError::Config(_)
            | ServerError::NoListener
            | ServerError::Static { .. }
            | ServerError::Http(rgi_embedded::Error::Tls { .. })),
        ) => {
            tracing::error!("{err}");
            ExitCode::from(2)
        }
        Err(err) => {
            tracing::error!("{err}");
            ExitCode::FAILURE
        }
    }
}

#[allow(clippy::print_stdout, reason = "the status page is this command's output")]
fn print_page(page: &str) {
    print!("{page}");
}
