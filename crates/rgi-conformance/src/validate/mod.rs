//! The validator middleware: both sides of the contract, checked on every
//! call.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use http::header::{self, HeaderMap};
use http::{Method, StatusCode};
use rgi_core::path::decode;
use rgi_core::{async_trait, Application, Body, Error, Request, Response};
use rgi_gateway::headers::{is_hop_by_hop, is_valid_value, upgrade_requested};
use rgi_gateway::path::RequestTarget;

mod body;
pub mod rules;

pub use rules::{Rule, Severity};

use body::{Checked, RequestCheck, ResponseCheck};

/// What the validator does with a violation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ValidateMode {
    /// Log it (MUST violations as errors, SHOULD as warnings) and go on.
    #[default]
    Log,
    /// Log it, and fail the request: a `500` when the response has not
    /// started, an ended connection when it has. SHOULD violations are only
    /// logged.
    Fail,
    /// Panic with the violation's message (for tests). SHOULD violations are
    /// only logged.
    Panic,
}

/// A broken rule, with what was seen.
#[derive(Debug, Clone)]
pub struct Violation {
    /// The rule.
    pub rule: &'static Rule,
    /// What was seen, concretely.
    pub detail: String,
}

impl Violation {
    /// Whether it breaks a MUST.
    pub fn is_error(&self) -> bool {
        self.rule.severity == Severity::Must
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.rule.severity {
            Severity::Must => "MUST",
            Severity::Should => "SHOULD",
        };
        let who = match self.rule.side {
            rules::Side::Server => "server",
            rules::Side::Application => "application",
        };
        write!(
            f,
            "[{}] {who} broke a {level}: {} ({}); fix: {}",
            self.rule.id, self.rule.summary, self.detail, self.rule.fix
        )
    }
}

/// Every rule the validator checks.
pub fn rules() -> &'static [&'static Rule] {
    rules::ALL
}

/// Where violations go.
#[derive(Clone)]
pub(crate) struct Sink {
    mode: ValidateMode,
    collected: Option<Arc<Mutex<Vec<Violation>>>>,
}

impl Sink {
    /// Records a violation; returns whether the request must fail.
    pub(crate) fn report(&self, rule: &'static Rule, detail: String) -> bool {
        let violation = Violation { rule, detail };
        if let Some(all) = &self.collected {
            all.lock().unwrap_or_else(PoisonError::into_inner).push(violation.clone());
        }
        if violation.is_error() {
            tracing::error!(target: "rgi::validate", "{violation}");
            match self.mode {
                ValidateMode::Log => false,
                ValidateMode::Fail => true,
                ValidateMode::Panic => panic!("{violation}"),
            }
        } else {
            tracing::warn!(target: "rgi::validate", "{violation}");
            false
        }
    }
}

/// Wraps an application and checks every call against the spec.
///
/// ```
/// use rgi_conformance::{Validate, ValidateMode};
///
/// let app = rgi_core::from_fn(|_| async { Ok(http::Response::new(rgi_core::Body::from("ok"))) });
/// let checked = Validate::new(app).mode(ValidateMode::Fail);
/// ```
pub struct Validate<A> {
    inner: A,
    sink: Sink,
}

impl<A> Validate<A> {
    /// Validates `app`, logging violations.
    pub fn new(app: A) -> Self {
        Self { inner: app, sink: Sink { mode: ValidateMode::Log, collected: None } }
    }

    /// What to do with violations.
    pub fn mode(mut self, mode: ValidateMode) -> Self {
        self.sink.mode = mode;
        self
    }

    /// Also keeps every violation in `into`, to inspect later.
    pub fn collect_into(mut self, into: Arc<Mutex<Vec<Violation>>>) -> Self {
        self.sink.collected = Some(into);
        self
    }
}

impl<A> fmt::Debug for Validate<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Validate").field("mode", &self.sink.mode).finish()
    }
}

#[async_trait]
impl<A: Application> Application for Validate<A> {
    async fn call(&self, mut request: Request) -> Result<Response, Error> {
        if check_request(&request, &self.sink) {
            return Ok(failed());
        }
        let declared = content_length(request.headers());
        let body = std::mem::take(request.body_mut());
        *request.body_mut() = Body::wrap(Checked::new(body, self.sink.clone(), RequestCheck::new(declared)));
        let method = request.method().clone();
        let upgrade = is_upgrade(&request);
        let mut response = self.inner.call(request).await?;
        if check_response_head(&response, upgrade, &self.sink) {
            return Ok(failed());
        }
        if response.status() == StatusCode::SWITCHING_PROTOCOLS {
            // Its body is what the application sends on the connection.
            return Ok(response);
        }
        let declared = content_length(response.headers());
        let bodiless = method == Method::HEAD
            || response.status() == StatusCode::NO_CONTENT
            || response.status() == StatusCode::NOT_MODIFIED;
        let check = ResponseCheck::new(if bodiless { None } else { declared }, bodiless);
        let body = std::mem::take(response.body_mut());
        *response.body_mut() = Body::wrap(Checked::new(body, self.sink.clone(), check));
        Ok(response)
    }

    async fn startup(&self) -> Result<(), Error> {
        self.inner.startup().await
    }

    async fn shutdown(&self) {
        self.inner.shutdown().await;
    }
}

/// An HTTP/1.1 upgrade request (UPG-1).
fn is_upgrade(request: &Request) -> bool {
    request.version() == http::Version::HTTP_11 && upgrade_requested(request.headers()).is_some()
}

fn failed() -> Response {
    let mut response = Response::new(Body::from("the validator failed this request: see the log\n"));
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    response
}

fn content_length(headers: &HeaderMap) -> Option<Result<u64, String>> {
    let mut values = headers.get_all(header::CONTENT_LENGTH).iter();
    let first = values.next()?;
    if values.next().is_some() {
        return Some(Err("several Content-Length fields".into()));
    }
    let text = first.to_str().unwrap_or("");
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Err(format!("Content-Length {text:?} is not a decimal number")));
    }
    Some(text.parse().map_err(|_| format!("Content-Length {text:?} overflows")))
}

/// The server's side (PATH-*, ENV-*, HDR-1 to HDR-4). Returns whether the
/// request must fail.
fn check_request(request: &Request, sink: &Sink) -> bool {
    let env = request.environ();
    let mut fail = false;
    let script = env.script_name();
    if !(script.is_empty() || (script.starts_with('/') && !script.ends_with('/'))) {
        fail |= sink.report(&rules::SCRIPT_NAME_SHAPE, format!("SCRIPT_NAME is {script:?}"));
    }
    let info = env.path_info();
    let asterisk = request.method() == Method::OPTIONS && info == "*";
    if !(info.is_empty() || info.starts_with('/') || asterisk) {
        fail |= sink.report(&rules::PATH_INFO_SHAPE, format!("PATH_INFO is {info:?}"));
    }
    match RequestTarget::from_uri(request.uri()) {
        Ok(target) => {
            let joined = format!("{}{}", env.raw_script_name(), env.raw_path_info());
            if target.raw_path() != joined {
                let detail =
                    format!("the target's path is {:?}, SCRIPT_NAME + PATH_INFO give {joined:?}", target.raw_path());
                fail |= sink.report(&rules::SPLIT_RECONSTRUCTS, detail);
            }
            if target.query() != env.query_string() {
                let detail =
                    format!("the target's query is {:?}, QUERY_STRING {:?}", target.query(), env.query_string());
                fail |= sink.report(&rules::QUERY_RAW, detail);
            }
        }
        Err(e) => fail |= sink.report(&rules::SPLIT_RECONSTRUCTS, format!("the request target is unusable: {e}")),
    }
    if decode(env.raw_script_name()) != script || decode(env.raw_path_info()) != info {
        let detail = format!(
            "raw {:?} + {:?} decode to something else than {script:?} + {info:?}",
            env.raw_script_name(),
            env.raw_path_info()
        );
        fail |= sink.report(&rules::DECODED_FORMS, detail);
    }
    if let Some(seg) = env.path_segments().find(|s| s == "." || s == "..") {
        fail |= sink.report(&rules::NO_DOT_SEGMENTS, format!("PATH_INFO {info:?} holds a {seg:?} segment"));
    }
    if let Some(Err(problem)) = content_length(request.headers()) {
        fail |= sink.report(&rules::CONTENT_LENGTH_SHAPE, problem);
    }
    let headers = request.headers();
    let upgrade = is_upgrade(request);
    let body = request.body();
    if upgrade && !http_body::Body::is_end_stream(body) && http_body::Body::size_hint(body).exact() != Some(0) {
        fail |= sink.report(&rules::UPGRADE_WITHOUT_BODY, "an upgrade request with a body".into());
    }
    for name in headers.keys() {
        let text = name.as_str();
        if text.contains('_') {
            fail |= sink.report(&rules::NO_UNDERSCORE_HEADERS, format!("header {text:?}"));
        }
        if text == "proxy" {
            fail |= sink.report(&rules::NO_PROXY_HEADER, "a Proxy header".into());
        }
        let switching = upgrade && (name == header::UPGRADE || name == header::CONNECTION);
        if is_hop_by_hop(name) && !switching {
            fail |= sink.report(&rules::NO_HOP_BY_HOP_REQUEST, format!("header {text:?}"));
        }
        if headers.get_all(name).iter().nth(1).is_some() {
            fail |= sink.report(&rules::NO_REPEATED_HEADERS, format!("header {text:?} appears more than once"));
        }
    }
    if request.version() == http::Version::HTTP_11 && env.server_name().is_empty() {
        fail |= sink.report(&rules::SERVER_NAME_PRESENT, "SERVER_NAME is empty".into());
    }
    if env.deployment().process_id() != std::process::id() {
        let detail =
            format!("the deployment says {}, this process is {}", env.deployment().process_id(), std::process::id());
        fail |= sink.report(&rules::PROCESS_ID, detail);
    }
    fail
}

/// The application's side of the head (APP-3, APP-5, APP-10, UPG-3).
fn check_response_head(response: &Response, upgrade: bool, sink: &Sink) -> bool {
    let mut fail = false;
    let status = response.status().as_u16();
    let switching = response.status() == StatusCode::SWITCHING_PROTOCOLS;
    if switching && !upgrade {
        fail |= sink.report(&rules::SWITCH_ONLY_WHEN_ASKED, "a 101 to a request that asked for no upgrade".into());
    } else if switching && !response.headers().contains_key(header::UPGRADE) {
        fail |= sink.report(&rules::SWITCH_ONLY_WHEN_ASKED, "a 101 without an Upgrade field".into());
    } else if !switching && !(200..=599).contains(&status) {
        fail |= sink.report(&rules::FINAL_STATUS, format!("status {status}"));
    }
    for (name, value) in response.headers() {
        if !is_valid_value(value.as_bytes()) {
            fail |= sink.report(&rules::HEADER_VALUE_BYTES, format!("header {name}"));
        }
    }
    for name in response.headers().keys() {
        let protocol = switching && (name == header::UPGRADE || name == header::CONNECTION);
        if is_hop_by_hop(name) && !protocol {
            fail |= sink.report(&rules::NO_HOP_BY_HOP_RESPONSE, format!("header {name}"));
        }
    }
    if let Some(Err(problem)) = content_length(response.headers()) {
        fail |= sink.report(&rules::CONTENT_LENGTH_MATCHES, problem);
    }
    fail
}
