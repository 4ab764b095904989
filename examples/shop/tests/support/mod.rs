//! The deployments the differential suite compares, the battery's rows,
//! and the answers they give.
#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]
#![allow(dead_code, reason = "each test binary uses its own part")]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rgi_conformance::client::Conn;
use rgi_test_support::{get, listening_addr, workspace_binary, LoggedChild};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long a deployment may take to serve its first request; rgi-dev
/// builds the shop first.
const START: Duration = Duration::from_secs(600);
/// How long one answer may take.
const ANSWER: Duration = Duration::from_secs(60);

/// What a row does with `Expect: 100-continue`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expect {
    /// No such field.
    No,
    /// Sends the body only after `100 Continue`.
    Continue,
    /// Sends only the head: the server must refuse from it alone.
    Refusal,
}

/// One request of the battery, with the status plain axum gives it.
#[derive(Debug, Clone)]
pub(crate) struct Case {
    pub(crate) name: &'static str,
    method: &'static str,
    path: &'static str,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    version: &'static str,
    expect: Expect,
    absolute: bool,
    /// What plain axum answers.
    pub(crate) status: u16,
    /// The spec id of a documented difference.
    pub(crate) differs: Option<&'static str>,
    /// Text no deployment may ever answer with.
    pub(crate) never_contains: Option<&'static str>,
}

impl Case {
    pub(crate) fn new(name: &'static str, method: &'static str, path: &'static str, status: u16) -> Self {
        Self {
            name,
            method,
            path,
            headers: Vec::new(),
            body: Vec::new(),
            version: "1.1",
            expect: Expect::No,
            absolute: false,
            status,
            differs: None,
            never_contains: None,
        }
    }

    pub(crate) fn get(name: &'static str, path: &'static str, status: u16) -> Self {
        Self::new(name, "GET", path, status)
    }

    pub(crate) fn post(name: &'static str, path: &'static str, status: u16, body: &[u8]) -> Self {
        Self { body: body.to_vec(), ..Self::new(name, "POST", path, status) }
    }

    pub(crate) fn header(mut self, field: (&'static str, String)) -> Self {
        self.headers.push(field);
        self
    }

    pub(crate) fn version(self, version: &'static str) -> Self {
        Self { version, ..self }
    }

    pub(crate) fn expect(self, expect: Expect) -> Self {
        Self { expect, ..self }
    }

    pub(crate) fn body(self, body: &[u8]) -> Self {
        Self { body: body.to_vec(), ..self }
    }

    /// The target in absolute form, `http://shop.test/...`.
    pub(crate) fn absolute(self) -> Self {
        Self { absolute: true, ..self }
    }

    /// `n` extra header fields.
    pub(crate) fn many_headers(mut self, n: usize) -> Self {
        self.headers.extend((0..n).map(|i| ("x-filler", format!("value {i}"))));
        self
    }

    pub(crate) fn differs(self, id: &'static str) -> Self {
        Self { differs: Some(id), ..self }
    }

    pub(crate) fn never_contains(self, text: &'static str) -> Self {
        Self { never_contains: Some(text), ..self }
    }

    /// The request head, for a site mounted at `prefix`.
    fn head(&self, prefix: &str) -> String {
        // The site's root under a prefix is the prefix itself: `/shop`, as
        // axum's `Router::nest` routes it (it has no `/shop/`).
        let path = if self.path == "/" && !prefix.is_empty() { "" } else { self.path };
        let origin = if self.absolute { "http://shop.test" } else { "" };
        let mut head = format!("{} {origin}{prefix}{path} HTTP/{}\r\nHost: shop.test\r\n", self.method, self.version);
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        let has_length = self.headers.iter().any(|(n, _)| *n == "content-length" || *n == "transfer-encoding");
        if !has_length && (self.method == "POST" || !self.body.is_empty()) {
            head.push_str(&format!("Content-Length: {}\r\n", self.body.len()));
        }
        if self.expect != Expect::No {
            head.push_str("Expect: 100-continue\r\n");
        }
        if self.version == "1.1" {
            head.push_str("Connection: close\r\n");
        }
        head.push_str("\r\n");
        head
    }
}

/// A deployment's answer to one row.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    headers: BTreeMap<String, Vec<String>>,
    pub(crate) body: Vec<u8>,
    had_continue: bool,
}

impl Answer {
    fn failed(why: String) -> Self {
        Self { status: 0, headers: BTreeMap::new(), body: why.into_bytes(), had_continue: false }
    }

    /// How `other` differs from this answer, in the fields `compared`.
    pub(crate) fn differences(&self, other: &Self, compared: &[&str]) -> Vec<String> {
        let mut out = Vec::new();
        if self.status != other.status {
            out.push(format!("status {} != {}", self.status, other.status));
        }
        for name in compared {
            let (want, got) = (self.headers.get(*name), other.headers.get(*name));
            if want != got {
                out.push(format!("{name}: {want:?} != {got:?}"));
            }
        }
        if self.body != other.body {
            let at = self.body.iter().zip(&other.body).take_while(|(a, b)| a == b).count();
            let show = |b: &[u8]| String::from_utf8_lossy(&b[at.min(b.len())..(at + 80).min(b.len())]).into_owned();
            out.push(format!(
                "body ({} != {} bytes), from byte {at}: {:?} != {:?}",
                self.body.len(),
                other.body.len(),
                show(&self.body),
                show(&other.body)
            ));
        }
        if self.had_continue != other.had_continue {
            out.push(format!("100 Continue: {} != {}", self.had_continue, other.had_continue));
        }
        out
    }
}

fn gunzip(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(bytes), &mut out)
        .map_err(|e| format!("a gzip body that does not decode: {e}"))?;
    Ok(out)
}

/// The shop, served one way.
#[derive(Debug)]
pub(crate) struct Deployment {
    pub(crate) name: String,
    /// The deployment whose answers this one's must equal.
    pub(crate) reference: &'static str,
    addr: SocketAddr,
    prefix: &'static str,
    process: Arc<LoggedChild>,
}

/// Starts one kind of deployment (at its mounts).
type Start = Box<dyn FnOnce() -> Vec<Deployment> + Send>;

fn shop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

impl Deployment {
    /// Starts every deployment, in parallel, and waits until each serves.
    /// `dir` holds their files.
    pub(crate) fn start_all(dir: &Path) -> Vec<Self> {
        Self::start(dir, &["axum", "embedded", "rgi-server", "rgi-dev"])
    }

    /// Starts the deployments of the `kinds` named ("axum", "embedded",
    /// "rgi-server", "rgi-dev"), each at `/` and, where it has one, under
    /// `/shop`.
    pub(crate) fn start(dir: &Path, kinds: &[&str]) -> Vec<Self> {
        // The shop's binary, copied: rgi-dev rebuilds it in place.
        let shop = dir.join("shop");
        std::fs::copy(workspace_binary("shop"), &shop).unwrap();
        let axum = workspace_binary("shop-axum");
        let starts: Vec<(&str, Start)> = vec![
            ("axum", {
                let axum = axum.clone();
                Box::new(move || vec![Self::axum(&axum, "axum", "")])
            }),
            ("axum", Box::new(move || vec![Self::axum(&axum, "axum under /shop", "/shop")])),
            ("embedded", {
                let shop = shop.clone();
                Box::new(move || vec![Self::embedded(&shop)])
            }),
            ("rgi-server", {
                let (shop, dir) = (shop.clone(), dir.to_path_buf());
                Box::new(move || Self::rgi_server(&shop, &dir))
            }),
            ("rgi-dev", Box::new(|| vec![Self::rgi_dev()])),
        ];
        let starts = starts.into_iter().filter(|(kind, _)| kinds.contains(kind)).map(|(_, start)| start);
        let started: Vec<Self> = std::thread::scope(|scope| {
            let runs: Vec<_> = starts.map(|start| scope.spawn(start)).collect();
            runs.into_iter().flat_map(|run| run.join().unwrap()).collect()
        });
        for deployment in &started {
            deployment.wait_until_serving();
        }
        started
    }

    fn axum(binary: &Path, name: &str, prefix: &'static str) -> Self {
        let mut command = Command::new(binary);
        command.arg("127.0.0.1:0").current_dir(shop_dir());
        if !prefix.is_empty() {
            command.args(["--prefix", prefix]);
        }
        let (process, addr) = LoggedChild::spawn(name, command, START, listening_addr);
        Self {
            name: name.into(),
            reference: if prefix.is_empty() { "axum" } else { "axum under /shop" },
            addr,
            prefix,
            process: Arc::new(process),
        }
    }

    fn embedded(shop: &Path) -> Self {
        let mut command = Command::new(shop);
        command.current_dir(shop_dir()).env("RGI_BIND", "127.0.0.1:0").env("RGI_LOG", "info");
        let (process, addr) = LoggedChild::spawn("embedded", command, START, listening_addr);
        Self { name: "embedded".into(), reference: "axum", addr, prefix: "", process: Arc::new(process) }
    }

    /// The shipped configuration, with the program's path replaced by the
    /// built one and each group's working directory set to the shop's
    /// (the copy lives elsewhere).
    fn rgi_server(shop: &Path, dir: &Path) -> Vec<Self> {
        let shipped = std::fs::read_to_string(shop_dir().join("rgi-server.toml")).unwrap();
        let program = r#"command = ["../../target/release/shop"]"#;
        assert!(shipped.contains(program), "rgi-server.toml no longer names {program}");
        let config = shipped.replace(
            program,
            &format!(
                "command = [{:?}]\nworking-dir = {:?}",
                shop.display().to_string(),
                shop_dir().display().to_string()
            ),
        );
        let path = dir.join("rgi-server.toml");
        std::fs::write(&path, config).unwrap();
        let mut command = Command::new(workspace_binary("rgi-server"));
        command.arg("--config").arg(&path).args(["--listen", "127.0.0.1:0"]).env("RGI_LOG", "info");
        let (process, addr) = LoggedChild::spawn("rgi-server", command, START, listening_addr);
        let process = Arc::new(process);
        vec![
            Self { name: "rgi-server".into(), reference: "axum", addr, prefix: "", process: Arc::clone(&process) },
            Self {
                name: "rgi-server under /shop".into(),
                reference: "axum under /shop",
                addr,
                prefix: "/shop",
                process,
            },
        ]
    }

    fn rgi_dev() -> Self {
        let mut command = Command::new(workspace_binary("rgi-dev"));
        command
            .arg(shop_dir())
            .args(["--bin", "shop", "--noreload", "--addr", "127.0.0.1:0"])
            .env_remove("RGI_SETTINGS");
        let (process, addr) = LoggedChild::spawn("rgi-dev", command, START, |line| {
            line.split("serving on http://").nth(1).map(|rest| rest.trim_end_matches('/').to_string())
        });
        Self { name: "rgi-dev".into(), reference: "axum", addr, prefix: "", process: Arc::new(process) }
    }

    /// Waits until the shop answers (rgi-dev builds it first).
    fn wait_until_serving(&self) {
        let deadline = Instant::now() + START;
        loop {
            let (status, body) = get(self.addr, &format!("{}/api/products", self.prefix));
            if status == 200 && body.contains("Teapot") {
                return;
            }
            assert!(Instant::now() < deadline, "{} does not serve: {status} {body}\n{}", self.name, self.log());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub(crate) fn log(&self) -> String {
        self.process.log()
    }

    /// Its name in reports.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Where it listens.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The `ws://` URL of `path` in the shop, under its prefix.
    pub(crate) fn ws_url(&self, path: &str) -> String {
        format!("ws://{}{}{path}", self.addr, self.prefix)
    }

    /// `path` in the shop, under its prefix.
    pub(crate) fn path(&self, path: &str) -> String {
        format!("{}{path}", self.prefix)
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
    }

    /// Sends `case` on a new connection and reads the answer.
    pub(crate) fn ask(&self, case: &Case) -> Answer {
        let ask = async {
            let mut conn = Conn::connect(&self.addr.to_string(), ANSWER, None).await?;
            conn.send(case.head(self.prefix).as_bytes()).await?;
            match case.expect {
                Expect::No => conn.send(&case.body).await?,
                Expect::Continue => {
                    conn.expect_continue().await?;
                    conn.send(&case.body).await?;
                }
                Expect::Refusal => {}
            }
            let response = conn.response(case.method == "HEAD").await?;
            let mut headers = BTreeMap::<String, Vec<String>>::new();
            for (name, value) in response.headers {
                headers.entry(name.to_ascii_lowercase()).or_default().push(value);
            }
            // Cookies of different names may come in any order (the
            // application's cookie jar does not keep one).
            if let Some(cookies) = headers.get_mut("set-cookie") {
                cookies.sort();
            }
            let had_continue = response.had_continue || case.expect == Expect::Continue;
            // A compressor's bytes depend on where the body's chunks
            // happened to end; what they decode to is the answer.
            let gzip = headers.get("content-encoding").is_some_and(|v| v.iter().any(|e| e == "gzip"));
            let body = if gzip { gunzip(&response.body)? } else { response.body };
            Ok::<_, String>(Answer { status: response.status, headers, body, had_continue })
        };
        Self::runtime().block_on(ask).unwrap_or_else(Answer::failed)
    }

    /// When each of `n` server-sent events, sent `every` apart, arrived,
    /// from the moment the request was sent.
    pub(crate) fn event_arrivals(&self, n: u32, every: Duration) -> Vec<Duration> {
        let target = format!("{}/events?n={n}&ms={}", self.prefix, every.as_millis());
        Self::runtime().block_on(async {
            let mut arrivals = Vec::new();
            let Ok(mut stream) = tokio::net::TcpStream::connect(self.addr).await else { return arrivals };
            let request = format!("GET {target} HTTP/1.1\r\nHost: shop.test\r\nConnection: close\r\n\r\n");
            let start = Instant::now();
            if stream.write_all(request.as_bytes()).await.is_err() {
                return arrivals;
            }
            let (mut seen, mut buf) = (String::new(), [0u8; 4096]);
            let deadline = start + ANSWER;
            while arrivals.len() < n as usize {
                let read = tokio::time::timeout_at(deadline.into(), stream.read(&mut buf)).await;
                let Ok(Ok(len @ 1..)) = read else { break };
                seen.push_str(&String::from_utf8_lossy(&buf[..len]));
                while arrivals.len() < n as usize && seen.contains(&format!("data: tick {}\n\n", arrivals.len())) {
                    arrivals.push(start.elapsed());
                }
            }
            arrivals
        })
    }
}
