//! One request on a daemon: gateway variables from PARAMS, the body from
//! STDIN, the application called, the answer written.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Method, StatusCode};
use http_body::{Frame, SizeHint};
use rgi_core::{Body, Deployment, Error, Request};
use rgi_fastcgi::{Params, ParamsError};
use rgi_gateway::call_guarded;
use rgi_gateway::cgi::UpgradeAsked;
use tokio::sync::mpsc;

use super::conn::Done;
use rgi_gateway::respond::plain;

use super::response::send;
use super::stream::Writer;
use super::{DaemonConfig, Shared};

/// A request's body as the daemon has it when the request starts.
pub(crate) enum Stdin {
    /// All of it came with the PARAMS (often: nothing).
    Whole(Vec<Bytes>),
    /// More is on its way.
    Streaming(mpsc::Receiver<Bytes>),
}

/// Runs a request whose PARAMS ended: its response, and the method the
/// writer needs (HEAD has no body).
pub(crate) async fn run(
    shared: Arc<Shared>,
    id: u16,
    params: Result<Params, ParamsError>,
    stdin: Stdin,
) -> (rgi_core::Response, Method) {
    let built = params
        .map_err(|err| match err {
            ParamsError::TooLarge(_) => (StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, err.to_string()),
            _ => (StatusCode::BAD_REQUEST, err.to_string()),
        })
        .and_then(|params| build(&shared.config, &shared.deployment, &params, stdin));
    match built {
        Err((status, message)) => {
            // CGI-5: the request fails, the connection and daemon go on.
            tracing::warn!(id, status = status.as_u16(), reason = %message, "request refused");
            (plain(status, &message), Method::GET)
        }
        Ok(request) => call(&shared, request).await,
    }
}

/// Writes what `work` answers; how the request ended.
pub(crate) async fn finish(
    id: u16,
    keep_conn: bool,
    work: impl std::future::Future<Output = (rgi_core::Response, Method)>,
    writer: Writer,
) -> Done {
    let (response, method) = work.await;
    match send(id, response, &method, &writer).await {
        Ok(()) => Done::Ended { id, keep_conn },
        Err(()) => Done::Broken { id },
    }
}

/// The request a front's PARAMS and STDIN make, or the status and reason
/// it is refused with.
pub(super) fn build(
    config: &DaemonConfig,
    deployment: &Arc<Deployment>,
    params: &Params,
    stdin: Stdin,
) -> Result<Request, (StatusCode, String)> {
    let (head, environ) = rgi_gateway::cgi::from_vars(params.iter(), Arc::clone(deployment))
        .map_err(|e| (StatusCode::BAD_REQUEST, e.to_string()))?;
    // The front passed an upgrade request on, but no 101 can go back over
    // a FastCGI connection (UPG-5).
    if let Some(UpgradeAsked(protocol)) = head.extensions.get() {
        let protocol = String::from_utf8_lossy(protocol.as_bytes());
        return Err((
            StatusCode::NOT_IMPLEMENTED,
            format!(
                "upgrading to {protocol:?} is not available over FastCGI, which cannot carry the upgraded \
                 connection: the front must send upgrade requests to this daemon's socket over HTTP"
            ),
        ));
    }
    // The limits embedded mode applies to a client, applied to what the
    // front passed (SRV-2).
    if head.headers.len() > config.max_header_count {
        return Err((
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            format!("{} header fields; the limit is {}", head.headers.len(), config.max_header_count),
        ));
    }
    if let Some((name, value)) =
        head.headers.iter().find(|(n, v)| n.as_str().len() + v.len() > config.max_header_field_bytes)
    {
        return Err((
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            format!(
                "header field {name} is {} bytes; the limit is {}",
                name.as_str().len() + value.len(),
                config.max_header_field_bytes
            ),
        ));
    }
    let declared = head.headers.get(http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if let (Some(max), Some(len)) = (config.max_body_bytes, declared) {
        if len > max {
            return Err((
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body of {len} bytes exceeds the limit of {max}"),
            ));
        }
    }
    let body = match stdin {
        Stdin::Whole(chunks) => {
            let got: u64 = chunks.iter().map(|c| c.len() as u64).sum();
            if declared.is_some_and(|len| len != got) {
                return Err((StatusCode::BAD_REQUEST, length_mismatch(declared, got)));
            }
            whole_body(chunks)
        }
        Stdin::Streaming(rx) => Body::wrap(StdinBody { rx, declared, received: 0 }),
    };
    let body = match config.max_body_bytes {
        Some(max) => rgi_gateway::limit(body, max),
        None => body,
    };
    Ok(Request::new(http::Request::from_parts(head, body), environ))
}

/// A body that arrived whole with the request.
fn whole_body(mut chunks: Vec<Bytes>) -> Body {
    match chunks.len() {
        0 => Body::empty(),
        1 => Body::from(chunks.pop().unwrap_or_default()),
        _ => Body::from(chunks.concat()),
    }
}

/// Calls the application and applies the response rules; the method comes
/// back for the writer (HEAD has no body).
async fn call(shared: &Shared, request: Request) -> (rgi_core::Response, Method) {
    let method = request.method().clone();
    let target = request.uri().clone();
    // Permits are never closed, so acquiring only waits.
    let _permit = shared.permits.acquire().await;
    let mut response = match call_guarded(&*shared.app, request).await {
        Ok(response) => response,
        // ERR-1, ERR-2: logged with its request; the body says nothing of it.
        Err(err) => return (rgi_gateway::respond::failed(&err, &method, &target), method),
    };
    rgi_gateway::respond::finish(&mut response, &method, &target);
    (response, method)
}

/// What a body that does not match its `CONTENT_LENGTH` is told (FCGI-8).
fn length_mismatch(declared: Option<u64>, got: u64) -> String {
    let declared = declared.unwrap_or_default();
    if got < declared {
        format!("the request body ended after {got} of the {declared} bytes CONTENT_LENGTH declared")
    } else {
        format!("the request body is longer than the {declared} bytes CONTENT_LENGTH declared")
    }
}

/// The request body as STDIN records bring it: exactly `CONTENT_LENGTH`
/// bytes when the front declared it, else until the empty STDIN record.
struct StdinBody {
    rx: mpsc::Receiver<Bytes>,
    declared: Option<u64>,
    received: u64,
}

impl http_body::Body for StdinBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let chunk = std::task::ready!(self.rx.poll_recv(cx));
        let (declared, received) = (self.declared, self.received);
        Poll::Ready(match chunk {
            Some(data) => {
                let received = received + data.len() as u64;
                self.received = received;
                if declared.is_some_and(|len| received > len) {
                    Some(Err(rgi_core::server_error::bad_request(length_mismatch(declared, received))))
                } else {
                    Some(Ok(Frame::data(data)))
                }
            }
            // STDIN ended: a short body must not pass for a whole one.
            None if declared.is_some_and(|len| received != len) => {
                Some(Err(rgi_core::server_error::bad_request(length_mismatch(declared, received))))
            }
            None => None,
        })
    }

    /// What is still to come, not the whole declared length: a limit
    /// wrapped around this body compares it with what it has left.
    fn size_hint(&self) -> SizeHint {
        match self.declared {
            Some(len) => SizeHint::with_exact(len.saturating_sub(self.received)),
            None => SizeHint::new(),
        }
    }
}
