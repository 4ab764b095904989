//! The application suite: generated requests, in process, under the
//! validator; a failure comes back shrunk to a minimal request.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};
use rgi_core::{Application, Body, Request};
use rgi_gateway::call_guarded;

use crate::validate::{Validate, ValidateMode, Violation};

/// Checks `app` with generated requests and panics, naming a minimal
/// failing request, if it panics or breaks a MUST of the contract. For
/// `cargo test`:
///
/// ```no_run
/// #[test]
/// fn keeps_the_contract() {
///     rgi_conformance::check_app(hello::Hello);
/// }
/// ```
///
/// `PROPTEST_CASES` sets how many requests (default 256).
pub fn check_app(app: impl Application) {
    if let Err(failure) = AppSuite::new(app).run() {
        panic!("{failure}");
    }
}

/// The application suite, configurable.
#[derive(Debug)]
pub struct AppSuite<A> {
    app: Arc<A>,
    cases: u32,
    read_limit: usize,
    read_time: Duration,
}

/// Why an application failed the suite, for a minimal request.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The smallest request found that fails.
    pub request: String,
    /// What went wrong with it.
    pub problem: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the application failed the rgi application suite\n  request: {}\n  problem: {}",
            self.request, self.problem
        )
    }
}

impl std::error::Error for Failure {}

/// One generated request.
#[derive(Debug, Clone)]
struct Case {
    method: &'static str,
    mount: &'static str,
    path: String,
    query: Option<String>,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    chunked: bool,
    /// A body limit smaller than the body, as a server with a limit applies.
    limit: Option<u64>,
}

impl fmt::Display for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}{}", self.method, self.mount, self.path)?;
        if let Some(q) = &self.query {
            write!(f, "?{q}")?;
        }
        for (k, v) in &self.headers {
            write!(f, " [{k}: {v}]")?;
        }
        write!(f, " body={} bytes", self.body.len())?;
        if self.chunked {
            f.write_str(" (streamed)")?;
        }
        if let Some(limit) = self.limit {
            write!(f, " (server body limit {limit})")?;
        }
        if !self.mount.is_empty() {
            write!(f, " mounted at {}", self.mount)?;
        }
        Ok(())
    }
}

fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z0-9_.~-]{0,8}",
        1 => Just("..".to_string()),
        1 => Just(".".to_string()),
        1 => Just("%2F".to_string()),
        1 => Just("%2e%2E".to_string()),
        1 => Just("%20".to_string()),
        1 => Just("%25".to_string()),
        1 => Just("%C3%A9".to_string()),
        1 => Just("%FF%FE".to_string()),
        1 => Just("%00".to_string()),
        1 => "[!$&'()*+,;=:@]{1,4}",
        1 => Just(String::new()),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    let method = prop_oneof![
        4 => Just("GET"), 2 => Just("POST"), 2 => Just("HEAD"), 1 => Just("PUT"), 1 => Just("DELETE"),
        1 => Just("OPTIONS"), 1 => Just("PATCH"), 1 => Just("PROPFIND"),
    ];
    let header = (
        prop_oneof![
            Just("accept".to_string()),
            Just("content-type".to_string()),
            Just("cookie".to_string()),
            Just("if-none-match".to_string()),
            Just("range".to_string()),
            Just("authorization".to_string()),
            "x-[a-z]{1,8}",
        ],
        "[ -~]{0,24}",
    );
    (
        method,
        prop_oneof![3 => Just(""), 1 => Just("/app")],
        proptest::collection::vec(segment(), 0..6).prop_map(|s| format!("/{}", s.join("/"))),
        proptest::option::of("[a-zA-Z0-9=&%+._-]{0,16}"),
        proptest::collection::vec(header, 0..5),
        // A length and a pattern rather than a vector of bytes: a byte
        // vector shrinks one element per step and cannot get a 5 KiB body
        // down to one byte within proptest's shrink budget; a length
        // shrinks by bisection.
        (proptest::collection::vec(any::<u8>(), 1..64), prop_oneof![3 => 0usize..64, 1 => 0usize..20_000])
            .prop_map(|(pattern, len)| pattern.iter().copied().cycle().take(len).collect::<Vec<u8>>()),
        any::<bool>(),
        proptest::option::weighted(0.15, 0u64..32),
    )
        .prop_map(|(method, mount, path, query, headers, body, chunked, limit)| {
            let limit = limit.filter(|l| (*l as usize) < body.len());
            Case { method, mount, path, query, headers, body, chunked, limit }
        })
}

impl<A: Application> AppSuite<A> {
    /// The suite for `app`.
    pub fn new(app: A) -> Self {
        let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256);
        Self { app: Arc::new(app), cases, read_limit: 16 << 20, read_time: Duration::from_secs(2) }
    }

    /// How many generated requests.
    pub fn cases(mut self, cases: u32) -> Self {
        self.cases = cases;
        self
    }

    /// How long to read each response body before dropping it (long
    /// streams are valid; the suite stops listening, as a client may).
    pub fn read_time(mut self, read_time: Duration) -> Self {
        self.read_time = read_time;
        self
    }

    /// Runs the suite; `Err` names a minimal failing request.
    pub fn run(&self) -> Result<(), Failure> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Failure { request: String::new(), problem: format!("cannot start a runtime: {e}") })?;
        let mut runner = TestRunner::new(Config { cases: self.cases, failure_persistence: None, ..Config::default() });
        let result = runner.run(&case(), |case| {
            // A generated request a server would refuse (a path that climbs
            // out of its mount) never reaches an application: not a case.
            let Ok(request) = build(&case) else { return Err(TestCaseError::reject("refused by the server rules")) };
            runtime.block_on(self.one(request)).map_err(TestCaseError::fail)
        });
        match result {
            Ok(()) => Ok(()),
            Err(TestError::Fail(reason, case)) => {
                Err(Failure { request: case.to_string(), problem: reason.to_string() })
            }
            Err(TestError::Abort(reason)) => Err(Failure { request: String::new(), problem: reason.to_string() }),
        }
    }

    async fn one(&self, request: Request) -> Result<(), String> {
        let violations = Arc::new(Mutex::new(Vec::<Violation>::new()));
        let app = Validate::new(Arc::clone(&self.app)).mode(ValidateMode::Log).collect_into(Arc::clone(&violations));
        let outcome = call_guarded(&app, request).await;
        let mut problems = Vec::new();
        match outcome {
            Ok(response) => {
                let mut body = response.into_body();
                let mut read = 0usize;
                let drained = tokio::time::timeout(self.read_time, async {
                    while let Some(frame) = body.frame().await {
                        match frame {
                            Ok(frame) => read += frame.data_ref().map_or(0, bytes::Bytes::len),
                            Err(e) if e.is_panic() => return Err(format!("the response body panicked: {e}")),
                            Err(_) => return Ok(()),
                        }
                        if read > self.read_limit {
                            return Ok(());
                        }
                    }
                    Ok(())
                })
                .await;
                if let Ok(Err(problem)) = drained {
                    problems.push(problem);
                }
            }
            Err(e) if e.is_panic() => problems.push(format!("the application panicked: {e}")),
            // An error becomes a 500 for this request only (ERR-1): allowed.
            Err(_) => {}
        }
        let broken: Vec<String> = violations
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|v| v.is_error())
            .map(ToString::to_string)
            .collect();
        problems.extend(broken);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("\n  "))
        }
    }
}

fn build(case: &Case) -> Result<Request, rgi_core::Error> {
    let target = match &case.query {
        Some(q) => format!("{}{}?{q}", case.mount, case.path),
        None => format!("{}{}", case.mount, case.path),
    };
    let mut builder =
        rgi_gateway::testing::RequestBuilder::new().method(case.method).uri(target.as_str()).mount(case.mount);
    let mut has_type = false;
    for (name, value) in &case.headers {
        has_type |= name == "content-type";
        builder = builder.header(name.as_str(), value.trim());
    }
    if !case.body.is_empty() && !case.chunked {
        builder = builder.header("content-length", case.body.len().to_string());
    }
    if !case.body.is_empty() && !has_type {
        builder = builder.header("content-type", "application/octet-stream");
    }
    let body = if case.chunked {
        let chunks: Vec<Result<bytes::Bytes, std::io::Error>> =
            case.body.chunks(997).map(|c| Ok(bytes::Bytes::copy_from_slice(c))).collect();
        Body::from_stream(futures_util::stream::iter(chunks))
    } else {
        Body::from(case.body.clone())
    };
    let body = match case.limit {
        Some(limit) => rgi_gateway::limit(body, limit),
        None => body,
    };
    builder.body(body)
}
