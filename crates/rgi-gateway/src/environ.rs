//! Gateway variables from an HTTP request (ENV-1 to ENV-8): the rules an
//! HTTP server follows to make a request's [`Environ`].

use std::net::SocketAddr;
use std::sync::Arc;

use http::header::{self, HeaderValue};
use http::request::Parts;
use rgi_core::environ::{EnvironParts, ServerName};
use rgi_core::{Deployment, Environ, Scheme};

use crate::headers::{needs_sanitizing, sanitize_request_headers};
use crate::path::{PathError, RequestTarget};

/// What a server knows about the connection a request came on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connection {
    /// The server's address, `None` on a Unix socket.
    pub local: Option<SocketAddr>,
    /// The client's address, `None` on a Unix socket.
    pub remote: Option<SocketAddr>,
    /// The scheme the client used.
    pub scheme: Scheme,
}

/// Why a server refuses a request before any application sees it: each is
/// answered with `400 Bad Request` and a message naming the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// The target's path is unusable.
    #[error(transparent)]
    Path(#[from] PathError),
    /// HTTP/1.1 requires `Host` (RFC 9112 section 3.2) (ENV-6).
    #[error("HTTP/1.1 request without a Host header")]
    MissingHost,
    /// More than one `Host` field (ENV-6).
    #[error("request has more than one Host header")]
    DuplicateHost,
    /// `Host` is not `name[:port]` (ENV-6).
    #[error("Host header {0:?} is not a valid host[:port]")]
    BadHost(String),
    /// A CGI variable a front sent is invalid (CGI-5).
    #[error("invalid CGI variable {name}: {reason}")]
    BadVariable {
        /// The variable.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A required CGI variable is missing (CGI-5).
    #[error("missing CGI variable {0}")]
    MissingVariable(&'static str),
}

/// Makes the gateway variables of a request an HTTP server parsed
/// (ENV-1 to ENV-8):
///
/// * the request headers are sanitised ([`sanitize_request_headers`]);
/// * `target` was parsed from the request target and `script_end` is
///   where the mount prefix ends in it ([`RequestTarget::mount_split`]);
/// * SERVER_NAME and SERVER_PORT come from the absolute-form target or
///   HTTP/2 `:authority` if any, else from `Host`, else from the local
///   address; a `Host` without a port means the scheme's default port;
/// * an HTTP/1.1 request with no `Host`, several, or an invalid one is
///   refused.
pub fn from_http(
    head: &mut Parts,
    target: RequestTarget,
    script_end: usize,
    conn: &Connection,
    deployment: Arc<Deployment>,
) -> Result<Environ, RequestError> {
    // One pass finds Host and whether sanitising has work to do; Host
    // is checked before sanitising would join duplicates.
    let mut host = None;
    let mut hosts = 0;
    let mut dirty = head.headers.keys_len() != head.headers.len();
    for (name, value) in &head.headers {
        if name == header::HOST {
            hosts += 1;
            host = Some(value);
        } else if !dirty {
            dirty = needs_sanitizing(name);
        }
    }
    if hosts > 1 {
        return Err(RequestError::DuplicateHost);
    }
    let (server_name, server_port) = server_name_port(head, host, conn)?;
    in_origin_form(head);
    if dirty {
        sanitize_request_headers(&mut head.headers);
    }
    let mut parts = EnvironParts::new(target.into_path_and_query(), deployment);
    parts.script_end = script_end;
    parts.remote = conn.remote;
    parts.server_name = server_name;
    parts.server_port = server_port;
    parts.scheme = conn.scheme;
    Ok(Environ::from_parts(parts))
}

/// A best-effort environ for a request that did not come through an rgi
/// server, such as one an rgi application receives as a tower `Service`
/// inside another framework: the root mount, SERVER_NAME from `Host`, no
/// remote address. Fails like [`from_http`] on a bad path or `Host`.
pub fn derive(head: &mut Parts, deployment: Arc<Deployment>) -> Result<Environ, RequestError> {
    let target = RequestTarget::from_uri(&head.uri)?;
    let scheme = if head.uri.scheme() == Some(&http::uri::Scheme::HTTPS) { Scheme::Https } else { Scheme::Http };
    let conn = Connection { local: None, remote: None, scheme };
    from_http(head, target, 0, &conn, deployment)
}

/// Drops the scheme and authority of an absolute-form (or HTTP/2) target,
/// so the application sees the same origin-form target in every mode, as
/// CGI's `REQUEST_URI` carries it (ENV-13). The authority moves to `Host`,
/// where an HTTP/1.1 request has it (RFC 9112 section 3.2.2 makes it win
/// over a `Host` field; HTTP/2 requests usually have none).
fn in_origin_form(head: &mut Parts) {
    if head.uri.authority().is_none() && head.uri.scheme().is_none() {
        return;
    }
    if let Some(host) = head.uri.authority().and_then(|a| HeaderValue::from_str(a.as_str()).ok()) {
        head.headers.insert(header::HOST, host);
    }
    let mut parts = http::uri::Parts::default();
    parts.path_and_query = head.uri.path_and_query().cloned();
    if let Ok(origin) = http::Uri::from_parts(parts) {
        head.uri = origin;
    }
}

/// SERVER_NAME and SERVER_PORT, and the Host checks (ENV-5, ENV-6).
fn server_name_port(
    head: &Parts,
    host: Option<&HeaderValue>,
    conn: &Connection,
) -> Result<(ServerName, u16), RequestError> {
    let host = match host {
        Some(value) => {
            let bad = || RequestError::BadHost(String::from_utf8_lossy(value.as_bytes()).chars().take(256).collect());
            let text = value.to_str().map_err(|_| bad())?;
            let (name_len, port) = parse_host(text)?;
            Some((ServerName::from_host(value.clone(), name_len).ok_or_else(bad)?, port))
        }
        None => None,
    };
    // RFC 9112 section 3.2.2: an absolute-form target overrides Host. HTTP/2
    // carries the authority in the URI the same way.
    if let Some(authority) = head.uri.authority() {
        let port = authority.port_u16().unwrap_or(conn.scheme.default_port());
        return Ok((ServerName::from(authority.clone()), port));
    }
    match host {
        Some((name, port)) => Ok((name, port.unwrap_or(conn.scheme.default_port()))),
        None if head.version == http::Version::HTTP_11 => Err(RequestError::MissingHost),
        None => Ok(match conn.local {
            Some(addr) => (ServerName::new(addr.ip().to_string()), addr.port()),
            None => (ServerName::default(), conn.scheme.default_port()),
        }),
    }
}

/// Splits `Host` into name and port by RFC 3986's `host [ ":" port ]`,
/// without allocating for the parse: reg-name characters, or an IP literal
/// in brackets; an empty port means none.
pub(crate) fn parse_host(text: &str) -> Result<(usize, Option<u16>), RequestError> {
    let bad = || RequestError::BadHost(text.chars().take(256).collect());
    let (host, port) = if text.starts_with('[') {
        let end = text.find(']').ok_or_else(bad)?;
        let inside = &text[1..end];
        if inside.is_empty() || !inside.bytes().all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.') {
            return Err(bad());
        }
        let rest = &text[end + 1..];
        match rest.strip_prefix(':') {
            Some(port) => (&text[..=end], Some(port)),
            None if rest.is_empty() => (&text[..=end], None),
            None => return Err(bad()),
        }
    } else {
        // One pass: every byte a reg-name byte, up to the last ':'.
        let mut colon = None;
        for (i, &b) in text.as_bytes().iter().enumerate() {
            if b == b':' {
                colon = Some(i);
            } else if colon.is_none() && !is_reg_name_byte(b) {
                return Err(bad());
            }
        }
        match colon {
            Some(i) => (&text[..i], Some(&text[i + 1..])),
            None => (text, None),
        }
    };
    if host.is_empty() || (!host.starts_with('[') && host.contains(':')) {
        return Err(bad());
    }
    let port = match port {
        None | Some("") => None,
        Some(p) if p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) => Some(p.parse().map_err(|_| bad())?),
        Some(_) => return Err(bad()),
    };
    Ok((host.len(), port))
}

/// RFC 3986 `reg-name`: unreserved, sub-delims and `%` (of pct-encoded).
fn is_reg_name_byte(b: u8) -> bool {
    crate::path::is_unreserved_or_sub_delim(b) || b == b'%'
}

#[cfg(test)]
mod tests;
