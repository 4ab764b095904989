//! Requests without a server, for tests and middleware.
//!
//! ```
//! use rgi_core::Body;
//! use rgi_gateway::testing::RequestBuilder;
//!
//! let req = RequestBuilder::new().uri("/hello?name=rgi").body(Body::empty()).unwrap();
//! assert_eq!(req.environ().path_info(), "/hello");
//! assert_eq!(req.environ().query_string(), "name=rgi");
//! ```

use std::net::SocketAddr;
use std::sync::Arc;

use http::header::{HeaderName, HeaderValue};
use http::{Method, Uri, Version};

use rgi_core::{server_error, Body, Deployment, Error, Mode, Request, Scheme, Settings};

use crate::environ::{from_http, Connection};
use crate::path::{validate_prefix, RequestTarget};

/// Builds a [`Request`] the way a server would, by the same rules
/// ([`from_http`]), without a socket.
///
/// Defaults: `GET /`, HTTP/1.1, `Host: localhost` when no Host is given,
/// the root mount, client `127.0.0.1:40000`, server `127.0.0.1:80`,
/// http, embedded mode with empty settings.
///
/// ```
/// use rgi_gateway::testing::RequestBuilder;
/// use rgi_core::Body;
///
/// let req = RequestBuilder::new()
///     .method("POST")
///     .uri("/app/items%2F1?x")
///     .mount("/app")
///     .header("content-type", "text/plain")
///     .body(Body::from("data"))
///     .unwrap();
/// assert_eq!(req.environ().script_name(), "/app");
/// assert_eq!(req.environ().path_info(), "/items%2F1");
/// ```
#[derive(Debug)]
pub struct RequestBuilder {
    inner: http::request::Builder,
    mount: String,
    conn: Connection,
    deployment: Option<Arc<Deployment>>,
    error: Option<Error>,
}

impl RequestBuilder {
    /// `GET /` with the defaults above.
    pub fn new() -> Self {
        Self {
            inner: http::Request::builder(),
            mount: String::new(),
            conn: Connection {
                local: Some(SocketAddr::from(([127, 0, 0, 1], 80))),
                remote: Some(SocketAddr::from(([127, 0, 0, 1], 40000))),
                scheme: Scheme::Http,
            },
            deployment: None,
            error: None,
        }
    }

    /// The method.
    pub fn method<M>(mut self, method: M) -> Self
    where
        Method: TryFrom<M>,
        <Method as TryFrom<M>>::Error: Into<http::Error>,
    {
        self.inner = self.inner.method(method);
        self
    }

    /// The request target.
    pub fn uri<U>(mut self, uri: U) -> Self
    where
        Uri: TryFrom<U>,
        <Uri as TryFrom<U>>::Error: Into<http::Error>,
    {
        self.inner = self.inner.uri(uri);
        self
    }

    /// The HTTP version.
    pub fn version(mut self, version: Version) -> Self {
        self.inner = self.inner.version(version);
        self
    }

    /// Appends a header.
    pub fn header<K, V>(mut self, name: K, value: V) -> Self
    where
        HeaderName: TryFrom<K>,
        <HeaderName as TryFrom<K>>::Error: Into<http::Error>,
        HeaderValue: TryFrom<V>,
        <HeaderValue as TryFrom<V>>::Error: Into<http::Error>,
    {
        self.inner = self.inner.header(name, value);
        self
    }

    /// The mount prefix the application is mounted at (SCRIPT_NAME).
    pub fn mount(mut self, prefix: &str) -> Self {
        match validate_prefix(prefix) {
            Ok(p) => self.mount = p,
            Err(e) => self.error = Some(server_error::bad_request(e)),
        }
        self
    }

    /// The client's address; `None` as on a Unix socket.
    pub fn remote(mut self, addr: Option<SocketAddr>) -> Self {
        self.conn.remote = addr;
        self
    }

    /// The server's address; `None` as on a Unix socket.
    pub fn local(mut self, addr: Option<SocketAddr>) -> Self {
        self.conn.local = addr;
        self
    }

    /// The scheme.
    pub fn scheme(mut self, scheme: Scheme) -> Self {
        self.conn.scheme = scheme;
        self
    }

    /// The deployment facts.
    pub fn deployment(mut self, deployment: Arc<Deployment>) -> Self {
        self.deployment = Some(deployment);
        self
    }

    /// Finishes the request with a body. Fails where a server would answer
    /// `400`, or if a part given was invalid.
    pub fn body(self, body: impl Into<Body>) -> Result<Request, Error> {
        if let Some(err) = self.error {
            return Err(err);
        }
        let (mut head, body) = self.inner.body(body.into())?.into_parts();
        if head.version == Version::HTTP_11
            && head.uri.authority().is_none()
            && !head.headers.contains_key(http::header::HOST)
        {
            head.headers.insert(http::header::HOST, HeaderValue::from_static("localhost"));
        }
        let target = RequestTarget::from_uri(&head.uri).map_err(server_error::bad_request)?;
        let split = target
            .mount_split(&self.mount)
            .ok_or_else(|| server_error::bad_request(format!("path is not under the mount prefix {:?}", self.mount)))?;
        let deployment =
            self.deployment.unwrap_or_else(|| Arc::new(Deployment::new(Mode::Embedded, Arc::new(Settings::empty()))));
        let environ = from_http(&mut head, target, split, &self.conn, deployment).map_err(server_error::bad_request)?;
        Ok(Request::new(http::Request::from_parts(head, body), environ))
    }
}

impl Default for RequestBuilder {
    fn default() -> Self {
        Self::new()
    }
}
