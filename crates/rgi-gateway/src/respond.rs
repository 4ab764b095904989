//! What a server answers itself, and the status each error kind gets
//! (ERR-1, ERR-3): one place, so every server answers alike.

use std::fmt;

use http::header::{HeaderValue, CONTENT_TYPE};
use http::{Method, StatusCode, Uri};
use rgi_core::{Body, Error, Response};

use crate::headers::{apply_response_rules, AppliedRules};

/// A response the server makes itself: the status and a line of text
/// naming the problem, as `text/plain`.
///
/// ```
/// let response = rgi_gateway::respond::plain(http::StatusCode::NOT_FOUND, "no mount for /x");
/// assert_eq!(response.status(), 404);
/// ```
pub fn plain(status: StatusCode, message: &str) -> Response {
    let reason = status.canonical_reason().unwrap_or("");
    let mut response = Response::new(Body::from(format!("{} {reason}: {message}\n", status.as_u16())));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}

/// The status a server answers with when `err` ends a request before its
/// response started.
///
/// | kind | status |
/// |---|---|
/// | body too large | 413 |
/// | timeout (the client was too slow) | 408 |
/// | bad request | 400 |
/// | closed (the client went away; nobody reads the answer) | 400 |
/// | upstream (the daemon failed) | 502 |
/// | application, panic, I/O, settings, load | 500 |
pub fn status_of(err: &Error) -> StatusCode {
    if err.is_body_too_large() {
        StatusCode::PAYLOAD_TOO_LARGE
    } else if err.is_timeout() {
        StatusCode::REQUEST_TIMEOUT
    } else if err.is_bad_request() || err.is_closed() {
        StatusCode::BAD_REQUEST
    } else if err.is_upstream() {
        StatusCode::BAD_GATEWAY
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    }
}

/// The answer to `err`: its status and a message that names the problem
/// without revealing the application's own error (ERR-1).
pub fn error_response(err: &Error) -> Response {
    let status = status_of(err);
    let message = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "request body exceeds the limit",
        StatusCode::REQUEST_TIMEOUT => "request body not received in time",
        StatusCode::BAD_REQUEST => "malformed request body",
        StatusCode::BAD_GATEWAY => "the daemon failed to answer",
        _ => "the application failed to answer",
    };
    plain(status, message)
}

/// Logs a call that ended in `err` with its request (ERR-1, ERR-2) and
/// returns the answer: an application's failure as an error, a request's
/// (too large, too slow) as a warning.
pub fn failed(err: &Error, method: &Method, target: &Uri) -> Response {
    let response = error_response(err);
    let status = response.status();
    if status == StatusCode::INTERNAL_SERVER_ERROR {
        tracing::error!(%method, %target, error = %Report(err), "application error; answering 500");
    } else {
        tracing::warn!(%method, %target, error = %Report(err), status = status.as_u16(), "request failed");
    }
    response
}

/// Applies [`apply_response_rules`] and logs what it changed; a response
/// that cannot be sent becomes a `500` (APP-3, APP-6, HDR-5 to HDR-7).
/// Returns what was applied, `None` when the response was replaced.
pub fn finish(response: &mut Response, method: &Method, target: &Uri) -> Option<AppliedRules> {
    match apply_response_rules(response, method) {
        Ok(applied) => {
            if !applied.removed.is_empty() {
                tracing::warn!(%method, %target, headers = ?applied.removed, "application set hop-by-hop headers; removed them");
            }
            Some(applied)
        }
        Err(problem) => {
            tracing::error!(%method, %target, %problem, "the application returned an invalid response; answering 500");
            *response = plain(StatusCode::INTERNAL_SERVER_ERROR, "the application returned an invalid response");
            None
        }
    }
}

/// Displays an error with its chain of causes, `a: b: c`: what servers
/// log, since [`Error`]'s `Display` prints one level.
///
/// ```
/// use rgi_gateway::respond::Report;
///
/// let err = rgi_core::Error::new(std::io::Error::other("disk on fire"));
/// assert_eq!(Report(&err).to_string(), "application error: disk on fire");
/// ```
pub struct Report<'a>(pub &'a (dyn std::error::Error + 'static));

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        while let Some(err) = cause {
            write!(f, ": {err}")?;
            cause = err.source();
        }
        Ok(())
    }
}

impl fmt::Debug for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use rgi_core::server_error;

    use super::*;

    #[test]
    fn each_kind_has_its_status() {
        // ERR-1, ERR-3: a timeout an application makes itself is its own
        // error (500); only the server's request timeout is a 408.
        assert_eq!(status_of(&Error::msg("db timed out")), 500);
        assert_eq!(status_of(&server_error::timeout("request body read")), 408);
        assert_eq!(status_of(&server_error::body_too_large(1)), 413);
        assert_eq!(status_of(&server_error::bad_request("x")), 400);
        assert_eq!(status_of(&server_error::upstream("gone")), 502);
        assert_eq!(status_of(&server_error::panic(None)), 500);
        // ERR-5: a body error wrapped again keeps its kind.
        assert_eq!(status_of(&Error::new(server_error::body_too_large(1))), 413);
    }

    #[test]
    fn reports_print_each_cause_once() {
        let err = server_error::load(Error::new(std::io::Error::other("no database")));
        assert_eq!(Report(&err).to_string(), "application failed to load: application error: no database");
    }
}
