//! SERVER_NAME, kept where a server found it rather than copied.

use std::fmt;

use http::uri::Authority;
use http::HeaderValue;

/// The name the request was addressed to (SERVER_NAME, ENV-5).
///
/// A server usually finds it inside a header or the URI it already holds;
/// keeping it there spares a copy per request.
///
/// ```
/// use rgi_core::environ::ServerName;
///
/// let host = http::HeaderValue::from_static("example.com:8080");
/// assert_eq!(ServerName::from_host(host, 11).unwrap().as_str(), "example.com");
/// assert_eq!(ServerName::new("example.org").as_str(), "example.org");
/// ```
#[derive(Clone, Default)]
pub struct ServerName(Repr);

#[derive(Clone, Default)]
enum Repr {
    /// The first `len` bytes of a `Host` value (checked to be ASCII).
    Host(HeaderValue, usize),
    Authority(Authority),
    #[default]
    Empty,
    Owned(String),
}

impl ServerName {
    /// A name given as text.
    pub fn new(name: impl Into<String>) -> Self {
        Self(Repr::Owned(name.into()))
    }

    /// The first `len` bytes of a `Host` field's value; `None` when the
    /// value is not visible ASCII or is shorter than `len`.
    pub fn from_host(value: HeaderValue, len: usize) -> Option<Self> {
        let text = value.to_str().ok()?;
        (len <= text.len()).then_some(Self(Repr::Host(value, len)))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Host(value, len) => value.to_str().map_or("", |s| &s[..*len]),
            Repr::Authority(authority) => authority.host(),
            Repr::Owned(s) => s,
            Repr::Empty => "",
        }
    }
}

impl From<Authority> for ServerName {
    /// The host of an absolute-form target or an HTTP/2 `:authority`.
    fn from(authority: Authority) -> Self {
        Self(Repr::Authority(authority))
    }
}

impl fmt::Debug for ServerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}
