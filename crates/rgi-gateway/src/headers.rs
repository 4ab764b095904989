//! Header rules that every server applies the same way, so an application
//! sees the same request in every deployment mode (HDR-*).

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode};

/// Hop-by-hop fields (RFC 9110 section 7.6.1): they describe one
/// connection, belong to the server, and are never passed through
/// (HDR-4, HDR-6). `proxy-connection` is the obsolete spelling some clients
/// still send.
pub static HOP_BY_HOP: [HeaderName; 6] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::TE,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// Whether `name` is one of [`HOP_BY_HOP`].
pub fn is_hop_by_hop(name: &HeaderName) -> bool {
    is_hop_by_hop_str(name.as_str())
}

fn is_hop_by_hop_str(name: &str) -> bool {
    matches!(name, "connection" | "keep-alive" | "proxy-connection" | "te" | "transfer-encoding" | "upgrade")
}

/// Puts request headers into the form the contract promises applications
/// (HDR-1 to HDR-4). Servers call this on every request before the
/// gateway variables are built:
///
/// * fields whose name contains `_` are dropped: as CGI variables they would
///   be indistinguishable from the same name with `-` (`X_Auth` vs `X-Auth`),
///   which lets a client forge a header a front set (HDR-1);
/// * `Proxy` is dropped: as `HTTP_PROXY` it would be taken for the proxy
///   setting of the process ("httpoxy", CVE-2016-5385) (HDR-2);
/// * repeated fields become one, values joined by `", "` (`"; "` for
///   `Cookie`), in the order received, as CGI has only one value per
///   variable (HDR-3);
/// * hop-by-hop fields, and fields that `Connection` names, are removed:
///   message framing is the server's business (HDR-4).
///
/// Returns how many fields were dropped, for the server's log.
pub fn sanitize_request_headers(headers: &mut HeaderMap) -> usize {
    // One pass over the names first: most requests need nothing done.
    let repeated = headers.keys_len() != headers.len();
    if !repeated && !headers.keys().any(|k| needs_work(k.as_str())) {
        return 0;
    }
    let mut dropped = 0;
    let connection_named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|token| HeaderName::from_bytes(token.trim().as_bytes()).ok())
        .collect();
    for name in connection_named.iter().chain(HOP_BY_HOP.iter()) {
        if let header::Entry::Occupied(entry) = headers.entry(name) {
            dropped += entry.remove_entry_mult().1.count();
        }
    }
    let ambiguous: Vec<HeaderName> = headers.keys().filter(|k| is_ambiguous(k)).cloned().collect();
    for name in ambiguous {
        if let header::Entry::Occupied(entry) = headers.entry(name) {
            dropped += entry.remove_entry_mult().1.count();
        }
    }
    if headers.keys_len() != headers.len() {
        combine_repeated(headers);
    }
    dropped
}

/// The protocol an HTTP/1.1 request asks to switch to: its `Upgrade`
/// field, when its `Connection` names `upgrade` (RFC 9110 section 7.8).
/// A server that can hand the connection over keeps both fields for the
/// application, and takes a `101` answer (UPG-1, UPG-3).
///
/// ```
/// use http::{header, HeaderMap, HeaderValue};
///
/// let mut headers = HeaderMap::new();
/// headers.insert(header::CONNECTION, HeaderValue::from_static("keep-alive, Upgrade"));
/// headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
/// assert_eq!(rgi_gateway::headers::upgrade_requested(&headers).unwrap(), "websocket");
/// ```
pub fn upgrade_requested(headers: &HeaderMap) -> Option<HeaderValue> {
    // Every request passes here: most have no Upgrade, one lookup says so.
    let mut upgrades = headers.get_all(header::UPGRADE).iter();
    let protocol = upgrades.next().filter(|p| !p.is_empty())?;
    if upgrades.next().is_some() {
        return None;
    }
    let asks = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|token| token.trim().eq_ignore_ascii_case("upgrade"));
    asks.then(|| protocol.clone())
}

/// A name with `_` (HDR-1) or `Proxy` (HDR-2).
fn is_ambiguous(name: &HeaderName) -> bool {
    let name = name.as_str();
    name.as_bytes().contains(&b'_') || name == "proxy"
}

/// Whether [`sanitize_request_headers`] would drop or change a field of
/// this name (repeated fields aside), looking at the name once.
pub(crate) fn needs_sanitizing(name: &HeaderName) -> bool {
    needs_work(name.as_str())
}

#[allow(clippy::manual_contains, reason = "names are a few bytes: a plain loop beats memchr's set-up (callgrind)")]
fn needs_work(name: &str) -> bool {
    is_hop_by_hop_str(name) || name == "proxy" || name.as_bytes().iter().any(|&b| b == b'_')
}

fn combine_repeated(headers: &mut HeaderMap) {
    let repeated: Vec<HeaderName> =
        headers.keys().filter(|k| headers.get_all(*k).iter().nth(1).is_some()).cloned().collect();
    for name in repeated {
        let separator: &[u8] = if name == header::COOKIE { b"; " } else { b", " };
        let mut joined = Vec::new();
        // Empty lines add no element to a list (RFC 9110 5.6.1), and
        // skipping them keeps the joined value free of trailing space.
        for value in headers.get_all(&name).iter().filter(|v| !v.is_empty()) {
            if !joined.is_empty() {
                joined.extend_from_slice(separator);
            }
            joined.extend_from_slice(value.as_bytes());
        }
        // Joining valid values with a visible separator yields a valid value.
        if let Ok(value) = HeaderValue::from_bytes(&joined) {
            headers.insert(name, value);
        }
    }
}

/// A problem with a response an application returned (HDR-5 to HDR-8).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResponseProblem {
    /// The status is outside 200..=599 (1xx responses are the server's).
    #[error("status {0} is not a final status (use 200-599; 1xx responses belong to the server)")]
    Status(u16),
    /// A hop-by-hop field (the server removes it).
    #[error("hop-by-hop header {0:?} set by the application; the server manages connections, remove it")]
    HopByHop(HeaderName),
    /// A field value holds CR, LF or NUL.
    #[error("header {0:?} has a value with CR, LF or NUL; such bytes would split or end the header block")]
    ValueBytes(HeaderName),
    /// Content-Length is not a number, or disagrees with the body (APP-6).
    #[error("Content-Length does not match the body ({0}); drop the header or make them agree")]
    ContentLength(String),
}

/// Checks a status and headers the way servers and the validator do.
///
/// `http` already refuses invalid names and CR/LF in values made through
/// its checked constructors, but `HeaderValue::from_maybe_shared_unchecked`
/// and friends can smuggle them in; this catches both.
pub fn check_response_head(status: StatusCode, headers: &HeaderMap) -> Vec<ResponseProblem> {
    let mut problems = Vec::new();
    if !(200..=599).contains(&status.as_u16()) {
        problems.push(ResponseProblem::Status(status.as_u16()));
    }
    for name in headers.keys() {
        if is_hop_by_hop(name) {
            problems.push(ResponseProblem::HopByHop(name.clone()));
        }
        if headers.get_all(name).iter().any(|v| !is_valid_value(v.as_bytes())) {
            problems.push(ResponseProblem::ValueBytes(name.clone()));
        }
    }
    problems
}

/// Whether a field value is free of CR, LF and NUL (RFC 9110 section 5.5).
pub fn is_valid_value(value: &[u8]) -> bool {
    !value.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0)
}

/// Whether a response to `method` with `status` carries no body
/// (HEAD, 1xx, 204, 304: RFC 9110 section 6.4.1) (HDR-7).
pub fn forbids_body(method: &Method, status: StatusCode) -> bool {
    method == http::Method::HEAD
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
}

/// Removes the hop-by-hop fields from a response, returning the names
/// removed so the server can log them (HDR-6).
pub fn strip_hop_by_hop(headers: &mut HeaderMap) -> Vec<HeaderName> {
    let mut removed = Vec::new();
    for name in &HOP_BY_HOP {
        if headers.remove(name).is_some() {
            removed.push(name.clone());
        }
    }
    removed
}

#[cfg(test)]
mod tests;

/// What [`apply_response_rules`] did to a response, for the server's log
/// and its connection handling.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AppliedRules {
    /// Hop-by-hop fields the application set, now removed (HDR-6).
    pub removed: Vec<HeaderName>,
    /// The application asked for `Connection: close`, which an HTTP/1
    /// server MAY honour (HDR-6).
    pub wants_close: bool,
    /// The response's declared Content-Length, when its body's size is not
    /// known up front: the server counts the bytes against it (APP-6).
    pub declared_length: Option<u64>,
}

/// Applies the response rules every server applies to what an application
/// returned (APP-3, APP-6, HDR-5 to HDR-7), in place:
///
/// * hop-by-hop fields are removed (HDR-6);
/// * a `HEAD`, `204` or `304` response loses its body; `HEAD` keeps (or
///   gains, from the body's known size) its `Content-Length`, `204` loses
///   it (HDR-7).
///
/// `Err` means the response cannot be sent at all and the server answers
/// `500` instead: a non-final status (APP-3), a value with CR, LF or NUL
/// (HDR-5), a Content-Length that is not a number or disagrees with a body
/// of known size (APP-6).
pub fn apply_response_rules(
    response: &mut http::Response<rgi_core::Body>,
    method: &Method,
) -> Result<AppliedRules, ResponseProblem> {
    use http_body::Body as _;

    let status = response.status();
    if !(200..=599).contains(&status.as_u16()) {
        return Err(ResponseProblem::Status(status.as_u16()));
    }
    let mut applied = AppliedRules::default();
    let headers = response.headers_mut();
    if headers.keys().any(is_hop_by_hop) {
        applied.wants_close = headers
            .get_all(header::CONNECTION)
            .iter()
            .any(|v| v.to_str().is_ok_and(|s| s.split(',').any(|t| t.trim().eq_ignore_ascii_case("close"))));
        applied.removed = strip_hop_by_hop(headers);
    }
    if let Some(bad) = headers.iter().find(|(_, v)| !is_valid_value(v.as_bytes())).map(|(n, _)| n.clone()) {
        return Err(ResponseProblem::ValueBytes(bad));
    }
    if method == Method::HEAD {
        if !response.headers().contains_key(header::CONTENT_LENGTH) {
            if let Some(len) = response.body().size_hint().exact() {
                response.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(len));
            }
        }
        *response.body_mut() = rgi_core::Body::empty();
    } else if status == StatusCode::NO_CONTENT {
        response.headers_mut().remove(header::CONTENT_LENGTH);
        *response.body_mut() = rgi_core::Body::empty();
    } else if status == StatusCode::NOT_MODIFIED {
        *response.body_mut() = rgi_core::Body::empty();
    }
    let declared = match response.headers().get(header::CONTENT_LENGTH) {
        None => None,
        Some(v) => match v.to_str().ok().and_then(|s| s.parse::<u64>().ok()) {
            Some(n) => Some(n),
            None => return Err(ResponseProblem::ContentLength(String::from_utf8_lossy(v.as_bytes()).into_owned())),
        },
    };
    // HEAD and 304 describe a body they do not carry.
    let carries_body = method != Method::HEAD && status != StatusCode::NOT_MODIFIED;
    let exact = response.body().size_hint().exact();
    if let (true, Some(len), Some(n)) = (carries_body, declared, exact) {
        if len != n {
            return Err(ResponseProblem::ContentLength(format!("{len} declared, {n} in the body")));
        }
    }
    if carries_body && exact.is_none() {
        applied.declared_length = declared;
    }
    Ok(applied)
}
