//! Calling an application so that a panic stays inside its request (ERR-2).

use std::any::Any;
use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;

use crate::application::Application;
use crate::error::Error;
use crate::request::{Request, Response};

/// Calls `app`, turning a panic into [`Error::is_panic`]: what every server
/// does so that a panicking request ends in a `500` and nothing else is
/// lost (ERR-2).
pub async fn call_guarded<A: Application + ?Sized>(app: &A, request: Request) -> Result<Response, Error> {
    match AssertUnwindSafe(app.call(request)).catch_unwind().await {
        Ok(result) => result,
        Err(payload) => Err(Error::panic(panic_message(&*payload))),
    }
}

/// The message of a panic payload, when it is a string.
pub fn panic_message(payload: &(dyn Any + Send)) -> Option<String> {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        Some((*s).to_string())
    } else {
        payload.downcast_ref::<String>().cloned()
    }
}
