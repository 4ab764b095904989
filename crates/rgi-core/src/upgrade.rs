//! Switching protocols (UPG-10): an application that answers an upgrade
//! request `101` reads what the client sends next from the request's
//! [`OnUpgrade`], and sends through the `101` response's body.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use crate::{Body, Error};

type Incoming = Pin<Box<dyn Future<Output = Result<Body, Error>> + Send>>;

/// In the extensions of an upgrade request (UPG-1) on a server that can
/// hand its connection over: resolves, once the server has sent the
/// application's `101`, to the bytes the client sends from then on. What
/// the application sends is the `101` response's body; the connection
/// closes when that body ends and the incoming one is dropped (or the
/// client closes it, or the server's grace period ends, UPG-4).
///
/// A `101` with an empty body leaves the connection to whoever took it
/// (the tower adapter's applications use hyper's own handle).
///
/// ```
/// use rgi_core::upgrade::OnUpgrade;
/// use rgi_core::{Body, Error, Request, Response};
///
/// /// Echoes every byte back, on any protocol the client asked for.
/// fn echo(mut request: Request) -> Result<Response, Error> {
///     let Some(upgrade) = request.extensions_mut().remove::<OnUpgrade>() else {
///         return Ok(http::Response::builder().status(426).body(Body::from("upgrade required"))?);
///     };
///     let protocol = request.headers()[http::header::UPGRADE].clone();
///     // The reply starts once the client's bytes can be read.
///     let replies = futures_util::stream::once(upgrade)
///         .map(|incoming| incoming.map(Body::into_data_stream))
///         .try_flatten();
///     Ok(http::Response::builder()
///         .status(http::StatusCode::SWITCHING_PROTOCOLS)
///         .header(http::header::UPGRADE, protocol)
///         .body(Body::from_stream(replies))?)
/// }
/// # use futures_util::{StreamExt, TryStreamExt};
/// ```
#[derive(Clone)]
pub struct OnUpgrade(Arc<Mutex<Option<Incoming>>>);

impl OnUpgrade {
    /// For servers: an upgrade whose incoming bytes `incoming` resolves
    /// to, after the `101` went out; an error if it never does.
    pub fn new(incoming: impl Future<Output = Result<Body, Error>> + Send + 'static) -> Self {
        Self(Arc::new(Mutex::new(Some(Box::pin(incoming)))))
    }
}

impl Future for OnUpgrade {
    type Output = Result<Body, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut slot = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(incoming) = slot.as_mut() else {
            return Poll::Ready(Err(Error::msg("the upgraded connection was taken already")));
        };
        let done = std::task::ready!(incoming.as_mut().poll(cx));
        *slot = None;
        Poll::Ready(done)
    }
}

impl fmt::Debug for OnUpgrade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OnUpgrade")
    }
}
