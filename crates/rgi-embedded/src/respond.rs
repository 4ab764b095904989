//! What the server itself answers, and the rules every application
//! response passes through on its way out (HDR-5 to HDR-7, APP-3).

use http::header::{self, HeaderValue};
use http::{Method, StatusCode, Version};
use http_body::Body as _;

use rgi_core::Response;

use crate::body::StreamCheck;

/// A response the server makes itself: the status, and a line of text
/// naming the problem. `close` asks hyper to end the connection after it
/// (an unread request body cannot be skipped safely).
pub(crate) fn plain(status: StatusCode, message: &str, close: bool) -> Response {
    let mut response = rgi_gateway::respond::plain(status, message);
    if close {
        close_after(&mut response);
    }
    response
}

/// Asks hyper to end the connection after `response`.
pub(crate) fn close_after(response: &mut Response) {
    response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
}

/// Applies the response rules (rgi_gateway::headers::apply_response_rules)
/// to what an application returned, logging what it had to change.
/// Returns, for a body of unknown length, what its bytes are checked
/// against.
pub(crate) fn finish(
    response: &mut Response,
    method: &Method,
    version: Version,
    target: &http::Uri,
) -> Option<Box<StreamCheck>> {
    match rgi_gateway::respond::finish(response, method, target) {
        None => None,
        Some(applied) => {
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
