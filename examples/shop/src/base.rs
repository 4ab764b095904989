//! Where the site is mounted, for the URLs it makes for itself.

use std::convert::Infallible;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

/// The path prefix the site is mounted at: `""` at `/`, `"/shop"` under
/// `/shop`. Every URL the site builds (redirects, links, cookie paths)
/// starts with it, so the site works at any mount (PATH-4).
///
/// Under rgi it is the request's SCRIPT_NAME. Under plain axum it is the
/// [`Mount`] the serving binary put in the extensions when it nested the
/// site (`OriginalUri` cannot tell: a router the site nests itself, like
/// `/api`, also changes the URI).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Base(pub String);

/// Where a binary that serves the site with plain axum mounted it, for
/// [`Base`]: `Router::new().nest("/shop", site).layer(Extension(Mount("/shop".into())))`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount(pub String);

impl Base {
    /// `path` (which starts with `/`) under the mount.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.0)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Base {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        if let Some(environ) = parts.extensions.get::<rgi::Environ>() {
            return Ok(Self(environ.script_name().to_string()));
        }
        Ok(Self(parts.extensions.get::<Mount>().map(|m| m.0.clone()).unwrap_or_default()))
    }
}
