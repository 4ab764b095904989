//! The smallest rgi application: `200 OK`, `text/plain`, `Hello, World!`
//! for every request. The benchmarks depend on exactly this answer.

use rgi::http::header::{HeaderValue, CONTENT_TYPE};
use rgi::{async_trait, Application, Body, Error, Request, Response};

/// Answers every request with `Hello, World!`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Hello;

#[async_trait]
impl Application for Hello {
    async fn call(&self, _request: Request) -> Result<Response, Error> {
        let mut response = Response::new(Body::from("Hello, World!"));
        response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        Ok(response)
    }
}
