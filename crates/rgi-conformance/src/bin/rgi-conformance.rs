// cargo run -p rgi-conformance -- http://127.0.0.1:8000        (echo running there)
// cargo run -p rgi-conformance -- --http2 --cacert examples/tls/cert.pem https://127.0.0.1:8443/echo
//! Runs the rgi server suite against a server running the echo
//! application: one line per vector, then `N passed, M failed, K skipped`.
//! Exits 1 if anything failed, 2 if the suite could not run.

use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use rgi_conformance::{run, vectors, Options, Profile, Protocol, Target};

/// Check a server against the rgi conformance vectors.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Where the echo application answers: http://HOST:PORT[/PREFIX].
    url: String,
    /// Which vectors apply: rgi (all), wsgi-reference (skips rgi-only
    /// vectors, for gunicorn and friends), front (skips what a front server
    /// such as nginx rewrites).
    #[arg(long, value_enum, default_value = "rgi")]
    profile: ProfileArg,
    /// Read vectors from this directory instead of the built-in ones.
    #[arg(long)]
    vectors: Option<PathBuf>,
    /// Run only vectors whose id contains this.
    #[arg(long)]
    only: Option<String>,
    /// The front server in the way (apache, caddy, haproxy, nginx...):
    /// skips the vectors whose front-quirks name it, saying why.
    #[arg(long)]
    front: Option<String>,
    /// Seconds to wait for any one answer.
    #[arg(long, default_value_t = 10)]
    timeout: u64,
    /// Send the vectors as HTTP/2 (prior knowledge in cleartext, ALPN h2
    /// over TLS); those about HTTP/1 framing are skipped.
    #[arg(long)]
    http2: bool,
    /// For an https:// URL: the PEM certificates to trust.
    #[arg(long)]
    cacert: Option<PathBuf>,
    /// The URL is a PROXY protocol listener trusting 127.0.0.1 and
    /// 10.0.0.0/8: each vector is sent after a PROXY header, and the
    /// proxy-listener vectors run.
    #[arg(long)]
    proxy_protocol: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ProfileArg {
    Rgi,
    WsgiReference,
    Front,
}

#[allow(clippy::print_stdout, clippy::print_stderr, reason = "a command-line tool reports on its terminal")]
fn main() -> ExitCode {
    let cli = Cli::parse();
    let target = match Target::parse(&cli.url) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("rgi-conformance: {e}");
            return ExitCode::from(2);
        }
    };
    let loaded = match &cli.vectors {
        Some(dir) => vectors::load_dir(dir),
        None => vectors::builtin(),
    };
    let vectors = match loaded {
        Ok(v) => v,
        Err(e) => {
            eprintln!("rgi-conformance: {e}");
            return ExitCode::from(2);
        }
    };
    let profile = match cli.profile {
        ProfileArg::Rgi => Profile::Rgi,
        ProfileArg::WsgiReference => Profile::WsgiReference,
        ProfileArg::Front => Profile::Front,
    };
    let tls = match (cli.url.starts_with("https://"), &cli.cacert) {
        (false, _) => None,
        (true, Some(roots)) => match rgi_conformance::client::tls_client(roots) {
            Ok(config) => Some(config),
            Err(e) => {
                eprintln!("rgi-conformance: --cacert {e}");
                return ExitCode::from(2);
            }
        },
        (true, None) => {
            eprintln!("rgi-conformance: an https:// URL needs --cacert FILE (the certificates to trust)");
            return ExitCode::from(2);
        }
    };
    let options = Options {
        profile,
        only: cli.only,
        front: cli.front,
        timeout: Duration::from_secs(cli.timeout),
        protocol: if cli.http2 { Protocol::Http2 } else { Protocol::Http1 },
        tls,
        proxy_listener: cli.proxy_protocol,
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("rgi-conformance: cannot start a runtime: {e}");
            return ExitCode::from(2);
        }
    };
    // One clear line, not one failure per vector, when nothing listens.
    if let Err(why) = reachable(&target.authority, options.timeout) {
        eprintln!("rgi-conformance: nothing answers at {}: {why}; start the echo application there first", cli.url);
        return ExitCode::from(2);
    }
    let report = runtime.block_on(run(&target, &vectors, &options));
    for result in &report.results {
        println!("{result}");
    }
    println!("{}", report.summary());
    if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Whether a TCP connection to `authority` (`host:port`) can be opened.
fn reachable(authority: &str, timeout: Duration) -> Result<(), String> {
    let addrs: Vec<_> = authority.to_socket_addrs().map_err(|e| format!("cannot resolve {authority}: {e}"))?.collect();
    let mut last = format!("{authority} resolves to no address");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(_) => return Ok(()),
            Err(e) => last = format!("{addr}: {e}"),
        }
    }
    Err(last)
}
