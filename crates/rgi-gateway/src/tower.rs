//! tower interop (feature `tower`): any `tower::Service` serving
//! `http::Request`s is an [`Application`], and any [`Application`] is a
//! `tower::Service` (APP-8, APP-9). An axum `Router` runs under rgi as it is.
//!
//! ```
//! use rgi_gateway::tower::{from_service, into_service};
//!
//! let router = axum::Router::new().route("/", axum::routing::get(|| async { "Hello, World!" }));
//! let app = from_service(router); // an rgi Application
//! let svc = into_service(std::sync::Arc::new(app)); // and back to a tower Service
//! ```

use std::convert::Infallible;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::Uri;
use rgi_core::async_trait;
use tower_service::Service;

use rgi_core::{Application, Body, BoxError, Deployment, Environ, Error, Mode, Request, Response, Settings};

use crate::guard::call_guarded;
use crate::respond::error_response;

/// The request target as the server received it, when [`ServiceApp`]
/// rewrote the URI to be relative to the mount (like axum's `OriginalUri`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginalUri(pub Uri);

/// Makes a tower `Service` an [`Application`].
pub fn from_service<S>(service: S) -> ServiceApp<S> {
    ServiceApp { service, startup: None, shutdown: None }
}

type StartupHook = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), Error>> + Send>> + Send + Sync>;
type ShutdownHook = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// A tower `Service` serving as an [`Application`]; see [`from_service`].
///
/// Each call clones the service (as axum does per connection), waits for
/// it to be ready and calls it with an `http::Request` whose extensions
/// hold the [`Environ`]. When the application is mounted under a prefix,
/// the URI the service sees is the raw PATH_INFO plus query, so routers
/// written for `/` work under any mount (SCRIPT_NAME is stripped, as WSGI
/// frameworks do), and at the root too the path has its dot segments
/// removed (PATH-2), so one rule holds at every mount; [`OriginalUri`]
/// keeps the received URI whenever it was rewritten.
#[derive(Clone)]
pub struct ServiceApp<S> {
    service: S,
    startup: Option<StartupHook>,
    shutdown: Option<ShutdownHook>,
}

impl<S> ServiceApp<S> {
    /// Runs `hook` as the application's `startup` (APP-4): once, before the
    /// first request, inside the runtime; an error means the application
    /// failed to load. Where a service awaits its database pool, warms a
    /// cache or spawns background work.
    ///
    /// ```
    /// let app = rgi_gateway::tower::from_service(axum::Router::<()>::new())
    ///     .on_startup(|| async { Ok(()) })
    ///     .on_shutdown(|| async {});
    /// ```
    pub fn on_startup<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), Error>> + Send + 'static,
    {
        self.startup = Some(Arc::new(move || Box::pin(hook())));
        self
    }

    /// Runs `hook` as the application's `shutdown` (APP-4): once, after the
    /// last request.
    pub fn on_shutdown<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.shutdown = Some(Arc::new(move || Box::pin(hook())));
        self
    }
}

impl<S: std::fmt::Debug> std::fmt::Debug for ServiceApp<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceApp")
            .field("service", &self.service)
            .field("startup", &self.startup.is_some())
            .field("shutdown", &self.shutdown.is_some())
            .finish()
    }
}

#[async_trait]
impl<S, B> Application for ServiceApp<S>
where
    S: Service<http::Request<Body>, Response = http::Response<B>> + Clone + Send + Sync + 'static,
    S::Future: Send,
    S::Error: Into<BoxError>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    async fn call(&self, request: Request) -> Result<Response, Error> {
        let mut service = self.service.clone();
        poll_fn(|cx| service.poll_ready(cx)).await.map_err(Error::new)?;
        // The service sees the path the environ holds (dot segments removed,
        // PATH-2, relative to the mount) whatever the mount, the root
        // included: one rule everywhere. The URI is rewritten only when it
        // differs.
        let rewrite =
            !request.environ().script_name().is_empty() || request.uri().path() != request.environ().raw_path_info();
        #[cfg(feature = "axum")]
        let remote = request.environ().remote_addr();
        let mut request = request.into_http();
        // What axum::serve gives handlers (`ConnectInfo<SocketAddr>`): the
        // client's address, behind a front the one the front passed.
        #[cfg(feature = "axum")]
        if let Some(remote) = remote {
            request.extensions_mut().insert(axum::extract::ConnectInfo(remote));
        }
        if rewrite {
            relative_to_mount(&mut request);
        }
        let response = service.call(request).await.map_err(Error::new)?;
        Ok(response.map(Body::wrap))
    }

    async fn startup(&self) -> Result<(), Error> {
        match &self.startup {
            Some(hook) => hook().await,
            None => Ok(()),
        }
    }

    async fn shutdown(&self) {
        if let Some(hook) = &self.shutdown {
            hook().await;
        }
    }
}

fn relative_to_mount(request: &mut http::Request<Body>) {
    let Some(environ) = request.extensions().get::<Environ>() else { return };
    let path = match environ.raw_path_info() {
        "" => "/",
        p => p,
    };
    // The query as received: `/x?` keeps its `?`, as it does at the root.
    let pq = match request.uri().query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_string(),
    };
    if let Ok(uri) = Uri::try_from(pq) {
        let original = std::mem::replace(request.uri_mut(), uri);
        // axum's own, so `OriginalUri` works as under `Router::nest`
        // (axum's router keeps one it finds).
        #[cfg(feature = "axum")]
        request.extensions_mut().insert(axum::extract::OriginalUri(original.clone()));
        request.extensions_mut().insert(OriginalUri(original));
    }
}

/// Makes an [`Application`] a tower `Service`.
pub fn into_service<A: Application + ?Sized>(app: Arc<A>) -> AppService<A> {
    let deployment = Arc::new(Deployment::new(Mode::Embedded, Arc::new(Settings::empty())));
    AppService { app, deployment }
}

/// An [`Application`] serving as a tower `Service`; see [`into_service`].
///
/// The request's [`Environ`] is taken from its extensions when an rgi
/// server put it there, and otherwise derived from the request
/// ([`derive`](crate::environ::derive)); a request from which none can be derived gets a
/// `400`. Errors and panics become a `500` as under an rgi server, so the
/// service's error type is `Infallible` (what axum's `nest_service` wants);
/// the [`Error`] rides in the response's extensions for logging.
#[derive(Debug)]
pub struct AppService<A: ?Sized> {
    app: Arc<A>,
    deployment: Arc<Deployment>,
}

impl<A: ?Sized> AppService<A> {
    /// Uses `deployment` for environs it has to derive.
    pub fn with_deployment(mut self, deployment: Arc<Deployment>) -> Self {
        self.deployment = deployment;
        self
    }
}

impl<A: ?Sized> Clone for AppService<A> {
    fn clone(&self) -> Self {
        Self { app: Arc::clone(&self.app), deployment: Arc::clone(&self.deployment) }
    }
}

impl<A, B> Service<http::Request<B>> for AppService<A>
where
    A: Application + ?Sized,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let (mut head, body) = request.into_parts();
        let environ = match head.extensions.remove::<Environ>() {
            Some(environ) => Ok(environ),
            None => crate::environ::derive(&mut head, Arc::clone(&self.deployment)),
        };
        let app = Arc::clone(&self.app);
        Box::pin(async move {
            let environ = match environ {
                Ok(environ) => environ,
                Err(err) => return Ok(with_error(rgi_core::server_error::bad_request(err))),
            };
            let request = Request::new(http::Request::from_parts(head, Body::wrap(body)), environ);
            Ok(match call_guarded(&*app, request).await {
                Ok(response) => response,
                Err(err) => with_error(err),
            })
        })
    }
}

/// An error carried to whoever logs responses.
#[derive(Debug, Clone)]
pub struct AppError(pub Arc<Error>);

/// The answer to a failed call, carrying the error for the log.
fn with_error(err: Error) -> http::Response<Body> {
    let mut response = error_response(&err);
    response.extensions_mut().insert(AppError(Arc::new(err)));
    response
}
