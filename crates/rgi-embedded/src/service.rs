//! From a hyper request to an application call and back.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

use http::StatusCode;
use http_body::Body as _;
use hyper::body::Incoming;
use rgi_core::{Body, Deployment, Environ, Request};
use rgi_gateway::call_guarded;
use rgi_gateway::path::RequestTarget;

use crate::access::AccessRecord;
use crate::body::{RequestBody, ResponseBody};
use crate::config::Config;
use crate::conn::{ConnState, InFlight};
use crate::mounts::{Mount, Mounts};
use crate::respond;

/// What every connection of a server shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) mounts: Mounts,
    pub(crate) deployment: Arc<Deployment>,
    /// The server is going: HTTP/1 responses close their connection.
    pub(crate) draining: std::sync::atomic::AtomicBool,
}

/// The hyper service of one connection.
pub(crate) struct ConnService {
    shared: Arc<Shared>,
    info: rgi_gateway::Connection,
    state: Arc<ConnState>,
}

impl ConnService {
    pub(crate) fn new(shared: Arc<Shared>, info: rgi_gateway::Connection, state: Arc<ConnState>) -> Self {
        Self { shared, info, state }
    }
}

impl ConnService {
    /// Serves one request. An `async fn` the connection names through
    /// `service_fn`, so hyper holds its future without a box.
    pub(crate) fn call(
        &self,
        request: http::Request<Incoming>,
    ) -> impl Future<Output = Result<http::Response<ResponseBody>, Infallible>> + Send + 'static {
        let in_flight = self.state.start();
        handle(Arc::clone(&self.shared), self.info, request, in_flight)
    }
}

/// A request the server answers itself, and why.
struct Refusal {
    status: StatusCode,
    message: String,
    close: bool,
}

impl Refusal {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self { status, message: message.into(), close: true }
    }
}

async fn handle(
    shared: Arc<Shared>,
    info: rgi_gateway::Connection,
    request: http::Request<Incoming>,
    in_flight: InFlight,
) -> Result<http::Response<ResponseBody>, Infallible> {
    let (mut head, incoming) = request.into_parts();
    let mut info = info;
    // Behind a balancer: the client it names, if it is trusted (PRX-5).
    rgi_gateway::proxy::forwarded::apply(&shared.config.trusted_proxies, &mut info, &mut head.headers);
    let mut access = (shared.config.access_log || shared.config.access_sink.is_some())
        .then(|| Box::new(AccessRecord::new(info.remote, &head, shared.config.access_sink.clone())));
    let mut stream = None;
    // An HTTP/1.1 upgrade request (a WebSocket): its Upgrade and
    // Connection fields reach the application, which may answer 101 (UPG-1).
    let upgrade = (head.version == http::Version::HTTP_11)
        .then(|| rgi_gateway::headers::upgrade_requested(&head.headers))
        .flatten();
    let mut response = match prepare(&shared, &info, &mut head, &incoming, upgrade.is_some()) {
        Err(refusal) => {
            // SRV-11: refusals are logged with the reason, never silently.
            tracing::warn!(
                remote = ?info.remote, method = %head.method, target = %head.uri,
                status = refusal.status.as_u16(), reason = %refusal.message, "request refused"
            );
            respond::plain(refusal.status, &refusal.message, refusal.close)
        }
        Ok((mount, environ)) => {
            let mut offered = None;
            if let Some(protocol) = &upgrade {
                head.headers.insert(http::header::UPGRADE, protocol.clone());
                head.headers.insert(http::header::CONNECTION, http::HeaderValue::from_static("upgrade"));
                offered = crate::upgrade::offer(&mut head);
            }
            // Only what the answer needs stays alive across the await: the
            // request itself moves into the application's future now.
            let method = head.method.clone();
            let version = head.version;
            let target = head.uri.clone();
            let request = Request::new(http::Request::from_parts(head, request_body(&shared, incoming)), environ);
            match call_guarded(&*mount.app, request).await {
                Ok(mut response) if response.status() == http::StatusCode::SWITCHING_PROTOCOLS && upgrade.is_some() => {
                    switching(&mut response, &in_flight, &method, &target, offered);
                    response
                }
                Ok(mut response) => {
                    stream = respond::finish(&mut response, &method, version, &target);
                    if version < http::Version::HTTP_2 && shared.draining.load(std::sync::atomic::Ordering::Relaxed) {
                        respond::close_after(&mut response);
                    }
                    response
                }
                Err(err) => failed(&err, &method, &target),
            }
        }
    };
    if let Some(value) = &shared.config.server_header {
        // HDR-8; hyper adds Date.
        response.headers_mut().entry(http::header::SERVER).or_insert_with(|| value.clone());
    }
    if let Some(access) = access.as_mut() {
        access.entry.status = response.status().as_u16();
    }
    Ok(response.map(|body| ResponseBody::new(body, access, stream, in_flight)))
}

/// A `101` in answer to an upgrade request (UPG-3): it names the protocol
/// and goes out without a body; once hyper has written it, the connection
/// is the application's, and the server keeps a handle on it for its
/// shutdown.
fn switching(
    response: &mut http::Response<Body>,
    in_flight: &InFlight,
    method: &http::Method,
    target: &http::Uri,
    offered: Option<crate::upgrade::Offered>,
) {
    if !response.headers().contains_key(http::header::UPGRADE) {
        tracing::error!(%method, %target, "the application answered 101 without an Upgrade field; answering 500");
        *response =
            respond::plain(StatusCode::INTERNAL_SERVER_ERROR, "the application returned an invalid response", false);
        return;
    }
    response.headers_mut().insert(http::header::CONNECTION, http::HeaderValue::from_static("upgrade"));
    // A body is what the application sends on the connection (UPG-10);
    // without one, the application took the connection itself.
    let outgoing = std::mem::take(response.body_mut());
    if let (Some(offered), false) = (offered, outgoing.is_end_stream()) {
        offered.relay(outgoing);
    }
    in_flight.state().upgrading();
}

/// The checks that happen before any application sees the request
/// (SRV-2, PATH-3, ENV-6, BODY-4, SRV-8), and its gateway variables.
fn prepare<'a>(
    shared: &'a Shared,
    info: &rgi_gateway::Connection,
    head: &mut http::request::Parts,
    incoming: &Incoming,
    upgrade: bool,
) -> Result<(&'a Mount, Environ), Refusal> {
    let limits = &shared.config.limits;
    let uri_len = head.uri.path_and_query().map_or(0, |pq| pq.as_str().len());
    if uri_len > limits.max_uri_bytes {
        return Err(Refusal::new(
            StatusCode::URI_TOO_LONG,
            format!("request target of {uri_len} bytes exceeds the limit of {}", limits.max_uri_bytes),
        ));
    }
    let mut chunked = false;
    for (name, value) in &head.headers {
        let size = name.as_str().len() + value.len();
        if size > limits.max_header_field_bytes {
            return Err(Refusal::new(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                format!("header field {name} of {size} bytes exceeds the limit of {}", limits.max_header_field_bytes),
            ));
        }
        chunked |= name == http::header::TRANSFER_ENCODING;
    }
    if chunked {
        check_framing(&head.headers)?;
    }
    // The connection's bytes after the head belong to the new protocol: a
    // body would be read as its first bytes (UPG-2).
    if upgrade && (chunked || incoming.size_hint().exact().is_none_or(|n| n > 0)) {
        return Err(Refusal::new(StatusCode::BAD_REQUEST, "an upgrade request has no body"));
    }
    if let (Some(max), Some(len)) = (limits.max_body_bytes, incoming.size_hint().exact()) {
        if len > max {
            return Err(Refusal::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body of {len} bytes exceeds the limit of {max}"),
            ));
        }
    }
    let target =
        RequestTarget::from_uri(&head.uri).map_err(|e| Refusal::new(StatusCode::BAD_REQUEST, e.to_string()))?;
    let Some((mount, mut split)) = shared.mounts.route(&target) else {
        let mut refusal = Refusal::new(StatusCode::NOT_FOUND, "no application is mounted at this path");
        refusal.close = false;
        return Err(refusal);
    };
    if shared.config.forwarded_prefix {
        if let Some(prefix) = head.headers.remove(rgi_gateway::proxy::forwarded::X_FORWARDED_PREFIX) {
            if mount.prefix.is_empty() {
                split = forwarded_split(&target, &prefix)?;
            }
        }
    }
    let environ = rgi_gateway::environ::from_http(head, target, split, info, Arc::clone(&shared.deployment))
        .map_err(|e| Refusal::new(StatusCode::BAD_REQUEST, e.to_string()))?;
    Ok((mount, environ))
}

/// Where SCRIPT_NAME ends when the front names the mount prefix in
/// `X-Forwarded-Prefix` (UPG-6): the path must lie under it.
fn forwarded_split(target: &RequestTarget, prefix: &http::HeaderValue) -> Result<usize, Refusal> {
    let text = String::from_utf8_lossy(prefix.as_bytes());
    let prefix = rgi_gateway::path::validate_prefix(&text)
        .map_err(|e| Refusal::new(StatusCode::BAD_REQUEST, format!("X-Forwarded-Prefix: {e}")))?;
    target.mount_split(&prefix).ok_or_else(|| {
        Refusal::new(StatusCode::BAD_REQUEST, format!("the request path is not under X-Forwarded-Prefix {prefix:?}"))
    })
}

/// The transfer codings hyper lets through (SRV-1). hyper itself refuses
/// `chunked` not last, and reads a request with both Content-Length and
/// Transfer-Encoding as chunked and closes the connection after it.
fn check_framing(headers: &http::HeaderMap) -> Result<(), Refusal> {
    let all: Vec<&str> = headers
        .get_all(http::header::TRANSFER_ENCODING)
        .iter()
        .flat_map(|v| v.to_str().unwrap_or("\u{0}").split(','))
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    match all.as_slice() {
        [only] if only.eq_ignore_ascii_case("chunked") => Ok(()),
        _ => Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            format!("transfer coding {:?} is not accepted; send chunked alone", all.join(", ")),
        )),
    }
}

/// The request body the application reads: hyper's, with the read
/// timeout (BODY-5) and the size limit (BODY-4).
fn request_body(shared: &Shared, incoming: Incoming) -> Body {
    if incoming.is_end_stream() {
        return Body::empty();
    }
    let limits = &shared.config.limits;
    let body = Body::wrap(RequestBody::new(incoming, limits.body_read_timeout));
    match limits.max_body_bytes {
        Some(max) => rgi_gateway::limit(body, max),
        None => body,
    }
}

/// The answer to an application that failed before its response (ERR-1,
/// ERR-2), or whose request body failed it (BODY-4, BODY-5).
/// A request that failed before a response (a too large or too slow body)
/// leaves its body unread, so the connection ends after the answer.
fn failed(err: &rgi_core::Error, method: &http::Method, target: &http::Uri) -> rgi_core::Response {
    let mut response = rgi_gateway::respond::failed(err, method, target);
    if response.status() != StatusCode::INTERNAL_SERVER_ERROR {
        respond::close_after(&mut response);
    }
    response
}
