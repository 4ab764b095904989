//! Header rules that every server applies the same way, so an application
//! sees the same request in every deployment mode (HDR-*).

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::StatusCode;

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
        for (i, value) in headers.get_all(&name).iter().enumerate() {
            if i > 0 {
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
pub fn forbids_body(method: &http::Method, status: StatusCode) -> bool {
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
