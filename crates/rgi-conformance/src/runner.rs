//! The server suite: replays vectors over real sockets against a server
//! running the echo application, and reports each result.

use std::fmt;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::client::{Conn, WireResponse};
use crate::vectors::{Expect, RequestSpec, Vector, FRONT_NORMALISES, NEEDS_PREFIX, NEEDS_ROOT, RGI_ONLY};

/// The server under test: where it listens and where echo is mounted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `host:port` to connect to.
    pub authority: String,
    /// The echo application's mount prefix: empty, or `/x` (no trailing `/`).
    pub prefix: String,
}

impl Target {
    /// Parses `http://host:port[/prefix]`.
    ///
    /// ```
    /// let t = rgi_conformance::Target::parse("http://127.0.0.1:8000/echo/").unwrap();
    /// assert_eq!((t.authority.as_str(), t.prefix.as_str()), ("127.0.0.1:8000", "/echo"));
    /// ```
    pub fn parse(url: &str) -> Result<Self, String> {
        let rest = url.strip_prefix("http://").ok_or_else(|| format!("{url:?}: only http:// URLs are supported"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if authority.is_empty() || !authority.contains(':') {
            return Err(format!("{url:?}: give the port, as in http://127.0.0.1:8000"));
        }
        Ok(Self { authority: authority.to_string(), prefix: path.trim_end_matches('/').to_string() })
    }
}

/// Which vectors apply to the server under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Profile {
    /// An rgi server: every vector.
    #[default]
    Rgi,
    /// A reference WSGI server (gunicorn): vectors tagged `rgi-only` skipped.
    WsgiReference,
    /// An rgi daemon behind a front server such as nginx: vectors the front
    /// rewrites (`front-normalises`) skipped.
    Front,
}

/// How to run the suite.
#[derive(Debug, Clone)]
pub struct Options {
    /// Which vectors apply.
    pub profile: Profile,
    /// Run only vectors whose id contains this.
    pub only: Option<String>,
    /// The front server in the way (`apache`, `caddy`, `haproxy`,
    /// `nginx`...): vectors whose `front-quirks` name it are skipped.
    pub front: Option<String>,
    /// How long to wait for any one answer.
    pub timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self { profile: Profile::Rgi, only: None, front: None, timeout: Duration::from_secs(10) }
    }
}

/// What happened to one vector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It passed.
    Pass,
    /// It failed; each string names one mismatch (expected vs actual).
    Fail(Vec<String>),
    /// It does not apply here, and why.
    Skip(String),
}

/// The result of one vector.
#[derive(Debug, Clone)]
pub struct VectorResult {
    /// The vector's id.
    pub id: String,
    /// The outcome.
    pub outcome: Outcome,
}

impl fmt::Display for VectorResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.outcome {
            Outcome::Pass => write!(f, "PASS  {}", self.id),
            Outcome::Fail(problems) => write!(f, "FAIL  {}  {}", self.id, problems.join("; ")),
            Outcome::Skip(why) => write!(f, "SKIP  {}  ({why})", self.id),
        }
    }
}

/// All results of a run.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// One per vector, in order.
    pub results: Vec<VectorResult>,
}

impl Report {
    /// How many passed, failed and were skipped.
    pub fn counts(&self) -> (usize, usize, usize) {
        let mut c = (0, 0, 0);
        for r in &self.results {
            match r.outcome {
                Outcome::Pass => c.0 += 1,
                Outcome::Fail(_) => c.1 += 1,
                Outcome::Skip(_) => c.2 += 1,
            }
        }
        c
    }

    /// `N passed, M failed, K skipped`.
    pub fn summary(&self) -> String {
        let (p, f, s) = self.counts();
        format!("{p} passed, {f} failed, {s} skipped")
    }

    /// Whether nothing failed.
    pub fn ok(&self) -> bool {
        self.counts().1 == 0
    }

    /// The failures, one line each.
    pub fn failures(&self) -> Vec<String> {
        self.results.iter().filter(|r| matches!(r.outcome, Outcome::Fail(_))).map(ToString::to_string).collect()
    }
}

/// Runs `vectors` against the server at `target`.
pub async fn run(target: &Target, vectors: &[Vector], options: &Options) -> Report {
    let mut report = Report::default();
    for vector in vectors {
        if options.only.as_ref().is_some_and(|only| !vector.id.contains(only.as_str())) {
            continue;
        }
        let outcome = match skip_reason(vector, target, options) {
            Some(why) => Outcome::Skip(why),
            None => match run_one(target, vector, options).await {
                Ok(()) => Outcome::Pass,
                Err(problems) => Outcome::Fail(problems),
            },
        };
        report.results.push(VectorResult { id: vector.id.clone(), outcome });
    }
    report
}

fn skip_reason(vector: &Vector, target: &Target, options: &Options) -> Option<String> {
    if let Some(reason) = options.front.as_ref().and_then(|front| vector.front_quirks.get(front)) {
        return Some(format!("{}: {reason}", options.front.as_deref().unwrap_or_default()));
    }
    if vector.has_tag(NEEDS_PREFIX) && target.prefix.is_empty() {
        return Some("needs a non-empty mount prefix".into());
    }
    if vector.has_tag(NEEDS_ROOT) && !target.prefix.is_empty() {
        return Some("needs the echo application at the root".into());
    }
    match options.profile {
        Profile::WsgiReference if vector.has_tag(RGI_ONLY) => {
            Some(format!("rgi-only: {}", vector.reason.as_deref().unwrap_or("")))
        }
        Profile::Front if vector.has_tag(FRONT_NORMALISES) => {
            Some(format!("front-normalises: {}", vector.front_reason.as_deref().unwrap_or("")))
        }
        _ => None,
    }
}

struct Placeholders<'a> {
    target: &'a Target,
    client_port: u16,
}

impl Placeholders<'_> {
    fn expand(&self, s: &str) -> String {
        let port = self.target.authority.rsplit(':').next().unwrap_or("");
        s.replace("{prefix}", &self.target.prefix)
            .replace("{host}", &self.target.authority)
            .replace("{port}", port)
            .replace("{client_port}", &self.client_port.to_string())
    }
}

async fn run_one(target: &Target, vector: &Vector, options: &Options) -> Result<(), Vec<String>> {
    let mut conn = Conn::connect(&target.authority, options.timeout).await.map_err(|e| vec![e])?;
    let ph = Placeholders { target, client_port: conn.local_port() };
    exchange(&mut conn, &ph, &vector.request, &vector.expect, options).await?;
    if let Some(then) = &vector.then {
        exchange(&mut conn, &ph, &then.request, &then.expect, options).await?;
    }
    Ok(())
}

/// Sends one request and checks its response against `expect`.
async fn exchange(
    conn: &mut Conn,
    ph: &Placeholders<'_>,
    spec: &RequestSpec,
    expect: &Expect,
    options: &Options,
) -> Result<(), Vec<String>> {
    let (head, body) = build(spec, ph);
    conn.send(&head).await.map_err(|e| vec![e])?;
    if spec.expect_continue {
        conn.expect_continue().await.map_err(|e| vec![e])?;
    }
    if !body.is_empty() {
        conn.send(&body).await.map_err(|e| vec![e])?;
    }
    let method = spec.method.as_deref().unwrap_or("GET");
    let is_head = spec.raw.as_deref().map_or(method == "HEAD", |r| r.starts_with("HEAD "));
    let resp = conn.response(is_head).await.map_err(|e| vec![e])?;
    let mut problems = check(&resp, expect, spec, ph);
    if let Some(keep) = expect.keep_alive {
        // A kept connection stays quiet; a closed one ends within the timeout.
        let wait = if keep { Duration::from_millis(200) } else { options.timeout };
        match (keep, conn.closed_within(wait).await) {
            (true, true) => problems.push("connection: expected kept alive, got closed".into()),
            (false, false) => problems.push("connection: expected closed, got kept alive".into()),
            _ => {}
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// The request's head bytes, and its body bytes (sent after the head, or
/// after `100 Continue`).
fn build(spec: &RequestSpec, ph: &Placeholders<'_>) -> (Vec<u8>, Vec<u8>) {
    if let Some(raw) = &spec.raw {
        return (ph.expand(raw).into_bytes(), Vec::new());
    }
    let method = spec.method.as_deref().unwrap_or("GET");
    let target = ph.expand(spec.target.as_deref().unwrap_or("{prefix}/"));
    let version = spec.version.as_deref().unwrap_or("HTTP/1.1");
    let mut head = format!("{method} {target} {version}\r\n");
    let has_host = spec.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host"));
    if !spec.no_host && !has_host {
        head.push_str(&format!("Host: {}\r\n", ph.target.authority));
    }
    for (name, value) in &spec.headers {
        head.push_str(&format!("{name}: {}\r\n", ph.expand(value)));
    }
    let payload = spec.body.as_ref().map(|b| b.bytes()).unwrap_or_default();
    let mut body = Vec::new();
    if let Some(chunks) = &spec.chunks {
        head.push_str("Transfer-Encoding: chunked\r\n");
        let mut rest = &payload[..];
        for &size in chunks {
            let take = size.min(rest.len());
            let (chunk, after) = rest.split_at(take);
            body.extend_from_slice(format!("{take:x}\r\n").as_bytes());
            body.extend_from_slice(chunk);
            body.extend_from_slice(b"\r\n");
            rest = after;
        }
        if !rest.is_empty() {
            body.extend_from_slice(format!("{:x}\r\n", rest.len()).as_bytes());
            body.extend_from_slice(rest);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(b"0\r\n");
        for (name, value) in &spec.trailers {
            body.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
        }
        body.extend_from_slice(b"\r\n");
    } else if spec.body.is_some() {
        if !spec.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("content-length")) {
            head.push_str(&format!("Content-Length: {}\r\n", payload.len()));
        }
        body = payload;
    }
    if spec.expect_continue {
        head.push_str("Expect: 100-continue\r\n");
    }
    head.push_str("\r\n");
    (head.into_bytes(), body)
}

fn check(resp: &WireResponse, expect: &Expect, spec: &RequestSpec, ph: &Placeholders<'_>) -> Vec<String> {
    let mut problems = Vec::new();
    if expect.not_echo {
        let prefix = ph.expand("{prefix}");
        let reached = resp.status == 200
            && serde_json::from_slice::<serde_json::Value>(&resp.body)
                .is_ok_and(|v| v.get("SCRIPT_NAME").and_then(|s| s.as_str()) == Some(prefix.as_str()));
        if reached {
            problems.push(format!("expected the request not to reach the application at {prefix:?}, it did"));
        }
        return problems;
    }
    let want_status = expect.status.unwrap_or(200);
    if resp.status != want_status {
        problems.push(format!("status: expected {want_status}, got {}", resp.status));
        return problems;
    }
    if expect.interim_continue && !resp.had_continue {
        problems.push("expected a 100 Continue before the response, got none".into());
    }
    for (name, value) in &expect.headers {
        let want = ph.expand(value);
        match resp.header(name) {
            Some(got) if got == want => {}
            got => problems.push(format!("header {name}: expected {want:?}, got {got:?}")),
        }
    }
    for name in &expect.has_headers {
        if resp.header(name).is_none() {
            problems.push(format!("header {name}: expected present, got absent"));
        }
    }
    if expect.no_body && !resp.body.is_empty() {
        problems.push(format!("body: expected none, got {} bytes", resp.body.len()));
    }
    let needs_json = !expect.environ.is_empty() || !expect.absent.is_empty() || expect.body_digest;
    if !needs_json {
        return problems;
    }
    let json: serde_json::Value = match serde_json::from_slice(&resp.body) {
        Ok(v) => v,
        Err(e) => {
            problems.push(format!("body: expected the echo application's JSON ({e})"));
            return problems;
        }
    };
    let text = |key: &str| -> Option<String> {
        json.get(key).map(|v| match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    };
    for (key, value) in &expect.environ {
        let want = ph.expand(value);
        match text(key) {
            Some(got) if got == want => {}
            Some(got) => problems.push(format!("{key}: expected {want:?}, got {got:?}")),
            None => problems.push(format!("{key}: expected {want:?}, got absent")),
        }
    }
    for key in &expect.absent {
        if let Some(got) = text(key) {
            problems.push(format!("{key}: expected absent, got {got:?}"));
        }
    }
    if expect.body_digest {
        let sent = spec.body.as_ref().map(|b| b.bytes()).unwrap_or_default();
        let digest: String = Sha256::digest(&sent).iter().map(|b| format!("{b:02x}")).collect();
        if text("body_length") != Some(sent.len().to_string()) {
            problems.push(format!("body_length: expected {}, got {:?}", sent.len(), text("body_length")));
        }
        if text("body_sha256").as_deref() != Some(digest.as_str()) {
            problems.push(format!("body_sha256: expected {digest}, got {:?}", text("body_sha256")));
        }
    }
    problems
}
