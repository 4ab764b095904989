// cargo build -p rgi-test-app     (the supervisor and interop tests run it as a daemon)
//! A fixture for the daemon tests. Paths:
//!
//! * `/pid`: this process's id.
//! * `/slow?ms=N`: answers after N milliseconds.
//! * `/hang`: never answers (a stuck handler, awaiting forever).
//! * `/spin`: never answers, and blocks its thread (a CPU-stuck handler).
//! * `/panic`: panics.
//! * `/abort`: aborts the whole process.
//! * `/fds`: this process's open descriptors, one `N -> target` per line.
//! * `/uid`: the process's real and effective uid and gid.
//! * `/cwd`: the process's working directory.
//! * `/whoami`: `RGI_TEST_HOST` (or `-`), the client's address and the
//!   URL scheme, space-separated: what a balancer's backend sees.
//! * `/grow?mb=N`: keeps N more MiB of memory for good (a leak on
//!   purpose, for the memory-recycling tests).
//! * `/upgrade`: to an upgrade request, `101` and then every byte the
//!   client sends echoed back, through rgi-core's `OnUpgrade` (UPG-10);
//!   to any other, `426`.
//! * `/switch`: `101` with `Upgrade: echo` whatever was asked (a broken
//!   application, UPG-3).
//! * anything else: `ok <pid>`.
//!
//! `RGI_TEST_APP_BODY_LIMIT=N` makes N bytes the application's own body
//! limit (`rgi::run_with_limits`). Its factory spawns a task, so it only starts where factories run
//! inside the runtime. `RGI_TEST_FAIL_START=1` makes the application fail
//! to load (exit 78);
//! `RGI_TEST_START_MS=N` makes its startup take N milliseconds.

use std::time::Duration;

use rgi::{async_trait, Application, Body, Error, Request, Response, Settings};

struct TestApp;

#[async_trait]
impl Application for TestApp {
    async fn startup(&self) -> Result<(), Error> {
        let ms = std::env::var("RGI_TEST_START_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(0);
        tokio::time::sleep(Duration::from_millis(ms)).await;
        Ok(())
    }

    async fn call(&self, request: Request) -> Result<Response, Error> {
        let pid = std::process::id();
        match request.environ().path_info() {
            "/upgrade" => return upgrade_echo(request),
            "/switch" => {
                return Ok(rgi::http::Response::builder()
                    .status(rgi::http::StatusCode::SWITCHING_PROTOCOLS)
                    .header("upgrade", "echo")
                    .body(Body::empty())?)
            }
            _ => {}
        }
        let text = match request.environ().path_info() {
            "/pid" => pid.to_string(),
            "/cwd" => std::env::current_dir()?.display().to_string(),
            "/whoami" => {
                let host = std::env::var("RGI_TEST_HOST").unwrap_or_else(|_| "-".into());
                let remote = request.environ().remote_addr().map_or_else(|| "-".into(), |a| a.ip().to_string());
                format!("{host} {remote} {}", request.environ().url_scheme().as_str())
            }
            "/slow" => {
                let ms =
                    request.environ().query_string().strip_prefix("ms=").and_then(|v| v.parse().ok()).unwrap_or(1000);
                tokio::time::sleep(Duration::from_millis(ms)).await;
                format!("slept {ms} ms in {pid}")
            }
            "/hang" => std::future::pending().await,
            "/spin" => loop {
                std::hint::spin_loop();
            },
            "/panic" => panic!("the test app panics on /panic"),
            "/abort" => std::process::abort(),
            "/fds" => {
                let mut out = String::new();
                for entry in std::fs::read_dir("/proc/self/fd")? {
                    let entry = entry?;
                    let target = std::fs::read_link(entry.path()).map(|t| t.display().to_string()).unwrap_or_default();
                    out.push_str(&format!("{} -> {target}\n", entry.file_name().to_string_lossy()));
                }
                out
            }
            "/grow" => {
                let mb: usize =
                    request.environ().query_string().strip_prefix("mb=").and_then(|v| v.parse().ok()).unwrap_or(1);
                // Written, so the pages are really resident.
                let leaked: &'static mut [u8] = Vec::leak(vec![1u8; mb << 20]);
                format!("grew by {} MiB in {pid}", leaked.len() >> 20)
            }
            "/uid" => std::fs::read_to_string("/proc/self/status")?
                .lines()
                .filter(|l| l.starts_with("Uid:") || l.starts_with("Gid:") || l.starts_with("Groups:"))
                .collect::<Vec<_>>()
                .join("\n"),
            _ => format!("ok {pid}"),
        };
        Ok(Response::new(Body::from(text)))
    }
}

fn build(_settings: &Settings) -> Result<TestApp, String> {
    if std::env::var_os("RGI_TEST_FAIL_START").is_some_and(|v| v == "1") {
        return Err("RGI_TEST_FAIL_START=1: refusing to start, as asked".into());
    }
    // A factory runs inside the runtime, as real ones need (a pool's
    // background task, a client with a reactor): every test of this app
    // would fail to start it otherwise.
    tokio::spawn(async {});
    Ok(TestApp)
}

fn main() -> std::process::ExitCode {
    // The application's own default body limit, as an upload service would
    // set it in code; the deployment's RGI_MAX_BODY_BYTES still wins.
    match std::env::var("RGI_TEST_APP_BODY_LIMIT").ok().and_then(|v| v.parse().ok()) {
        Some(max) => {
            let mut limits = rgi::Limits::default();
            limits.max_body_bytes = Some(max);
            rgi::run_with_limits(limits, build)
        }
        None => rgi::run_with(build),
    }
}

/// Echoes the upgraded connection: the client's bytes, once the `101` is
/// out, are the reply.
fn upgrade_echo(mut request: Request) -> Result<Response, Error> {
    use futures_util::{StreamExt, TryStreamExt};
    let Some(upgrade) = request.extensions_mut().remove::<rgi::upgrade::OnUpgrade>() else {
        return Ok(rgi::http::Response::builder().status(426).body(Body::from("upgrade required"))?);
    };
    let replies = futures_util::stream::once(upgrade).map(|r| r.map(Body::into_data_stream)).try_flatten();
    Ok(rgi::http::Response::builder()
        .status(rgi::http::StatusCode::SWITCHING_PROTOCOLS)
        .header("upgrade", "echo")
        .body(Body::from_stream(replies))?)
}
