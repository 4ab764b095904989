//! What the server itself answers, and the rules every application
//! response passes through on its way out (HDR-5 to HDR-7, APP-3).

use http::header::{self, HeaderValue};
use http::{Method, StatusCode, Version};
use http_body::Body as _;
use rgi_core::headers::{is_hop_by_hop, is_valid_value, strip_hop_by_hop};
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

/// Applies the response rules to what an application returned, in place
/// (responses are moved enough on their way out). Returns, for a body of
/// unknown length, what its bytes must be checked against.
pub(crate) fn finish(
    response: &mut Response,
    method: &Method,
    version: Version,
    target: &http::Uri,
) -> Option<Box<StreamCheck>> {
    let status = response.status();
    if !(200..=599).contains(&status.as_u16()) {
        // APP-3: 1xx from an application would break the exchange.
        tracing::error!(%method, %target, status = status.as_u16(), "application returned a non-final status; answering 500");
        *response = plain(StatusCode::INTERNAL_SERVER_ERROR, "the application returned an invalid response", false);
        return None;
    }
    let headers = response.headers_mut();
    if headers.keys().any(is_hop_by_hop) {
        // HDR-6: connections are the server's. `Connection: close` is
        // honoured on HTTP/1 by letting hyper see it.
        let wants_close = headers
            .get_all(header::CONNECTION)
            .iter()
            .any(|v| v.to_str().is_ok_and(|s| s.split(',').any(|t| t.trim().eq_ignore_ascii_case("close"))));
        let removed = strip_hop_by_hop(headers);
        tracing::warn!(%method, %target, headers = ?removed, "application set hop-by-hop headers; removed them");
        if wants_close && version < Version::HTTP_2 {
            headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
    }
    if let Some(bad) = headers.iter().find(|(_, v)| !is_valid_value(v.as_bytes())).map(|(n, _)| n.clone()) {
        // HDR-5: never put CR, LF or NUL on the wire.
        tracing::error!(%method, %target, header = %bad, "application set a header value with CR, LF or NUL; answering 500");
        *response = plain(StatusCode::INTERNAL_SERVER_ERROR, "the application returned an invalid response", false);
        return None;
    }
    // HDR-7: no body for HEAD, 204 and 304.
    if method == Method::HEAD {
        if !response.headers().contains_key(header::CONTENT_LENGTH) {
            if let Some(len) = response.body().size_hint().exact() {
                response.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(len));
            }
        }
        *response.body_mut() = Body::empty();
    } else if status == StatusCode::NO_CONTENT {
        response.headers_mut().remove(header::CONTENT_LENGTH);
        *response.body_mut() = Body::empty();
    } else if status == StatusCode::NOT_MODIFIED {
        *response.body_mut() = Body::empty();
    }
    let exact = response.body().size_hint().exact();
    let declared =
        response.headers().get(header::CONTENT_LENGTH).map(|v| v.to_str().ok().and_then(|s| s.parse::<u64>().ok()));
    // HEAD and 304 describe a body they do not carry.
    let carries_body = method != Method::HEAD && status != StatusCode::NOT_MODIFIED;
    let mismatch = match declared {
        Some(None) => true,
        Some(Some(len)) => carries_body && exact.is_some_and(|n| n != len),
        None => false,
    };
    if mismatch {
        // APP-6: caught before a byte is sent, so the client gets a 500.
        tracing::error!(%method, %target, ?exact, "application's Content-Length does not match its body (APP-6); answering 500");
        *response = plain(StatusCode::INTERNAL_SERVER_ERROR, "the application returned an invalid response", false);
        return None;
    }
    exact.is_none().then(|| {
        Box::new(StreamCheck { method: method.clone(), target: target.clone(), remaining: declared.flatten() })
    })
}
