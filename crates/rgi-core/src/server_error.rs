//! The errors only servers make (ERR-3).
//!
//! An application makes [`Error::new`] and [`Error::msg`]; the kinds here
//! describe what happened to the request around it: its body was too
//! large, the client was too slow or went away, the application panicked.
//! They reach an application through the request body and keep their kind
//! when it passes them on, so the server's answer stays right. Which
//! status each kind gets is the server's decision (`rgi-gateway` holds the
//! shared mapping).

use crate::error::{BoxError, Error, Kind};

/// The application panicked; `message` is the payload if it was a string
/// (ERR-2).
pub fn panic(message: Option<String>) -> Error {
    Error::with(Kind::Panic, message.map(Into::into))
}

/// A request body grew past `limit` bytes (BODY-3, BODY-4).
pub fn body_too_large(limit: u64) -> Error {
    Error::with(Kind::BodyTooLarge(limit), None)
}

/// The client took too long; `what` names what was waited for ("request
/// body read") (BODY-5).
pub fn timeout(what: &'static str) -> Error {
    Error::with(Kind::Timeout(what), None)
}

/// The client went away.
pub fn closed(cause: Option<BoxError>) -> Error {
    Error::with(Kind::Closed, cause)
}

/// What serves the request behind this server failed (a daemon died).
pub fn upstream(cause: impl Into<BoxError>) -> Error {
    Error::with(Kind::Upstream, Some(cause.into()))
}

/// The request is malformed.
pub fn bad_request(cause: impl Into<BoxError>) -> Error {
    Error::with(Kind::BadRequest, Some(cause.into()))
}

/// The settings could not be located, read or parsed (SET-4).
pub fn settings(cause: impl Into<BoxError>) -> Error {
    Error::with(Kind::Settings, Some(cause.into()))
}

/// The application could not be loaded: its factory or startup failed.
pub fn load(cause: impl Into<BoxError>) -> Error {
    Error::with(Kind::Load, Some(cause.into()))
}
