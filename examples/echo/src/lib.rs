//! The echo application: it reads the whole request body and answers with
//! a JSON object of what it saw, so that a test over a socket can check
//! the gateway variables a server supplied.
//!
//! The object holds every CGI variable of the request under its CGI name
//! (`REQUEST_METHOD`, `SCRIPT_NAME`, `PATH_INFO`, `QUERY_STRING`,
//! `CONTENT_TYPE`, `CONTENT_LENGTH`, `SERVER_NAME`, `SERVER_PORT`,
//! `SERVER_PROTOCOL`, `REMOTE_ADDR`, `REMOTE_PORT`, `HTTP_*`...), the WSGI
//! keys `wsgi.url_scheme`, `wsgi.multithread` and `wsgi.multiprocess`,
//! `rgi.mode`, `rgi.settings` (the settings file in use), `rgi.pid`,
//! `rgi.raw_script_name`, `rgi.raw_path_info`, `rgi.request_target` (the
//! request's URI as the application sees it), and the body's `body_length` and
//! `body_sha256`. `conformance/reference/echo_wsgi.py` prints the same
//! object under a WSGI server.

use rgi::http::header::{HeaderValue, CONTENT_TYPE};
use rgi::{async_trait, Application, Body, Error, Request, Response};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// The most body the echo application reads (the server's own limit
/// usually stops a request before this).
pub const MAX_BODY: u64 = 64 * 1024 * 1024;

/// Answers with the gateway variables and a digest of the body.
#[derive(Debug, Clone, Copy, Default)]
pub struct Echo;

#[async_trait]
impl Application for Echo {
    async fn call(&self, request: Request) -> Result<Response, Error> {
        let (http_request, environ) = request.into_parts();
        let (head, body) = http_request.into_parts();
        let mut object = Map::new();
        rgi_gateway::cgi::for_each_var(&environ, &head, |name, value| {
            object.insert(name.to_string(), Value::String(String::from_utf8_lossy(value).into_owned()));
        });
        object.insert("wsgi.url_scheme".into(), environ.url_scheme().as_str().into());
        object.insert("wsgi.multithread".into(), environ.deployment().multithread().into());
        object.insert("wsgi.multiprocess".into(), environ.deployment().multiprocess().into());
        object.insert("rgi.mode".into(), environ.deployment().mode().as_str().into());
        let settings = environ.deployment().settings().path().map(|p| p.display().to_string());
        object.insert("rgi.settings".into(), settings.unwrap_or_default().into());
        object.insert("rgi.pid".into(), environ.deployment().process_id().into());
        object.insert("rgi.raw_script_name".into(), environ.raw_script_name().into());
        object.insert("rgi.raw_path_info".into(), environ.raw_path_info().into());
        object.insert("rgi.request_target".into(), head.uri.to_string().into());
        let bytes = body.collect(MAX_BODY).await?;
        object.insert("body_length".into(), bytes.len().into());
        object.insert("body_sha256".into(), hex(&Sha256::digest(&bytes)).into());
        let json = serde_json::to_vec_pretty(&Value::Object(object)).map_err(Error::new)?;
        let mut response = Response::new(Body::from(json));
        response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        Ok(response)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
