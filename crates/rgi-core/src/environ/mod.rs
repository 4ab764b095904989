//! The gateway variables: what WSGI calls the environ, typed (ENV-*, PATH-*).
//!
//! Every server builds an [`Environ`] for every request by the same rules
//! (the constructors here *are* those rules), so an application sees the
//! same values whether it runs embedded, in a daemon behind rgi's front or
//! behind nginx, or under the development server. [`cgi`] maps them to and
//! from CGI variables (`REQUEST_METHOD`, `HTTP_*`...).

use std::borrow::Cow;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use http::header::{self, HeaderValue};
use http::request::Parts;

use crate::headers::{needs_sanitizing, sanitize_request_headers};
use crate::path::{self, PathError, RequestTarget};

pub mod cgi;
mod deployment;
mod vars;

pub use deployment::{Deployment, Mode};
pub use vars::Vars;

/// The URL scheme the client used (`wsgi.url_scheme`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// `http`
    Http,
    /// `https`
    Https,
}

impl Scheme {
    /// `"http"` or `"https"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    /// 80 or 443.
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

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

/// The gateway variables of one request.
///
/// Paths come in three forms (see [`crate::path`]): raw (as the client
/// encoded them, lossless), decoded (SCRIPT_NAME / PATH_INFO, with `%2F`
/// kept encoded) and [segments](Environ::path_segments) (for routers).
/// `raw_script_name() + raw_path_info()` is always the normalised request
/// path (PATH-1).
#[derive(Clone)]
pub struct Environ {
    target: RequestTarget,
    script_end: usize,
    /// The decoded forms, when they differ from the raw ones.
    decoded: Option<Box<(String, String)>>,
    remote: Option<SocketAddr>,
    server_name: ServerName,
    server_port: u16,
    scheme: Scheme,
    vars: Vars,
    deployment: Arc<Deployment>,
}

/// SERVER_NAME, kept where it was found rather than copied.
#[derive(Clone)]
pub(crate) enum ServerName {
    /// The first `len` bytes of a `Host` value (checked to be ASCII).
    Host(HeaderValue, usize),
    /// The authority of an absolute-form target.
    Authority(http::uri::Authority),
    /// Anything else.
    Owned(String),
}

impl ServerName {
    fn as_str(&self) -> &str {
        match self {
            ServerName::Host(value, len) => value.to_str().map_or("", |s| &s[..*len]),
            ServerName::Authority(authority) => authority.host(),
            ServerName::Owned(s) => s,
        }
    }
}

impl Environ {
    /// The rules an HTTP server follows to make the gateway variables of a
    /// request it parsed (ENV-1 to ENV-8):
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
    ) -> Result<Self, RequestError> {
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
        if dirty {
            sanitize_request_headers(&mut head.headers);
        }
        Ok(Self::assemble(
            target,
            script_end,
            conn.remote,
            server_name,
            server_port,
            conn.scheme,
            Vars::default(),
            deployment,
        ))
    }

    #[allow(clippy::too_many_arguments, reason = "private constructor behind two public ones")]
    pub(crate) fn assemble(
        target: RequestTarget,
        script_end: usize,
        remote: Option<SocketAddr>,
        server_name: ServerName,
        server_port: u16,
        scheme: Scheme,
        vars: Vars,
        deployment: Arc<Deployment>,
    ) -> Self {
        let script_end = script_end.min(target.raw_path().len());
        let mut environ =
            Self { target, script_end, decoded: None, remote, server_name, server_port, scheme, vars, deployment };
        environ.decode();
        environ
    }

    /// Fills in the decoded forms when they differ from the raw ones.
    fn decode(&mut self) {
        let raw = self.target.raw_path();
        self.decoded = raw.as_bytes().contains(&b'%').then(|| {
            let (script, info) = raw.split_at(self.script_end);
            Box::new((path::decode(script).into_owned(), path::decode(info).into_owned()))
        });
    }

    /// A best-effort environ for a request that did not come through an rgi
    /// server, such as one an rgi application receives as a tower `Service`
    /// inside another framework: the root mount, SERVER_NAME from `Host`,
    /// no remote address. Fails like [`Environ::from_http`] on a bad path
    /// or `Host`.
    pub fn derive(head: &mut Parts, deployment: Arc<Deployment>) -> Result<Self, RequestError> {
        let target = RequestTarget::from_uri(&head.uri)?;
        let scheme = if head.uri.scheme() == Some(&http::uri::Scheme::HTTPS) { Scheme::Https } else { Scheme::Http };
        let conn = Connection { local: None, remote: None, scheme };
        Self::from_http(head, target, 0, &conn, deployment)
    }

    /// Moves `prefix` from the start of PATH_INFO to the end of SCRIPT_NAME,
    /// as a dispatcher mounting applications below its own mount does
    /// (WSGI's `shift_path_info`, PATH-4). `prefix` is decoded and matches
    /// whole segments; returns `false`, changing nothing, when it does not
    /// match.
    ///
    /// ```
    /// use rgi_core::{Body, Request};
    ///
    /// let mut req = Request::builder().uri("/app/api/items").mount("/app").body(Body::empty()).unwrap();
    /// assert!(req.environ_mut().shift_prefix("/api"));
    /// assert_eq!(req.environ().script_name(), "/app/api");
    /// assert_eq!(req.environ().path_info(), "/items");
    /// ```
    pub fn shift_prefix(&mut self, prefix: &str) -> bool {
        let Some(at) = path::prefix_split(self.raw_path_info(), prefix) else { return false };
        if at == 0 {
            return true;
        }
        self.script_end += at;
        self.decode();
        true
    }

    /// SCRIPT_NAME, decoded: the mount prefix; empty for the root mount,
    /// never ending in `/` (PATH-4, PATH-5).
    pub fn script_name(&self) -> &str {
        match &self.decoded {
            Some(decoded) => &decoded.0,
            None => self.raw_script_name(),
        }
    }

    /// PATH_INFO, decoded: the rest of the path after SCRIPT_NAME, empty or
    /// starting with `/` (PATH-4, PATH-5). `%2F` stays `%2F`.
    pub fn path_info(&self) -> &str {
        match &self.decoded {
            Some(decoded) => &decoded.1,
            None => self.raw_path_info(),
        }
    }

    /// SCRIPT_NAME as the client encoded it.
    pub fn raw_script_name(&self) -> &str {
        &self.target.raw_path()[..self.script_end]
    }

    /// PATH_INFO as the client encoded it (after dot-segment removal).
    pub fn raw_path_info(&self) -> &str {
        &self.target.raw_path()[self.script_end..]
    }

    /// The segments of PATH_INFO, each fully decoded (`%2F` included), for
    /// routers: `/a%2Fb/c` gives `a/b` and `c`; an empty PATH_INFO gives
    /// none; `/` gives one empty segment.
    pub fn path_segments(&self) -> impl Iterator<Item = Cow<'_, str>> + '_ {
        let raw = self.raw_path_info();
        let rest = raw.strip_prefix('/');
        rest.into_iter().flat_map(|r| r.split('/')).map(path::decode_segment)
    }

    /// QUERY_STRING: raw, without `?`; empty when absent (ENV-3).
    pub fn query_string(&self) -> &str {
        self.target.query()
    }

    /// REMOTE_ADDR and REMOTE_PORT: the client; `None` on a Unix socket
    /// without a front to tell (ENV-4).
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.remote
    }

    /// SERVER_NAME (ENV-5).
    pub fn server_name(&self) -> &str {
        self.server_name.as_str()
    }

    /// SERVER_PORT (ENV-5).
    pub fn server_port(&self) -> u16 {
        self.server_port
    }

    /// The URL scheme (`wsgi.url_scheme`, `REQUEST_SCHEME`) (ENV-7).
    pub fn url_scheme(&self) -> Scheme {
        self.scheme
    }

    /// Further CGI variables a front server passed (`DOCUMENT_ROOT`,
    /// `SERVER_SOFTWARE`, ...), kept so none is lost (CGI-4).
    pub fn vars(&self) -> &Vars {
        &self.vars
    }

    /// One of [`vars`](Self::vars) by name.
    pub fn var(&self, name: &str) -> Option<&str> {
        self.vars.get(name)
    }

    /// How and where the application runs (ENV-9).
    pub fn deployment(&self) -> &Deployment {
        &self.deployment
    }

    /// The shared deployment facts, to reuse in further environs.
    pub fn deployment_arc(&self) -> &Arc<Deployment> {
        &self.deployment
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
            Some((ServerName::Host(value.clone(), name_len), port))
        }
        None => None,
    };
    // RFC 9112 section 3.2.2: an absolute-form target overrides Host. HTTP/2
    // carries the authority in the URI the same way.
    if let Some(authority) = head.uri.authority() {
        let port = authority.port_u16().unwrap_or(conn.scheme.default_port());
        return Ok((ServerName::Authority(authority.clone()), port));
    }
    match host {
        Some((name, port)) => Ok((name, port.unwrap_or(conn.scheme.default_port()))),
        None if head.version == http::Version::HTTP_11 => Err(RequestError::MissingHost),
        None => Ok(match conn.local {
            Some(addr) => (ServerName::Owned(addr.ip().to_string()), addr.port()),
            None => (ServerName::Owned(String::new()), conn.scheme.default_port()),
        }),
    }
}

/// Splits `Host` into name and port by RFC 3986's `host [ ":" port ]`,
/// without allocating for the parse: reg-name characters, or an IP literal
/// in brackets; an empty port means none.
fn parse_host(text: &str) -> Result<(usize, Option<u16>), RequestError> {
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
    path::is_unreserved_or_sub_delim(b) || b == b'%'
}

impl fmt::Debug for Environ {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Environ")
            .field("script_name", &self.script_name())
            .field("path_info", &self.path_info())
            .field("query_string", &self.query_string())
            .field("remote_addr", &self.remote)
            .field("server_name", &self.server_name())
            .field("server_port", &self.server_port)
            .field("url_scheme", &self.scheme)
            .field("vars", &self.vars)
            .field("deployment", &self.deployment)
            .finish()
    }
}

#[cfg(test)]
mod tests;
