//! The one error type of the contract (ERR-*).

use std::fmt;

/// A boxed error from anywhere: what [`Error`] wraps as its cause.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A `Result` whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong while serving a request, or while loading an application.
///
/// Opaque on purpose (hyper's model): ask what kind it is with the `is_*`
/// methods, which never overlap, and walk its causes with
/// [`source`](std::error::Error::source). `Display` prints this level only,
/// so a reporter that prints the chain prints each cause once. The text is
/// meant for logs and may change.
///
/// Applications make errors with [`Error::new`] or [`Error::msg`]; a server
/// answers them with `500 Internal Server Error` for that request only and
/// logs them (ERR-1). The other kinds are made by servers
/// ([`crate::server_error`]) and reach applications through the request
/// body: one passed on with `?` keeps its kind, so the server still answers
/// a body over its limit with `413` (ERR-3).
///
/// ```
/// use rgi_core::Error;
///
/// let err = Error::msg("database unavailable");
/// assert!(err.is_app());
/// assert_eq!(err.to_string(), "database unavailable");
///
/// let err = Error::new(std::io::Error::other("disk on fire"));
/// assert_eq!(err.to_string(), "application error");
/// assert_eq!(std::error::Error::source(&err).unwrap().to_string(), "disk on fire");
/// ```
pub struct Error {
    inner: Box<Inner>,
}

struct Inner {
    kind: Kind,
    cause: Option<BoxError>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    App,
    Message,
    Panic,
    BodyTooLarge(u64),
    Timeout(&'static str),
    Closed,
    Upstream,
    Io,
    BadRequest,
    Settings,
    Load,
}

impl Error {
    pub(crate) fn with(kind: Kind, cause: Option<BoxError>) -> Self {
        Self { inner: Box::new(Inner { kind, cause }) }
    }

    /// An application error caused by `cause`. A cause that already is an
    /// [`Error`] is returned as it is, keeping its kind.
    pub fn new(cause: impl Into<BoxError>) -> Self {
        match cause.into().downcast::<Error>() {
            Ok(err) => *err,
            Err(other) => Self::with(Kind::App, Some(other)),
        }
    }

    /// An application error with a message and no further cause.
    pub fn msg(message: impl fmt::Display) -> Self {
        Self::with(Kind::Message, Some(message.to_string().into()))
    }

    /// Made by the application ([`new`](Error::new), [`msg`](Error::msg)).
    pub fn is_app(&self) -> bool {
        matches!(self.inner.kind, Kind::App | Kind::Message)
    }

    /// The application panicked (ERR-2).
    pub fn is_panic(&self) -> bool {
        self.inner.kind == Kind::Panic
    }

    /// A request body was larger than allowed (BODY-3, BODY-4).
    pub fn is_body_too_large(&self) -> bool {
        matches!(self.inner.kind, Kind::BodyTooLarge(_))
    }

    /// The client took too long to send the request (BODY-5).
    pub fn is_timeout(&self) -> bool {
        matches!(self.inner.kind, Kind::Timeout(_))
    }

    /// The client went away before the request was read.
    pub fn is_closed(&self) -> bool {
        self.inner.kind == Kind::Closed
    }

    /// What stands behind the server failed: the daemon serving the
    /// request died or broke the protocol.
    pub fn is_upstream(&self) -> bool {
        self.inner.kind == Kind::Upstream
    }

    /// An I/O error the application passed on with `?`.
    pub fn is_io(&self) -> bool {
        self.inner.kind == Kind::Io
    }

    /// The request was malformed (its body's framing, its head).
    pub fn is_bad_request(&self) -> bool {
        self.inner.kind == Kind::BadRequest
    }

    /// The settings could not be located, read or parsed (SET-4).
    pub fn is_settings(&self) -> bool {
        self.inner.kind == Kind::Settings
    }

    /// The application failed to load: its factory or startup failed
    /// (DEP-4). Settings errors are [`is_settings`](Self::is_settings).
    pub fn is_load(&self) -> bool {
        self.inner.kind == Kind::Load
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
        match (self.inner.kind, &self.inner.cause) {
            (Kind::Message, Some(message)) => fmt::Display::fmt(message, f),
            (Kind::App | Kind::Message, _) => f.write_str("application error"),
            (Kind::Panic, Some(message)) => write!(f, "application panicked: {message}"),
            (Kind::Panic, None) => f.write_str("application panicked"),
            (Kind::BodyTooLarge(limit), _) => write!(f, "request body larger than the limit of {limit} bytes"),
            (Kind::Timeout(what), _) => write!(f, "{what} timed out"),
            (Kind::Closed, _) => f.write_str("connection closed by the client"),
            (Kind::Upstream, _) => f.write_str("the daemon serving the request failed"),
            (Kind::Io, _) => f.write_str("i/o error"),
            (Kind::BadRequest, _) => f.write_str("bad request"),
            (Kind::Settings, _) => f.write_str("settings error"),
            (Kind::Load, _) => f.write_str("application failed to load"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self.inner.kind {
            // The message and the panic payload are this level's text.
            Kind::Message | Kind::Panic => None,
            _ => self.inner.cause.as_ref().map(|e| &**e as _),
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(err: std::io::Error) -> Self {
        Self::with(Kind::Io, Some(err.into()))
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
    fn kinds_do_not_overlap() {
        let all = [
            Error::msg("x"),
            crate::server_error::panic(None),
            crate::server_error::body_too_large(1),
            crate::server_error::timeout("body"),
            crate::server_error::closed(None),
            crate::server_error::upstream("gone"),
            Error::from(std::io::Error::other("x")),
            crate::server_error::bad_request("x"),
            crate::server_error::settings("x"),
            crate::server_error::load("x"),
        ];
        for err in &all {
            let kinds = [
                err.is_app(),
                err.is_panic(),
                err.is_body_too_large(),
                err.is_timeout(),
                err.is_closed(),
                err.is_upstream(),
                err.is_io(),
                err.is_bad_request(),
                err.is_settings(),
                err.is_load(),
            ];
            assert_eq!(kinds.iter().filter(|k| **k).count(), 1, "{err:?}");
        }
    }

    #[test]
    fn display_prints_this_level_only() {
        // ERR-4: a reporter walking the chain prints each cause once.
        let err = Error::new(std::io::Error::other("disk on fire"));
        assert_eq!(err.to_string(), "application error");
        assert_eq!(std::error::Error::source(&err).map(ToString::to_string).as_deref(), Some("disk on fire"));
        let err = crate::server_error::load(Error::msg("no database"));
        assert_eq!(err.to_string(), "application failed to load");
        let err = Error::msg("no database");
        assert_eq!(err.to_string(), "no database");
        assert!(std::error::Error::source(&err).is_none());
        assert_eq!(
            crate::server_error::body_too_large(10).to_string(),
            "request body larger than the limit of 10 bytes"
        );
    }
}
