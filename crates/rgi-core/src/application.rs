//! The `Application` trait: how a server calls a web application (APP-*).

use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;

use crate::error::Error;
use crate::request::{Request, Response};

/// A web application: one asynchronous call from request to response.
///
/// This is rgi's `application(environ, start_response)`. A server calls
/// [`call`](Application::call) once per request, maybe many at a time from
/// several threads, which is why an application is `Send + Sync + 'static`
/// and takes `&self` (APP-1). It is object safe: servers hold an
/// `Arc<dyn Application>`.
///
/// * The [`Request`] carries the head, a streaming body and the gateway
///   variables (APP-2).
/// * The [`Response`] is an `http::Response` with a streaming
///   [`Body`](crate::Body) (APP-3). Its status is a final one (200-599);
///   hop-by-hop headers are the server's (APP-5); a `Content-Length` must
///   match the body (APP-6).
/// * An `Err`, or a panic, becomes a `500 Internal Server Error` for this
///   request only, logged by the server with the request line (ERR-1,
///   ERR-2). Errors of other kinds keep their meaning: a body over its
///   limit passed on with `?` becomes a `413` (ERR-5).
/// * When the client goes away, the server drops the call's future or the
///   response body, whichever it holds: `Drop` is rgi's `close()` (APP-7).
///
/// [`startup`](Application::startup) runs once, after the settings are
/// loaded and before the first request; [`shutdown`](Application::shutdown)
/// once after the last (APP-4). A failed startup means the application
/// failed to load: the process exits with a reserved status instead of
/// serving.
///
/// ```
/// use rgi_core::{async_trait, Application, Body, Error, Request, Response};
///
/// struct Hello;
///
/// #[async_trait]
/// impl Application for Hello {
///     async fn call(&self, _request: Request) -> Result<Response, Error> {
///         Ok(http::Response::builder()
///             .header("content-type", "text/plain")
///             .body(Body::from("Hello, World!"))?)
///     }
/// }
///
/// let app: std::sync::Arc<dyn Application> = std::sync::Arc::new(Hello);
/// ```
#[async_trait]
pub trait Application: Send + Sync + 'static {
    /// Answers one request.
    async fn call(&self, request: Request) -> Result<Response, Error>;

    /// Runs once before the first request. The default does nothing.
    async fn startup(&self) -> Result<(), Error> {
        Ok(())
    }

    /// Runs once after the last request. The default does nothing.
    async fn shutdown(&self) {}
}

#[async_trait]
impl<A: Application + ?Sized> Application for Arc<A> {
    async fn call(&self, request: Request) -> Result<Response, Error> {
        (**self).call(request).await
    }

    async fn startup(&self) -> Result<(), Error> {
        (**self).startup().await
    }

    async fn shutdown(&self) {
        (**self).shutdown().await
    }
}

#[async_trait]
impl<A: Application + ?Sized> Application for Box<A> {
    async fn call(&self, request: Request) -> Result<Response, Error> {
        (**self).call(request).await
    }

    async fn startup(&self) -> Result<(), Error> {
        (**self).startup().await
    }

    async fn shutdown(&self) {
        (**self).shutdown().await
    }
}

/// An application from an async function or closure.
///
/// ```
/// use rgi_core::{from_fn, Body, Request};
///
/// let app = from_fn(|req: Request| async move {
///     let name = req.environ().path_info().trim_start_matches('/').to_string();
///     Ok(http::Response::new(Body::from(format!("Hello, {name}!"))))
/// });
/// ```
pub fn from_fn<F, Fut>(f: F) -> FromFn<F>
where
    F: Fn(Request) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Response, Error>> + Send + 'static,
{
    FromFn { f }
}

/// The application [`from_fn`] returns.
#[derive(Clone)]
pub struct FromFn<F> {
    f: F,
}

impl<F> std::fmt::Debug for FromFn<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FromFn")
    }
}

#[async_trait]
impl<F, Fut> Application for FromFn<F>
where
    F: Fn(Request) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Response, Error>> + Send + 'static,
{
    async fn call(&self, request: Request) -> Result<Response, Error> {
        (self.f)(request).await
    }
}
