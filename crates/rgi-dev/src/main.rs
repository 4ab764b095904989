// rgi-dev examples/hello            # then edit examples/hello/src/lib.rs and reload the page
//! `rgi-dev`: the development server's command line (see `rgi-dev --help`).
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let options = rgi_dev::Options::parse();
    // Quiet by default: the developer wants the request log, the build and
    // the application's own output, not the supervisor's bookkeeping.
    if let Err(err) = rgi_embedded::init_logging("warn") {
        tracing::error!("{err}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            tracing::error!("cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(rgi_dev::run(options, rgi_embedded::shutdown_signal())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err}");
            ExitCode::from(2)
        }
    }
}
