//! The request an application receives.

use std::fmt;

use http::{HeaderMap, Method, Uri, Version};

use crate::body::Body;
use crate::environ::Environ;

/// The response an application returns: status, headers and a streaming
/// [`Body`] (APP-3).
pub type Response = http::Response<Body>;

/// An HTTP request with its gateway variables (APP-2).
///
/// The head and body are [`http`] types; the [`Environ`] says what WSGI's
/// environ says (mount split, client and server addresses, scheme,
/// deployment facts). Servers build it; applications read it. Tests build
/// one as a server would with `rgi_gateway::testing::RequestBuilder`
/// (`rgi::testing` in the `rgi` crate).
pub struct Request {
    inner: http::Request<Body>,
    environ: Environ,
}

impl Request {
    /// Joins an HTTP request and its gateway variables.
    pub fn new(inner: http::Request<Body>, environ: Environ) -> Self {
        Self { inner, environ }
    }

    /// The method.
    pub fn method(&self) -> &Method {
        self.inner.method()
    }

    /// The request target as the server received it. Prefer the
    /// [`environ`](Self::environ)'s paths: behind a front this is the
    /// front's `REQUEST_URI`, in origin form.
    pub fn uri(&self) -> &Uri {
        self.inner.uri()
    }

    /// The HTTP version.
    pub fn version(&self) -> Version {
        self.inner.version()
    }

    /// The headers, sanitised by the server (HDR-1 to HDR-4).
    pub fn headers(&self) -> &HeaderMap {
        self.inner.headers()
    }

    /// The headers, mutably (for middleware).
    pub fn headers_mut(&mut self) -> &mut HeaderMap {
        self.inner.headers_mut()
    }

    /// Extensions: typed values middleware attaches to the request.
    pub fn extensions(&self) -> &http::Extensions {
        self.inner.extensions()
    }

    /// Extensions, mutably.
    pub fn extensions_mut(&mut self) -> &mut http::Extensions {
        self.inner.extensions_mut()
    }

    /// The gateway variables.
    pub fn environ(&self) -> &Environ {
        &self.environ
    }

    /// The gateway variables, mutably (for middleware).
    pub fn environ_mut(&mut self) -> &mut Environ {
        &mut self.environ
    }

    /// The body.
    pub fn body(&self) -> &Body {
        self.inner.body()
    }

    /// The body, mutably (to read it while keeping the request).
    pub fn body_mut(&mut self) -> &mut Body {
        self.inner.body_mut()
    }

    /// Takes the body out.
    pub fn into_body(self) -> Body {
        self.inner.into_body()
    }

    /// The parts: the HTTP request (with its body) and the gateway variables.
    pub fn into_parts(self) -> (http::Request<Body>, Environ) {
        (self.inner, self.environ)
    }

    /// An [`http::Request`] with the [`Environ`] moved into its extensions,
    /// for code written against `http` types (tower services, axum
    /// handlers with `Extension<Environ>`).
    pub fn into_http(self) -> http::Request<Body> {
        let (mut inner, environ) = self.into_parts();
        inner.extensions_mut().insert(environ);
        inner
    }

    /// The inverse of [`into_http`](Self::into_http): `Err` gives the request
    /// back when it carries no [`Environ`].
    pub fn from_http(mut inner: http::Request<Body>) -> Result<Self, Box<http::Request<Body>>> {
        match inner.extensions_mut().remove::<Environ>() {
            Some(environ) => Ok(Self { inner, environ }),
            None => Err(Box::new(inner)),
        }
    }
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("method", self.method())
            .field("uri", self.uri())
            .field("version", &self.version())
            .field("headers", self.headers())
            .field("environ", &self.environ)
            .finish()
    }
}
