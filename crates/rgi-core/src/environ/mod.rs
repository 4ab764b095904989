//! The gateway variables: what WSGI calls the environ, typed (ENV-*, PATH-*).
//!
//! Every server builds an [`Environ`] for every request by the same rules
//! (the spec's ENV and PATH sections; `rgi-gateway` implements them), so an
//! application sees the same values whether it runs embedded, in a daemon
//! behind rgi's front or behind nginx, or under the development server.

use std::borrow::Cow;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use http::uri::PathAndQuery;

use crate::path;

mod deployment;
mod server_name;
mod vars;

pub use deployment::{Deployment, Mode};
pub use server_name::ServerName;
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

/// The gateway variables of one request.
///
/// Paths come in three forms (see [`crate::path`]): raw (as the client
/// encoded them, lossless), decoded (SCRIPT_NAME / PATH_INFO, with `%2F`
/// kept encoded) and [segments](Environ::path_segments) (for routers).
/// `raw_script_name() + raw_path_info()` is always the normalised request
/// path (PATH-1).
#[derive(Clone)]
pub struct Environ {
    target: PathAndQuery,
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

/// What a server determined about a request, from which it makes the
/// request's [`Environ`] with [`Environ::from_parts`].
///
/// The contract trusts the server for these values: the target's path is
/// already normalised and checked (PATH-2, PATH-3), the server name and
/// port follow ENV-5. `rgi-gateway` fills them by those rules from an HTTP
/// request or from CGI variables; an application never needs this.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EnvironParts {
    /// The normalised path (still percent-encoded) and the raw query.
    pub target: PathAndQuery,
    /// Where SCRIPT_NAME ends in the target's path, in bytes (PATH-4).
    pub script_end: usize,
    /// The client, when known (ENV-4).
    pub remote: Option<SocketAddr>,
    /// SERVER_NAME (ENV-5).
    pub server_name: ServerName,
    /// SERVER_PORT (ENV-5).
    pub server_port: u16,
    /// The scheme the client used (ENV-7).
    pub scheme: Scheme,
    /// Further CGI variables a front passed (CGI-4).
    pub vars: Vars,
    /// How and where the application runs (ENV-9).
    pub deployment: Arc<Deployment>,
}

impl EnvironParts {
    /// Parts for `target` at the root mount: no client address, an empty
    /// server name, port 80, `http`, no further variables.
    pub fn new(target: PathAndQuery, deployment: Arc<Deployment>) -> Self {
        Self {
            target,
            script_end: 0,
            remote: None,
            server_name: ServerName::default(),
            server_port: 80,
            scheme: Scheme::Http,
            vars: Vars::default(),
            deployment,
        }
    }
}

impl Environ {
    /// The gateway variables a server determined (see [`EnvironParts`]).
    /// A `script_end` past the path, or inside a character, is taken as the
    /// whole path.
    pub fn from_parts(parts: EnvironParts) -> Self {
        let EnvironParts { target, script_end, remote, server_name, server_port, scheme, vars, deployment } = parts;
        let path = target.path();
        let script_end =
            if path.is_char_boundary(script_end.min(path.len())) { script_end.min(path.len()) } else { path.len() };
        let mut environ =
            Self { target, script_end, decoded: None, remote, server_name, server_port, scheme, vars, deployment };
        environ.decode();
        environ
    }

    /// Fills in the decoded forms when they differ from the raw ones.
    fn decode(&mut self) {
        let raw = self.target.path();
        self.decoded = raw.as_bytes().contains(&b'%').then(|| {
            let (script, info) = raw.split_at(self.script_end);
            Box::new((path::decode(script).into_owned(), path::decode(info).into_owned()))
        });
    }

    /// Moves `prefix` from the start of PATH_INFO to the end of SCRIPT_NAME,
    /// as a dispatcher mounting applications below its own mount does
    /// (WSGI's `shift_path_info`, PATH-4). `prefix` is decoded and matches
    /// whole segments; returns `false`, changing nothing, when it does not
    /// match.
    pub fn shift_prefix(&mut self, prefix: &str) -> bool {
        let Some(at) = path::split_prefix(self.raw_path_info(), prefix) else { return false };
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
        &self.target.path()[..self.script_end]
    }

    /// PATH_INFO as the client encoded it (after dot-segment removal).
    pub fn raw_path_info(&self) -> &str {
        &self.target.path()[self.script_end..]
    }

    /// The segments of PATH_INFO, each fully decoded (`%2F` included), for
    /// routers: `/a%2Fb/c` gives `a/b` and `c`; an empty PATH_INFO gives
    /// none; `/` gives one empty segment (PATH-8).
    pub fn path_segments(&self) -> impl Iterator<Item = Cow<'_, str>> + '_ {
        let raw = self.raw_path_info();
        let rest = raw.strip_prefix('/');
        rest.into_iter().flat_map(|r| r.split('/')).map(path::decode_segment)
    }

    /// QUERY_STRING: raw, without `?`; empty when absent (ENV-3).
    pub fn query_string(&self) -> &str {
        self.target.query().unwrap_or("")
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

    /// The normalised target: the raw path and the query.
    pub fn target(&self) -> &PathAndQuery {
        &self.target
    }
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
