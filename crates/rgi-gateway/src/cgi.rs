//! Gateway variables as CGI variables, and back (CGI-*).
//!
//! FastCGI carries a request as CGI variables, and a WSGI environ is CGI
//! variables plus `wsgi.*` keys, so this mapping is what lets nginx, Apache,
//! rgi's own front and an rgi daemon hand requests to each other.
//!
//! | CGI variable | from |
//! |---|---|
//! | `GATEWAY_INTERFACE` | always `CGI/1.1` |
//! | `REQUEST_METHOD` | the method |
//! | `REQUEST_URI` | the request target's path and query, as received |
//! | `SCRIPT_NAME`, `PATH_INFO` | [`Environ::script_name`], [`Environ::path_info`] (decoded) |
//! | `QUERY_STRING` | [`Environ::query_string`] |
//! | `CONTENT_TYPE`, `CONTENT_LENGTH` | those headers, when present (never as `HTTP_*`) |
//! | `SERVER_NAME`, `SERVER_PORT` | [`Environ::server_name`], [`Environ::server_port`] |
//! | `SERVER_PROTOCOL` | the version: `HTTP/1.0`, `HTTP/1.1`, `HTTP/2.0` |
//! | `REMOTE_ADDR`, `REMOTE_PORT` | [`Environ::remote_addr`], when known |
//! | `REQUEST_SCHEME`, `HTTPS` | the scheme; `HTTPS=on` for https |
//! | `HTTP_<NAME>` | each other header: upper-cased, `-` as `_` |
//! | anything else | [`Environ::vars`], unchanged |
//!
//! Going back ([`from_vars`]), `REQUEST_URI` is authoritative for
//! the path when present: PATH_INFO is derived from it and SCRIPT_NAME,
//! so the decoding rules are rgi's whatever the front did (CGI-3).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::request::Parts;
use http::{Method, Uri, Version};

use rgi_core::environ::{EnvironParts, ServerName, Vars};
use rgi_core::{Deployment, Environ, Scheme};

use crate::environ::{parse_host, RequestError};
use crate::headers::sanitize_request_headers;
use crate::path::{self, RequestTarget};

/// `SERVER_PROTOCOL` for a version.
pub fn protocol_name(version: Version) -> &'static str {
    match version {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2.0",
        Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    }
}

fn parse_protocol(value: &[u8]) -> Option<Version> {
    Some(match value {
        b"HTTP/0.9" => Version::HTTP_09,
        b"HTTP/1.0" => Version::HTTP_10,
        b"HTTP/1.1" => Version::HTTP_11,
        b"HTTP/2.0" | b"HTTP/2" => Version::HTTP_2,
        b"HTTP/3.0" | b"HTTP/3" => Version::HTTP_3,
        _ => return None,
    })
}

/// The CGI name of a header (`x-forwarded-for` → `HTTP_X_FORWARDED_FOR`),
/// written into `out`. `Content-Type` and `Content-Length` have their own
/// names (CGI-2).
pub fn header_to_var(name: &HeaderName, out: &mut String) {
    out.clear();
    if name == header::CONTENT_TYPE {
        out.push_str("CONTENT_TYPE");
    } else if name == header::CONTENT_LENGTH {
        out.push_str("CONTENT_LENGTH");
    } else {
        out.push_str("HTTP_");
        out.extend(name.as_str().chars().map(|c| if c == '-' { '_' } else { c.to_ascii_uppercase() }));
    }
}

/// The header a CGI variable stands for, if it stands for one.
pub fn var_to_header(name: &str) -> Option<HeaderName> {
    var_bytes_to_header(name.as_bytes())
}

/// Calls `f` with each CGI variable of a request (CGI-1, CGI-2), in the
/// order of the table in [the module docs](self).
pub fn for_each_var(environ: &Environ, head: &Parts, mut f: impl FnMut(&str, &[u8])) {
    f("GATEWAY_INTERFACE", b"CGI/1.1");
    f("REQUEST_METHOD", head.method.as_str().as_bytes());
    match head.uri.path_and_query() {
        Some(pq) => f("REQUEST_URI", pq.as_str().as_bytes()),
        None => f("REQUEST_URI", environ.target().path().as_bytes()),
    }
    f("SCRIPT_NAME", environ.script_name().as_bytes());
    f("PATH_INFO", environ.path_info().as_bytes());
    f("QUERY_STRING", environ.query_string().as_bytes());
    f("SERVER_NAME", environ.server_name().as_bytes());
    f("SERVER_PORT", itoa(environ.server_port()).as_bytes());
    f("SERVER_PROTOCOL", protocol_name(head.version).as_bytes());
    if let Some(remote) = environ.remote_addr() {
        let mut buf = [0u8; 64];
        f("REMOTE_ADDR", ip_text(remote.ip(), &mut buf));
        f("REMOTE_PORT", itoa(remote.port()).as_bytes());
    }
    f("REQUEST_SCHEME", environ.url_scheme().as_str().as_bytes());
    if environ.url_scheme() == Scheme::Https {
        f("HTTPS", b"on");
    }
    let mut name_buf = String::with_capacity(32);
    let mut joined = Vec::new();
    for name in head.headers.keys() {
        header_to_var(name, &mut name_buf);
        let mut values = head.headers.get_all(name).iter();
        let first = values.next().map_or(&b""[..], HeaderValue::as_bytes);
        match values.next() {
            None => f(&name_buf, first),
            Some(second) => {
                // Not sanitised: join here as sanitising would (HDR-3).
                let sep: &[u8] = if name == header::COOKIE { b"; " } else { b", " };
                joined.clear();
                joined.extend_from_slice(first);
                for v in std::iter::once(second).chain(values) {
                    joined.extend_from_slice(sep);
                    joined.extend_from_slice(v.as_bytes());
                }
                f(&name_buf, &joined);
            }
        }
    }
    for (name, value) in environ.vars().iter() {
        f(name, value.as_bytes());
    }
}

/// The CGI variables of a request as a list (CGI-1).
pub fn to_vars(environ: &Environ, head: &Parts) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::with_capacity(16 + head.headers.keys_len());
    for_each_var(environ, head, |n, v| out.push((n.to_string(), v.to_vec())));
    out
}

/// In the extensions of a request [`from_vars`] made when the variables
/// describe an HTTP/1.1 upgrade request (`Upgrade`, and `Connection`
/// naming it, UPG-1): the protocol asked for. The fields themselves are
/// removed as hop-by-hop (HDR-4); a server that cannot hand the connection
/// over answers such a request `501` (UPG-5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpgradeAsked(pub HeaderValue);

/// Rebuilds a request head and its gateway variables from CGI variables,
/// as a FastCGI daemon does (CGI-3 to CGI-5).
///
/// `REQUEST_METHOD` is required. `REQUEST_URI`, when present, gives the
/// path: PATH_INFO is what follows SCRIPT_NAME in it, decoded by rgi's
/// rules. Without it, SCRIPT_NAME and PATH_INFO are taken as decoded and
/// re-encoded. Headers come from `HTTP_*`, `CONTENT_TYPE` and
/// `CONTENT_LENGTH` (empty values mean absent) and are sanitised like an
/// HTTP server's (`HTTP_PROXY` never becomes a header). Variables rgi does
/// not know are kept in [`Environ::vars`].
pub fn from_vars<I, N, V>(vars: I, deployment: Arc<Deployment>) -> Result<(Parts, Environ), RequestError>
where
    I: IntoIterator<Item = (N, V)>,
    N: AsRef<[u8]>,
    V: AsRef<[u8]>,
{
    let mut cgi = Known::default();
    let mut headers = HeaderMap::new();
    let mut extra = Vec::new();
    for (name, value) in vars {
        let value = match cgi.take(name.as_ref(), value) {
            Ok(()) => continue,
            Err(value) => value,
        };
        let (name_bytes, value_bytes) = (name.as_ref(), value.as_ref());
        // nginx sends the body's framing twice, as CONTENT_* and as
        // HTTP_CONTENT_*: the CGI variables are the ones that count.
        if name_bytes == b"HTTP_CONTENT_TYPE" || name_bytes == b"HTTP_CONTENT_LENGTH" {
            continue;
        }
        let is_header =
            name_bytes.starts_with(b"HTTP_") || name_bytes == b"CONTENT_TYPE" || name_bytes == b"CONTENT_LENGTH";
        if !is_header {
            // Kept as text; bytes that are not UTF-8 become U+FFFD.
            extra.push((name, value));
            continue;
        }
        if value_bytes.is_empty() && !name_bytes.starts_with(b"HTTP_") {
            continue;
        }
        if name_bytes == b"CONTENT_LENGTH" {
            match trim_ows(value_bytes) {
                // Caddy's way of saying "chunked, length unknown" (CGI-7).
                b"-1" => continue,
                digits if !digits.is_empty() && digits.len() <= 19 && digits.iter().all(u8::is_ascii_digit) => {}
                _ => return Err(bad_var(name_bytes, "not a decimal length")),
            }
        }
        let header = var_bytes_to_header(name_bytes).ok_or_else(|| bad_var(name_bytes, "not a valid header name"))?;
        // A front may pass a value with the whitespace around it, which
        // is not part of a field value (RFC 9110 5.5).
        let field = HeaderValue::from_bytes(trim_ows(value_bytes))
            .map_err(|_| bad_var(name_bytes, "value has forbidden bytes"))?;
        headers.append(header, field);
    }
    let extra = Vars::from_pairs(extra.iter().map(|(n, v)| (n.as_ref(), v.as_ref())));
    let method = match &cgi.method {
        Some(m) => Method::from_bytes(m.as_ref()).map_err(|_| bad_var(b"REQUEST_METHOD", "not a valid method"))?,
        None => return Err(RequestError::MissingVariable("REQUEST_METHOD")),
    };
    let version = match &cgi.protocol {
        Some(p) => parse_protocol(p.as_ref()).ok_or_else(|| bad_var(b"SERVER_PROTOCOL", "unknown protocol"))?,
        None => Version::HTTP_11,
    };
    let scheme = if cgi.https { Scheme::Https } else { Scheme::Http };
    let (uri, target, script_end) = cgi.target()?;

    let mut head = http::Request::new(()).into_parts().0;
    head.method = method;
    head.uri = uri;
    head.version = version;
    head.headers = headers;
    // The Host rule holds behind a front as on a socket (ENV-6).
    let mut hosts = head.headers.get_all(header::HOST).iter();
    match (hosts.next(), hosts.next()) {
        (Some(_), Some(_)) => return Err(RequestError::DuplicateHost),
        (Some(host), None) => {
            let text = host
                .to_str()
                .map_err(|_| RequestError::BadHost(String::from_utf8_lossy(host.as_bytes()).into_owned()))?;
            parse_host(text)?;
        }
        // Only when the front says the request was HTTP/1.1.
        (None, _) if cgi.protocol.is_some() && head.version == Version::HTTP_11 => {
            return Err(RequestError::MissingHost)
        }
        (None, _) => {}
    }
    // An upgrade request, noted before HDR-4 removes what says so: the
    // server decides what to answer it (UPG-5).
    if head.version == Version::HTTP_11 {
        if let Some(protocol) = crate::headers::upgrade_requested(&head.headers) {
            head.extensions.insert(UpgradeAsked(protocol));
        }
    }
    sanitize_request_headers(&mut head.headers);

    // A SERVER_NAME with a port attached (HAProxy) is the name and a
    // fallback port; SERVER_PORT, when sent, wins (CGI-8).
    let (name_only, name_port) = match cgi.server_name.as_ref().map(AsRef::as_ref) {
        Some(n) if !n.is_empty() => {
            let text = String::from_utf8_lossy(n);
            match parse_host(&text) {
                Ok((len, port)) => (Some(text[..len].to_string()), port),
                Err(_) => (Some(text.into_owned()), None),
            }
        }
        _ => (None, None),
    };
    let server_port = match cgi.server_port.as_ref().map(AsRef::as_ref) {
        Some(p) if !p.is_empty() => {
            let text = std::str::from_utf8(p).ok();
            text.and_then(|t| t.parse().ok()).ok_or_else(|| bad_var(b"SERVER_PORT", "not a port number"))?
        }
        _ => name_port.unwrap_or(scheme.default_port()),
    };
    let server_name = match name_only {
        Some(n) => ServerName::new(n),
        _ => head
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .and_then(|h| h.parse::<http::uri::Authority>().ok())
            .map_or_else(ServerName::default, ServerName::from),
    };
    let remote = cgi.remote();
    let mut parts = EnvironParts::new(target.into_path_and_query(), deployment);
    parts.script_end = script_end;
    parts.remote = remote;
    parts.server_name = server_name;
    parts.server_port = server_port;
    parts.scheme = scheme;
    parts.vars = extra;
    Ok((head, Environ::from_parts(parts)))
}

/// The header a CGI variable's name stands for, without allocating for
/// the usual short names.
fn var_bytes_to_header(name: &[u8]) -> Option<HeaderName> {
    match name {
        b"CONTENT_TYPE" => Some(header::CONTENT_TYPE),
        b"CONTENT_LENGTH" => Some(header::CONTENT_LENGTH),
        _ => {
            let rest = name.strip_prefix(b"HTTP_")?;
            let mut stack = [0u8; 64];
            let mut heap = Vec::new();
            let lower: &mut [u8] = if rest.len() <= stack.len() {
                &mut stack[..rest.len()]
            } else {
                heap.resize(rest.len(), 0);
                &mut heap
            };
            for (out, &b) in lower.iter_mut().zip(rest) {
                *out = if b == b'_' { b'-' } else { b.to_ascii_lowercase() };
            }
            HeaderName::from_bytes(lower).ok()
        }
    }
}

/// `value` without the spaces and tabs around it.
fn trim_ows(value: &[u8]) -> &[u8] {
    let ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = value.iter().position(|b| !ows(b)).unwrap_or(value.len());
    let end = value.iter().rposition(|b| !ows(b)).map_or(start, |i| i + 1);
    &value[start..end]
}

/// The CGI variables [`from_vars`] interprets, kept as given:
/// no copy is made of a value until it is needed.
struct Known<V> {
    method: Option<V>,
    protocol: Option<V>,
    request_uri: Option<V>,
    script_name: Option<V>,
    path_info: Option<V>,
    query: Option<V>,
    server_name: Option<V>,
    server_port: Option<V>,
    remote_addr: Option<V>,
    remote_port: Option<V>,
    https: bool,
}

impl<V> Default for Known<V> {
    fn default() -> Self {
        Self {
            method: None,
            protocol: None,
            request_uri: None,
            script_name: None,
            path_info: None,
            query: None,
            server_name: None,
            server_port: None,
            remote_addr: None,
            remote_port: None,
            https: false,
        }
    }
}

impl<V: AsRef<[u8]>> Known<V> {
    /// Keeps the variable if it is one of ours; gives the value back
    /// otherwise. A repeated variable counts with its last value (FCGI-7).
    fn take(&mut self, name: &[u8], value: V) -> Result<(), V> {
        let slot = match name {
            b"REQUEST_METHOD" => &mut self.method,
            b"SERVER_PROTOCOL" => &mut self.protocol,
            b"REQUEST_URI" => &mut self.request_uri,
            b"SCRIPT_NAME" => &mut self.script_name,
            b"PATH_INFO" => &mut self.path_info,
            b"QUERY_STRING" => &mut self.query,
            b"SERVER_NAME" => &mut self.server_name,
            b"SERVER_PORT" => &mut self.server_port,
            b"REMOTE_ADDR" => &mut self.remote_addr,
            b"REMOTE_PORT" => &mut self.remote_port,
            b"HTTPS" => {
                let value = value.as_ref();
                self.https |= value.eq_ignore_ascii_case(b"on") || value == b"1";
                return Ok(());
            }
            b"REQUEST_SCHEME" => {
                self.https |= value.as_ref().eq_ignore_ascii_case(b"https");
                return Ok(());
            }
            b"GATEWAY_INTERFACE" => return Ok(()),
            _ => return Err(value),
        };
        *slot = Some(value);
        Ok(())
    }

    fn text<'a>(value: &'a Option<V>, name: &str) -> Result<&'a str, RequestError> {
        let bytes = value.as_ref().map_or(&b""[..], AsRef::as_ref);
        std::str::from_utf8(bytes).map_err(|_| bad_var(name.as_bytes(), "not UTF-8"))
    }

    /// The URI, the parsed target and where SCRIPT_NAME ends in it.
    fn target(&self) -> Result<(Uri, RequestTarget, usize), RequestError> {
        let script_name = Self::text(&self.script_name, "SCRIPT_NAME")?;
        let query = Self::text(&self.query, "QUERY_STRING")?;
        let (uri, target) = match self.request_uri.as_ref().map(AsRef::as_ref) {
            Some(raw) if !raw.is_empty() => {
                let uri = Uri::try_from(raw).map_err(|_| bad_var(b"REQUEST_URI", "not a request target"))?;
                let target = RequestTarget::from_uri(&uri)?;
                (uri, target)
            }
            _ => {
                let path_info = Self::text(&self.path_info, "PATH_INFO")?;
                let raw = format!("{}{}", path::encode(script_name), path::encode(path_info));
                let raw = if raw.is_empty() { "/".to_string() } else { raw };
                let target = RequestTarget::from_parts(&raw, query)?;
                let pq = if query.is_empty() { raw } else { format!("{raw}?{query}") };
                let uri = Uri::try_from(pq).map_err(|_| bad_var(b"PATH_INFO", "not a usable path"))?;
                (uri, target)
            }
        };
        let script_end = if script_name.is_empty() {
            0
        } else {
            target
                .mount_split(script_name.trim_end_matches('/'))
                .ok_or_else(|| bad_var(b"SCRIPT_NAME", "is not a prefix of the request path"))?
        };
        Ok((uri, target, script_end))
    }

    fn remote(&self) -> Option<SocketAddr> {
        let addr: IpAddr = std::str::from_utf8(self.remote_addr.as_ref()?.as_ref()).ok()?.parse().ok()?;
        let port =
            self.remote_port.as_ref().and_then(|p| std::str::from_utf8(p.as_ref()).ok()?.parse().ok()).unwrap_or(0);
        Some(SocketAddr::new(addr, port))
    }
}

fn bad_var(name: &[u8], reason: &str) -> RequestError {
    RequestError::BadVariable { name: String::from_utf8_lossy(name).into_owned(), reason: reason.to_string() }
}

/// An address as text, in `buf`: IPv4 by hand, as every request of a
/// front carries one and the formatting machinery costs more than the rest
/// of the variable.
pub(crate) fn ip_text(ip: IpAddr, buf: &mut [u8; 64]) -> &[u8] {
    let mut len = 0;
    match ip {
        IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    buf[len] = b'.';
                    len += 1;
                }
                if octet >= 100 {
                    buf[len] = b'0' + octet / 100;
                    len += 1;
                }
                if octet >= 10 {
                    buf[len] = b'0' + octet / 10 % 10;
                    len += 1;
                }
                buf[len] = b'0' + octet % 10;
                len += 1;
            }
        }
        IpAddr::V6(v6) => {
            let mut cursor = std::io::Cursor::new(&mut buf[..]);
            // 64 bytes hold any IPv6 text (at most 45).
            let _ = std::io::Write::write_fmt(&mut cursor, format_args!("{v6}"));
            len = usize::try_from(cursor.position()).unwrap_or(0);
        }
    }
    &buf[..len]
}

fn itoa(n: u16) -> String {
    n.to_string()
}
