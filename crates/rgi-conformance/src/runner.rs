//! The server suite: replays vectors over real sockets against a server
//! running the echo application, and reports each result.

use std::fmt;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::client::{Conn, WireResponse};
use crate::h2::{self, H2};
use crate::vectors::{
    Expect, RequestSpec, Vector, CLEARTEXT_ONLY, FRONT_NORMALISES, NEEDS_PREFIX, NEEDS_ROOT, PROXY_LISTENER, RGI_ONLY,
    TLS_ONLY,
};

/// The server under test: where it listens and where echo is mounted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `host:port` to connect to.
    pub authority: String,
    /// The echo application's mount prefix: empty, or `/x` (no trailing `/`).
    pub prefix: String,
}

impl Target {
    /// Parses `http://host:port[/prefix]` (or `https://`: TLS itself is
    /// chosen with [`Options::tls`]).
    ///
    /// ```
    /// let t = rgi_conformance::Target::parse("http://127.0.0.1:8000/echo/").unwrap();
    /// assert_eq!((t.authority.as_str(), t.prefix.as_str()), ("127.0.0.1:8000", "/echo"));
    /// ```
    pub fn parse(url: &str) -> Result<Self, String> {
        let rest = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"))
            .ok_or_else(|| format!("{url:?}: give an http:// or https:// URL"))?;
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

/// The HTTP version the vectors are sent in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Protocol {
    /// HTTP/1.1 (and the vectors' own HTTP/1.0 requests), as raw bytes.
    #[default]
    Http1,
    /// HTTP/2: cleartext with prior knowledge, or over TLS by ALPN `h2`.
    /// Vectors about HTTP/1 framing, versions or connections are skipped.
    Http2,
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
    /// The HTTP version to send.
    pub protocol: Protocol,
    /// Connect over TLS with this client configuration (its roots must
    /// trust the server's certificate).
    pub tls: Option<std::sync::Arc<tokio_rustls::rustls::ClientConfig>>,
    /// The server reads a PROXY protocol header first on each connection
    /// and trusts `127.0.0.1` and `10.0.0.0/8` as proxies: every vector is
    /// sent after its own header, or `PROXY UNKNOWN` (before the TLS
    /// handshake over TLS), and the vectors tagged `proxy-listener` run
    /// (HTTP/1.1 only).
    pub proxy_listener: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            profile: Profile::Rgi,
            only: None,
            front: None,
            timeout: Duration::from_secs(10),
            protocol: Protocol::Http1,
            tls: None,
            proxy_listener: false,
        }
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
    if vector.has_tag(CLEARTEXT_ONLY) && options.tls.is_some() {
        return Some("about cleartext connections".into());
    }
    if vector.has_tag(TLS_ONLY) && options.tls.is_none() {
        return Some("about TLS connections".into());
    }
    if vector.has_tag(PROXY_LISTENER) && !options.proxy_listener {
        return Some("needs a PROXY protocol listener trusting 127.0.0.1 and 10.0.0.0/8".into());
    }
    if options.proxy_listener && options.protocol == Protocol::Http2 {
        return Some("the PROXY protocol runs are HTTP/1.1".into());
    }
    if options.protocol == Protocol::Http2 {
        let requests = std::iter::once(&vector.request).chain(vector.then.as_ref().map(|t| &t.request));
        if let Some(why) = requests.filter_map(http1_only).next() {
            return Some(format!("HTTP/1 only: {why}"));
        }
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

/// Why a request means something in HTTP/1 alone, if it does.
fn http1_only(spec: &RequestSpec) -> Option<&'static str> {
    const CONNECTION_SPECIFIC: [&str; 6] =
        ["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "host"];
    if spec.raw.is_some() {
        Some("raw bytes")
    } else if spec.version.as_deref().is_some_and(|v| v != "HTTP/1.1") {
        Some("another HTTP version")
    } else if spec.no_host {
        Some("no Host (HTTP/2 always has :authority)")
    } else if spec.expect_continue {
        Some("100-continue")
    } else if spec.proxy.is_some() {
        Some("a PROXY protocol header")
    } else if spec.headers.iter().any(|(n, v)| {
        let n = n.to_ascii_lowercase();
        CONNECTION_SPECIFIC.contains(&n.as_str()) || (n == "te" && !v.eq_ignore_ascii_case("trailers"))
    }) {
        Some("connection-specific or Host fields")
    } else {
        None
    }
}

struct Placeholders<'a> {
    target: &'a Target,
    client_port: u16,
    protocol: &'static str,
    /// 80, or 443 over TLS.
    default_port: &'static str,
}

impl Placeholders<'_> {
    fn expand(&self, s: &str) -> String {
        let port = self.target.authority.rsplit(':').next().unwrap_or("");
        s.replace("{prefix}", &self.target.prefix)
            .replace("{host}", &self.target.authority)
            .replace("{port}", port)
            .replace("{client_port}", &self.client_port.to_string())
            .replace("{protocol}", self.protocol)
            .replace("{default_port}", self.default_port)
            .replace("{scheme}", if self.default_port == "443" { "https" } else { "http" })
    }
}

async fn run_one(target: &Target, vector: &Vector, options: &Options) -> Result<(), Vec<String>> {
    if options.protocol == Protocol::Http2 {
        return run_one_h2(target, vector, options).await;
    }
    // Through a PROXY listener the header comes first, before any TLS.
    let preface = match (options.proxy_listener, &vector.request.proxy) {
        (false, _) => Vec::new(),
        (true, Some(header)) => header.bytes(),
        (true, None) => b"PROXY UNKNOWN\r\n".to_vec(),
    };
    let connected = Conn::connect_after(&target.authority, options.timeout, options.tls.as_ref(), &preface).await;
    let mut conn = match connected {
        Ok(conn) => conn,
        // A refused header may end the connection during the handshake.
        Err(_) if vector.expect.closed && options.tls.is_some() => return Ok(()),
        Err(e) => return Err(vec![e]),
    };
    let default_port = if options.tls.is_some() { "443" } else { "80" };
    let ph = Placeholders { target, client_port: conn.local_port(), protocol: "HTTP/1.1", default_port };
    exchange(&mut conn, &ph, &vector.request, &vector.expect, options).await?;
    if let Some(then) = &vector.then {
        exchange(&mut conn, &ph, &then.request, &then.expect, options).await?;
    }
    Ok(())
}

async fn run_one_h2(target: &Target, vector: &Vector, options: &Options) -> Result<(), Vec<String>> {
    let mut h2 = H2::connect(&target.authority, options.timeout, options.tls.as_ref()).await.map_err(|e| vec![e])?;
    let default_port = if options.tls.is_some() { "443" } else { "80" };
    let ph = Placeholders { target, client_port: h2.local_port, protocol: "HTTP/2.0", default_port };
    let scheme = if options.tls.is_some() { "https" } else { "http" };
    for (spec, expect) in
        std::iter::once((&vector.request, &vector.expect)).chain(vector.then.as_ref().map(|t| (&t.request, &t.expect)))
    {
        let request = build_h2(spec, &ph, scheme).map_err(|e| vec![e])?;
        let resp = h2.exchange(request).await.map_err(|e| vec![e])?;
        let problems = check(&resp, expect, spec, &ph);
        if !problems.is_empty() {
            return Err(problems);
        }
    }
    Ok(())
}

/// The HTTP/2 request a vector's parts describe: the body in the frames
/// its chunks say (HTTP/2's DATA frames take chunked coding's place), then
/// its trailers.
fn build_h2(spec: &RequestSpec, ph: &Placeholders<'_>, scheme: &str) -> Result<http::Request<h2::Frames>, String> {
    let method = spec.method.as_deref().unwrap_or("GET");
    let target = ph.expand(spec.target.as_deref().unwrap_or("{prefix}/"));
    // An absolute-form target names its own authority, as :authority does;
    // `OPTIONS *` keeps its asterisk as :path (RFC 9113 section 8.3.1).
    let uri = if target.starts_with("http://") || target.starts_with("https://") {
        http::Uri::try_from(target.as_str()).map_err(|e| format!("target {target:?}: {e}"))?
    } else {
        http::Uri::builder()
            .scheme(scheme)
            .authority(ph.target.authority.as_str())
            .path_and_query(target.as_str())
            .build()
            .map_err(|e| format!("target {target:?}: {e}"))?
    };
    let mut builder = http::Request::builder().method(method).uri(uri).version(http::Version::HTTP_2);
    for (name, value) in &spec.headers {
        builder = builder.header(name.as_str(), ph.expand(value));
    }
    let payload = spec.body.as_ref().map(|b| b.bytes()).unwrap_or_default();
    let mut frames = Vec::new();
    match &spec.chunks {
        Some(chunks) => {
            let mut rest = &payload[..];
            for &size in chunks {
                let (chunk, after) = rest.split_at(size.min(rest.len()));
                frames.push(http_body::Frame::data(bytes::Bytes::copy_from_slice(chunk)));
                rest = after;
            }
            if !rest.is_empty() {
                frames.push(http_body::Frame::data(bytes::Bytes::copy_from_slice(rest)));
            }
        }
        None if spec.body.is_some() => {
            if !spec.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("content-length")) {
                builder = builder.header("content-length", payload.len());
            }
            frames.push(http_body::Frame::data(bytes::Bytes::from(payload)));
        }
        None => {}
    }
    if !spec.trailers.is_empty() {
        let mut trailers = http::HeaderMap::new();
        for (name, value) in &spec.trailers {
            let name = http::HeaderName::try_from(name.as_str()).map_err(|e| format!("trailer {name:?}: {e}"))?;
            let value =
                http::HeaderValue::try_from(value.as_str()).map_err(|e| format!("trailer value {value:?}: {e}"))?;
            trailers.append(name, value);
        }
        frames.push(http_body::Frame::trailers(trailers));
    }
    builder.body(h2::frames(frames)).map_err(|e| format!("not an HTTP/2 request: {e}"))
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
    if expect.closed {
        return if conn.closed_within(options.timeout).await {
            Ok(())
        } else {
            Err(vec!["connection: expected closed without an answer, got bytes or nothing".into()])
        };
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
