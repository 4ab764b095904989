//! The daemon socket's HTTP side: connections that do not speak FastCGI
//! are served as HTTP/1.1 by an embedded server over the same
//! application, so a front can reach the daemon with upgrades (UPG-6).

use std::sync::Arc;

use rgi_core::{Application, Deployment};
use rgi_daemon::daemon::HttpSide;
use rgi_daemon::socket::StdStream;
use rgi_embedded::{Config, HandedStream, Limits, Server};

/// The HTTP side of a daemon serving `app`.
///
/// Every client of a daemon socket is a front, which could as well set
/// `REMOTE_ADDR` and SCRIPT_NAME over FastCGI: so its `X-Forwarded-For`
/// (last entry), `-Proto`, `-Host` and `X-Forwarded-Prefix` are taken as
/// FastCGI's parameters would be.
pub(crate) fn side(
    app: Arc<dyn Application>,
    deployment: Arc<Deployment>,
    limits: &Limits,
) -> Result<HttpSide, rgi_embedded::Error> {
    let mut config = Config::default();
    config.limits = limits.clone();
    config.trusted_proxies = rgi_gateway::proxy::Trusted::any_peer();
    config.forwarded_prefix = true;
    config.server_header = None;
    config.access_log = std::env::var_os("RGI_ACCESS_LOG").is_some_and(|v| v != "0" && !v.is_empty());
    // Under the development server a stop is a rebuild: open WebSockets
    // close at once, so the browser reconnects to the new build.
    let dev = deployment.mode() == rgi_core::Mode::Dev;
    let server = Server::builder().config(config).deployment(deployment).mount_arc("/", app)?.build();
    Ok(Arc::new(move |stream, stop: tokio_util::sync::CancellationToken, abort| {
        let server = server.clone();
        let abort = if dev { stop.clone() } else { abort };
        Box::pin(async move {
            let stream = match stream {
                StdStream::Unix(unix) => HandedStream::Unix(unix),
                StdStream::Tcp(tcp) => HandedStream::Tcp(tcp),
            };
            server.serve_connection(stream, stop, abort).await;
        })
    }))
}
