//! The status page, like php-fpm's: per group, its processes and counters,
//! as text or OpenMetrics.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use http::header::{HeaderValue, ACCEPT, CONTENT_TYPE};
use rgi_core::{async_trait, Application, Body, Error, Request, Response};
use rgi_supervisor::{Group, GroupHealth};

/// Serves the state of the groups.
///
/// Text by default; OpenMetrics for `?openmetrics` or an `Accept` naming
/// `application/openmetrics-text`.
#[derive(Debug, Clone)]
pub struct Status {
    groups: Vec<Arc<Group>>,
}

impl Status {
    /// The status of `groups`.
    pub fn new(groups: Vec<Arc<Group>>) -> Self {
        Self { groups }
    }

    /// The page as text.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for g in &self.groups {
            let backends = g.backends();
            let stats = &g.stats;
            let health = match g.health() {
                GroupHealth::Up => "up".to_string(),
                GroupHealth::Failed(reason) => format!("failed: {reason}"),
                GroupHealth::Failing(reason) => format!("failing to start: {reason}"),
            };
            let in_flight: usize = backends.iter().map(|b| b.in_flight()).sum();
            let _ = writeln!(out, "group: {}", g.name);
            let _ = writeln!(out, "state: {health}");
            let _ = writeln!(out, "processes: {}", backends.len());
            let _ = writeln!(out, "requests: {}", stats.requests.load(Ordering::Relaxed));
            let _ = writeln!(out, "in flight: {in_flight}");
            let _ = writeln!(out, "queue depth: {}", stats.queued.load(Ordering::Relaxed));
            let _ = writeln!(out, "max workers reached: {}", stats.max_reached.load(Ordering::Relaxed));
            let _ = writeln!(out, "restarts: {}", stats.restarts.load(Ordering::Relaxed));
            for (reason, n) in stats.restarts_by_reason() {
                let _ = writeln!(out, "  {reason}: {n}");
            }
            let _ = writeln!(out, "queued: {:.3}s in all", stats.queued_seconds());
            let _ = writeln!(out, "failed requests: {}", stats.failed.load(Ordering::Relaxed));
            let open = stats.upgraded.load(Ordering::Relaxed);
            let _ = writeln!(out, "upgraded open: {open} of {}", g.max_upgraded());
            let _ = writeln!(out, "upgraded in all: {}", stats.upgrades.load(Ordering::Relaxed));
            for b in &backends {
                let pid = b.pid.map_or_else(|| "-".to_string(), |p| p.to_string());
                let rss = b.rss_bytes().map_or_else(|| "-".to_string(), |r| format!("{:.1}MiB", r as f64 / 1048576.0));
                let load = if b.in_flight() == 0 { "idle" } else { "busy" };
                let _ = writeln!(
                    out,
                    "  pid {pid} {} {load} requests {} in-flight {} upgraded {} age {}s rss {rss}",
                    b.state().as_str(),
                    b.served(),
                    b.in_flight(),
                    b.tunnels(),
                    b.age().as_secs()
                );
            }
            out.push('\n');
        }
        out
    }

    /// The page as OpenMetrics.
    pub fn openmetrics(&self) -> String {
        let mut out = String::new();
        let metric = |out: &mut String, name: &str, kind: &str, help: &str, rows: &[(String, String)]| {
            let _ = writeln!(out, "# TYPE {name} {kind}");
            let _ = writeln!(out, "# HELP {name} {help}");
            let suffix = if kind == "counter" { "_total" } else { "" };
            for (labels, value) in rows {
                let _ = writeln!(out, "{name}{suffix}{{{labels}}} {value}");
            }
        };
        let per_group = |f: &dyn Fn(&Group) -> String| -> Vec<(String, String)> {
            self.groups.iter().map(|g| (format!("group=\"{}\"", escape(&g.name)), f(g))).collect()
        };
        metric(
            &mut out,
            "rgi_group_up",
            "gauge",
            "1 when the group can serve.",
            &per_group(&|g| u8::from(g.health() == GroupHealth::Up).to_string()),
        );
        metric(
            &mut out,
            "rgi_group_processes",
            "gauge",
            "Daemon processes.",
            &per_group(&|g| g.backends().len().to_string()),
        );
        metric(
            &mut out,
            "rgi_group_requests",
            "counter",
            "Requests forwarded.",
            &per_group(&|g| g.stats.requests.load(Ordering::Relaxed).to_string()),
        );
        metric(
            &mut out,
            "rgi_group_in_flight",
            "gauge",
            "Requests in flight.",
            &per_group(&|g| g.backends().iter().map(|b| b.in_flight()).sum::<usize>().to_string()),
        );
        metric(
            &mut out,
            "rgi_group_upgraded",
            "gauge",
            "Upgraded connections (WebSockets) open.",
            &per_group(&|g| g.stats.upgraded.load(Ordering::Relaxed).to_string()),
        );
        metric(
            &mut out,
            "rgi_group_upgraded_limit",
            "gauge",
            "Most upgraded connections open at once (max-upgraded).",
            &per_group(&|g| g.max_upgraded().to_string()),
        );
        metric(
            &mut out,
            "rgi_group_upgrades",
            "counter",
            "Connections upgraded.",
            &per_group(&|g| g.stats.upgrades.load(Ordering::Relaxed).to_string()),
        );
        metric(
            &mut out,
            "rgi_group_queue_depth",
            "gauge",
            "Requests waiting for a free daemon.",
            &per_group(&|g| g.stats.queued.load(Ordering::Relaxed).to_string()),
        );
        metric(
            &mut out,
            "rgi_group_max_workers_reached",
            "counter",
            "Times every daemon was busy.",
            &per_group(&|g| g.stats.max_reached.load(Ordering::Relaxed).to_string()),
        );
        metric(
            &mut out,
            "rgi_group_restarts",
            "counter",
            "Processes restarted.",
            &per_group(&|g| g.stats.restarts.load(Ordering::Relaxed).to_string()),
        );
        metric(
            &mut out,
            "rgi_group_failed_requests",
            "counter",
            "Requests answered 502, 503 or 504 by the front.",
            &per_group(&|g| g.stats.failed.load(Ordering::Relaxed).to_string()),
        );
        metric(
            &mut out,
            "rgi_group_queue_seconds",
            "counter",
            "Time requests spent waiting for a free daemon.",
            &per_group(&|g| g.stats.queued_seconds().to_string()),
        );
        let reasons: Vec<(String, String)> = self
            .groups
            .iter()
            .flat_map(|g| {
                g.stats.restarts_by_reason().into_iter().map(move |(reason, n)| {
                    (format!("group=\"{}\",reason=\"{}\"", escape(&g.name), escape(&reason)), n.to_string())
                })
            })
            .collect();
        metric(
            &mut out,
            "rgi_group_restarts_by_reason",
            "counter",
            "Processes replaced or restarted, by reason.",
            &reasons,
        );
        let processes: Vec<(String, String)> = self
            .groups
            .iter()
            .flat_map(|g| {
                g.backends().into_iter().map(move |b| {
                    let pid = b.pid.map_or_else(|| "-".to_string(), |p| p.to_string());
                    (
                        format!("group=\"{}\",pid=\"{pid}\",state=\"{}\"", escape(&g.name), b.state().as_str()),
                        b.served().to_string(),
                    )
                })
            })
            .collect();
        metric(&mut out, "rgi_process_requests", "counter", "Requests a process answered.", &processes);
        let memory: Vec<(String, String)> = self
            .groups
            .iter()
            .flat_map(|g| {
                g.backends().into_iter().filter_map(move |b| {
                    let (pid, rss) = (b.pid?, b.rss_bytes()?);
                    Some((format!("group=\"{}\",pid=\"{pid}\"", escape(&g.name)), rss.to_string()))
                })
            })
            .collect();
        metric(&mut out, "rgi_process_rss_bytes", "gauge", "Resident memory of a process (max-rss recycles).", &memory);
        let busy: Vec<(String, String)> = self
            .groups
            .iter()
            .flat_map(|g| {
                g.backends().into_iter().filter_map(move |b| {
                    Some((format!("group=\"{}\",pid=\"{}\"", escape(&g.name), b.pid?), b.in_flight().to_string()))
                })
            })
            .collect();
        metric(
            &mut out,
            "rgi_process_in_flight",
            "gauge",
            "Requests a process is serving now (0: idle, else busy).",
            &busy,
        );
        out.push_str("# EOF\n");
        out
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[async_trait]
impl Application for Status {
    async fn call(&self, request: Request) -> Result<Response, Error> {
        let wants_metrics = request.environ().query_string().split('&').any(|p| p == "openmetrics")
            || request
                .headers()
                .get(ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|a| a.contains("application/openmetrics-text"));
        let (body, kind) = if wants_metrics {
            (self.openmetrics(), "application/openmetrics-text; version=1.0.0; charset=utf-8")
        } else {
            (self.text(), "text/plain; charset=utf-8")
        };
        let mut response = Response::new(Body::from(body));
        response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(kind));
        response.headers_mut().insert(http::header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        Ok(response)
    }
}

/// Asks a running server for its status page (`rgi-server --status`): a
/// plain HTTP/1.0 GET of `path` at `addr`, the page's text returned.
pub fn query(addr: &rgi_embedded::BindAddr, path: &str) -> Result<String, String> {
    use std::io::{Read, Write};
    let request = format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n");
    let timeout = Some(std::time::Duration::from_secs(10));
    let mut answer = Vec::new();
    let exchanged = match addr {
        rgi_embedded::BindAddr::Tcp(sa) => std::net::TcpStream::connect_timeout(sa, std::time::Duration::from_secs(5))
            .and_then(|mut s| {
                s.set_read_timeout(timeout)?;
                s.write_all(request.as_bytes())?;
                s.read_to_end(&mut answer)
            }),
        rgi_embedded::BindAddr::Unix(p) => std::os::unix::net::UnixStream::connect(p).and_then(|mut s| {
            s.set_read_timeout(timeout)?;
            s.write_all(request.as_bytes())?;
            s.read_to_end(&mut answer)
        }),
    };
    exchanged.map_err(|e| format!("cannot reach the server at {addr}: {e}"))?;
    let text = String::from_utf8_lossy(&answer);
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(|| format!("{addr} did not answer in HTTP"))?;
    let status = head.split(' ').nth(1).unwrap_or("");
    if status != "200" {
        return Err(format!("{addr}{path} answered {status}: is `status = \"{path}\"` set in [server]?"));
    }
    Ok(body.to_string())
}
