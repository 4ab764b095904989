//! Calling an application so that a panic stays inside its request (ERR-2).

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;

use rgi_core::{server_error, Application, Error, Request, Response};

/// Calls `app`, turning a panic into [`Error::is_panic`](rgi_core::Error::is_panic): what every server
/// does so that a panicking request ends in a `500` and nothing else is
/// lost (ERR-2).
///
/// The request moves into the application's future before this returns,
/// so a server awaiting the result holds one pointer, not the request.
pub fn call_guarded<'a, A: Application + ?Sized>(
    app: &'a A,
    request: Request,
) -> impl Future<Output = Result<Response, Error>> + Send + 'a {
    let call = AssertUnwindSafe(app.call(request)).catch_unwind();
    async move {
        match call.await {
            Ok(result) => result,
            Err(payload) => Err(server_error::panic(panic_message(&*payload))),
        }
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
