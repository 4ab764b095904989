//! The one error type of the contract (ERR-*).

use std::fmt;

use http::StatusCode;

/// A boxed error from anywhere: what [`Error`] wraps as its cause.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A `Result` whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong while serving a request, or while loading an application.
///
/// Opaque on purpose (hyper's model): ask what kind it is with the `is_*`
/// methods, read its cause with [`source`](std::error::Error::source), and
/// print it. The `Display` text is meant for logs and may change.
///
/// Applications make errors with [`Error::new`] or [`Error::msg`]; a server
/// answers them with `500 Internal Server Error` for that request only and
/// logs them (ERR-1). The other kinds come from servers and bodies, and
/// [`status`](Error::status) tells which response they deserve: a body over
/// its limit that an application passes on with `?` still becomes a `413`.
///
/// ```
/// use rgi_core::Error;
///
/// let err = Error::msg("database unavailable");
/// assert!(err.is_app());
/// assert_eq!(err.status(), http::StatusCode::INTERNAL_SERVER_ERROR);
///
/// let err = Error::body_too_large(1024);
/// assert!(err.is_body_too_large());
/// assert_eq!(err.status(), http::StatusCode::PAYLOAD_TOO_LARGE);
/// ```
pub struct Error {
    inner: Box<Inner>,
}

struct Inner {
    kind: Kind,
    cause: Option<BoxError>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    App,
    Panic,
    BodyTooLarge(u64),
    Timeout(&'static str),
    Closed,
    Io,
    BadRequest,
    Settings,
    Load,
}

impl Error {
    fn with(kind: Kind, cause: Option<BoxError>) -> Self {
        Self { inner: Box::new(Inner { kind, cause }) }
    }

    /// An application error caused by `cause`.
    pub fn new(cause: impl Into<BoxError>) -> Self {
        Self::with(Kind::App, Some(cause.into()))
    }

    /// An application error with a message.
    pub fn msg(message: impl fmt::Display) -> Self {
        Self::new(message.to_string())
    }

    /// The application panicked; `message` is the panic payload if it was a
    /// string. Servers make these (ERR-2).
    pub fn panic(message: Option<String>) -> Self {
        Self::with(Kind::Panic, message.map(Into::into))
    }

    /// A request body grew past `limit` bytes (BODY-4).
    pub fn body_too_large(limit: u64) -> Self {
        Self::with(Kind::BodyTooLarge(limit), None)
    }

    /// Something took too long; `what` names it ("request body read").
    pub fn timeout(what: &'static str) -> Self {
        Self::with(Kind::Timeout(what), None)
    }

    /// The peer went away: the client closed the connection, or the daemon
    /// serving the request died.
    pub fn closed(cause: Option<BoxError>) -> Self {
        Self::with(Kind::Closed, cause)
    }

    /// An I/O error.
    pub fn io(cause: std::io::Error) -> Self {
        Self::with(Kind::Io, Some(cause.into()))
    }

    /// The request is malformed; answered with `400 Bad Request`.
    pub fn bad_request(cause: impl Into<BoxError>) -> Self {
        Self::with(Kind::BadRequest, Some(cause.into()))
    }

    /// The settings file is missing or malformed (SET-4).
    pub(crate) fn settings(cause: impl Into<BoxError>) -> Self {
        Self::with(Kind::Settings, Some(cause.into()))
    }

    /// The application could not be loaded (its factory or startup failed).
    pub fn load(cause: impl Into<BoxError>) -> Self {
        Self::with(Kind::Load, Some(cause.into()))
    }

    /// Made by the application ([`new`](Error::new), [`msg`](Error::msg)).
    pub fn is_app(&self) -> bool {
        self.inner.kind == Kind::App
    }

    /// The application panicked.
    pub fn is_panic(&self) -> bool {
        self.inner.kind == Kind::Panic
    }

    /// A request body was larger than allowed.
    pub fn is_body_too_large(&self) -> bool {
        matches!(self.inner.kind, Kind::BodyTooLarge(_))
    }

    /// Something timed out.
    pub fn is_timeout(&self) -> bool {
        matches!(self.inner.kind, Kind::Timeout(_))
    }

    /// The peer closed the connection.
    pub fn is_closed(&self) -> bool {
        self.inner.kind == Kind::Closed
    }

    /// An I/O error.
    pub fn is_io(&self) -> bool {
        self.inner.kind == Kind::Io
    }

    /// The request was malformed.
    pub fn is_bad_request(&self) -> bool {
        self.inner.kind == Kind::BadRequest
    }

    /// The settings file could not be located, read or parsed.
    pub fn is_settings(&self) -> bool {
        self.inner.kind == Kind::Settings
    }

    /// The application failed to load.
    pub fn is_load(&self) -> bool {
        self.inner.kind == Kind::Load || self.is_settings()
    }

    /// The status a server answers with when this error ends a request
    /// before the response started (ERR-1, BODY-4, BODY-5).
    pub fn status(&self) -> StatusCode {
        match self.inner.kind {
            Kind::BodyTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Kind::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
            Kind::BadRequest => StatusCode::BAD_REQUEST,
            Kind::Closed => StatusCode::BAD_GATEWAY,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut t = f.debug_tuple("rgi::Error");
        t.field(&self.inner.kind);
        if let Some(cause) = &self.inner.cause {
            t.field(cause);
        }
        t.finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.inner.kind {
            Kind::App => f.write_str("application error")?,
            Kind::Panic => f.write_str("application panicked")?,
            Kind::BodyTooLarge(limit) => write!(f, "request body larger than the limit of {limit} bytes")?,
            Kind::Timeout(what) => write!(f, "{what} timed out")?,
            Kind::Closed => f.write_str("connection closed by peer")?,
            Kind::Io => f.write_str("i/o error")?,
            Kind::BadRequest => f.write_str("bad request")?,
            Kind::Settings => f.write_str("settings error")?,
            Kind::Load => f.write_str("application failed to load")?,
        }
        if let Some(cause) = &self.inner.cause {
            write!(f, ": {cause}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner.cause.as_ref().map(|e| &**e as _)
    }
}

impl From<std::io::Error> for Error {
    fn from(err: std::io::Error) -> Self {
        Self::io(err)
    }
}

impl From<http::Error> for Error {
    fn from(err: http::Error) -> Self {
        Self::new(err)
    }
}

impl From<std::convert::Infallible> for Error {
    fn from(never: std::convert::Infallible) -> Self {
        match never {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_is_pointer_sized_send_sync() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<Error>();
        assert_eq!(std::mem::size_of::<Error>(), std::mem::size_of::<usize>());
    }

    #[test]
    fn kinds_map_to_statuses() {
        assert_eq!(Error::msg("x").status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(Error::panic(None).status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(Error::timeout("body").status(), StatusCode::REQUEST_TIMEOUT);
        assert_eq!(Error::bad_request("x").status(), StatusCode::BAD_REQUEST);
        assert!(Error::settings("x").is_load());
    }

    #[test]
    fn display_names_the_cause() {
        let err = Error::body_too_large(10);
        assert_eq!(err.to_string(), "request body larger than the limit of 10 bytes");
        let err = Error::new(std::io::Error::other("disk on fire"));
        assert_eq!(err.to_string(), "application error: disk on fire");
        assert!(std::error::Error::source(&err).is_some());
    }
}
