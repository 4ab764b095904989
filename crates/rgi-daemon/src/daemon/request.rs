//! One request on a daemon: gateway variables from PARAMS, the body from
//! STDIN, the application called, the answer written.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Method, StatusCode};
use http_body::{Frame, SizeHint};
use rgi_core::headers::apply_response_rules;
use rgi_core::{call_guarded, Body, Environ, Error, Request};
use rgi_fastcgi::ParamsError;
use tokio::sync::mpsc;

use super::conn::{Done, Writer};
use super::response::{plain, send};
use super::Shared;

/// Runs a request whose PARAMS ended.
pub(crate) async fn run(
    shared: Arc<Shared>,
    id: u16,
    keep_conn: bool,
    params: Result<Vec<(Bytes, Bytes)>, ParamsError>,
    body: mpsc::Receiver<Bytes>,
    writer: Writer,
    done: mpsc::UnboundedSender<Done>,
) {
    let (response, method) = match build(&shared, params, body) {
        Err((status, message)) => {
            // CGI-5: the request fails, the connection and daemon go on.
            tracing::warn!(id, status = status.as_u16(), reason = %message, "request refused");
            (plain(status, &message), Method::GET)
        }
        Ok(request) => call(&shared, request).await,
    };
    let ended = send(id, response, &method, &writer).await;
    let _ = done.send(match ended {
        Ok(()) => Done::Ended { id, keep_conn },
        Err(()) => Done::Broken { id },
    });
}

/// Answers a request whose PARAMS were refused (too large).
pub(crate) async fn refuse(
    id: u16,
    keep_conn: bool,
    message: String,
    _body: mpsc::Receiver<Bytes>,
    writer: Writer,
    done: mpsc::UnboundedSender<Done>,
) {
    let response = plain(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, &message);
    let ended = send(id, response, &Method::GET, &writer).await;
    let _ = done.send(match ended {
        Ok(()) => Done::Ended { id, keep_conn },
        Err(()) => Done::Broken { id },
    });
}

fn build(
    shared: &Shared,
    params: Result<Vec<(Bytes, Bytes)>, ParamsError>,
    body: mpsc::Receiver<Bytes>,
) -> Result<Request, (StatusCode, String)> {
    let params = params.map_err(|e| (StatusCode::BAD_REQUEST, e.to_string()))?;
    let (head, environ) =
        Environ::from_cgi(params.iter().map(|(n, v)| (&n[..], &v[..])), Arc::clone(&shared.deployment))
            .map_err(|e| (StatusCode::BAD_REQUEST, e.to_string()))?;
    let declared = head.headers.get(http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if let (Some(max), Some(len)) = (shared.config.max_body_bytes, declared) {
        if len > max {
            return Err((
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body of {len} bytes exceeds the limit of {max}"),
            ));
        }
    }
    let body = if declared == Some(0) {
        Body::empty()
    } else {
        let body = Body::wrap(StdinBody { rx: body, declared });
        match shared.config.max_body_bytes {
            Some(max) => body.limit(max),
            None => body,
        }
    };
    Ok(Request::new(http::Request::from_parts(head, body), environ))
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
        Err(err) => {
            let status = err.status();
            if err.is_app() || err.is_panic() || status == StatusCode::INTERNAL_SERVER_ERROR {
                // ERR-1, ERR-2: logged with its request; the body says nothing of it.
                tracing::error!(%method, %target, error = %err, "application error; answering 500");
            } else {
                tracing::warn!(%method, %target, error = %err, status = status.as_u16(), "request failed");
            }
            return (plain(status, failure_message(status)), method);
        }
    };
    match apply_response_rules(&mut response, &method) {
        Ok(applied) => {
            if !applied.removed.is_empty() {
                tracing::warn!(%method, %target, headers = ?applied.removed, "application set hop-by-hop headers; removed them");
            }
            (response, method)
        }
        Err(problem) => {
            tracing::error!(%method, %target, %problem, "the application returned an invalid response; answering 500");
            (plain(StatusCode::INTERNAL_SERVER_ERROR, "the application returned an invalid response"), method)
        }
    }
}

fn failure_message(status: StatusCode) -> &'static str {
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => "request body exceeds the limit",
        StatusCode::REQUEST_TIMEOUT => "request body not received in time",
        StatusCode::BAD_REQUEST => "malformed request body",
        _ => "the application failed to answer",
    }
}

/// The request body as STDIN records bring it.
struct StdinBody {
    rx: mpsc::Receiver<Bytes>,
    declared: Option<u64>,
}

impl http_body::Body for StdinBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        self.rx.poll_recv(cx).map(|chunk| chunk.map(|data| Ok(Frame::data(data))))
    }

    fn size_hint(&self) -> SizeHint {
        self.declared.map_or_else(SizeHint::new, SizeHint::with_exact)
    }
}
