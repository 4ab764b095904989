//! What the server itself answers, and the rules every application
//! response passes through on its way out (HDR-5 to HDR-7, APP-3).

use http::header::{self, HeaderValue};
use http::{Method, StatusCode, Version};
use http_body::Body as _;
use rgi_core::headers::apply_response_rules;
use rgi_core::{Body, Response};

use crate::body::StreamCheck;

/// A response the server makes itself: the status, and a line of text
/// naming the problem. `close` asks hyper to end the connection after it
/// (an unread request body cannot be skipped safely).
pub(crate) fn plain(status: StatusCode, message: &str, close: bool) -> Response {
    let reason = status.canonical_reason().unwrap_or("");
    let text = format!("{} {reason}: {message}\n", status.as_u16());
    let mut response = http::Response::new(Body::from(text));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    if close {
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// Applies the response rules (rgi_core::headers::apply_response_rules)
/// to what an application returned, logging what it had to change.
/// Returns, for a body of unknown length, what its bytes are checked
/// against.
pub(crate) fn finish(
    response: &mut Response,
    method: &Method,
    version: Version,
    target: &http::Uri,
) -> Option<Box<StreamCheck>> {
    match apply_response_rules(response, method) {
        Err(problem) => {
            tracing::error!(%method, %target, %problem, "the application returned an invalid response; answering 500");
            *response = plain(StatusCode::INTERNAL_SERVER_ERROR, "the application returned an invalid response", false);
            None
        }
        Ok(applied) => {
            if !applied.removed.is_empty() {
                tracing::warn!(%method, %target, headers = ?applied.removed, "application set hop-by-hop headers; removed them");
            }
            if applied.wants_close && version < Version::HTTP_2 {
                // HDR-6: Connection: close is honoured by letting hyper see it.
                response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            let unknown = response.body().size_hint().exact().is_none();
            unknown.then(|| {
                Box::new(StreamCheck {
                    method: method.clone(),
                    target: target.clone(),
                    remaining: applied.declared_length,
                })
            })
        }
    }
}
