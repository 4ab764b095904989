//! The configuration file: listeners, process groups, mounts.
//!
//! ```toml
//! [server]
//! listen = ["127.0.0.1:8000"]
//! status = "/server-status"
//!
//! [groups.app]
//! command = ["../target/release/hello"]
//! processes = 2
//!
//! [[mounts]]
//! prefix = "/"
//! group = "app"
//! ```
//!
//! Relative paths are relative to the file's directory. Durations are
//! seconds (`3`, `0.5`) or strings with a unit (`"3s"`, `"500ms"`, `"2m"`).
//! [The configuration reference](https://example.invalid/rgi/tree/main/docs/configuration.md) lists every
//! key with its unit and default.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rgi_embedded::{BindAddr, Limits};
use rgi_supervisor::{GroupConfig, PoolConfig};
use serde::Deserialize;

mod duration;
mod preflight;
mod size;

use duration::Span;
use size::Size;

/// Why a configuration file cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// It could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// It is not valid TOML or does not have the expected shape.
    #[error("{path}: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// What is wrong, where (toml's report: line, column and the line
        /// itself with a caret under the place).
        message: String,
    },
    /// It is well-formed but does not make sense.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    server: ServerSection,
    #[serde(default)]
    groups: BTreeMap<String, GroupSection>,
    #[serde(default)]
    mounts: Vec<MountSection>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct ServerSection {
    #[serde(default)]
    listen: Vec<String>,
    #[serde(default)]
    tls_listen: Vec<String>,
    #[serde(default)]
    tls_proxy_listen: Vec<String>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    socket_dir: Option<PathBuf>,
    socket_group: Option<String>,
    status: Option<String>,
    #[serde(default)]
    proxy_listen: Vec<String>,
    #[serde(default)]
    trusted_proxies: Vec<String>,
    liveness: Option<String>,
    readiness: Option<String>,
    shutdown_delay: Option<Span>,
    threads: Option<usize>,
    #[serde(default)]
    access_log: bool,
    grace_period: Option<Span>,
    drain_period: Option<Span>,
    #[serde(default)]
    limits: LimitsSection,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct LimitsSection {
    header_read_timeout: Option<Span>,
    max_header_bytes: Option<usize>,
    max_header_count: Option<usize>,
    max_header_field_bytes: Option<usize>,
    max_uri_bytes: Option<usize>,
    max_body_bytes: Option<Size>,
    body_read_timeout: Option<Span>,
    keep_alive_timeout: Option<Span>,
    max_connections: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct GroupSection {
    command: Vec<String>,
    processes: Option<usize>,
    concurrency: Option<usize>,
    threads: Option<usize>,
    user: Option<String>,
    group: Option<String>,
    umask: Option<String>,
    working_dir: Option<PathBuf>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    settings: Option<PathBuf>,
    display_name: Option<String>,
    max_requests: Option<u64>,
    max_requests_jitter: Option<u64>,
    restart_interval: Option<Span>,
    max_rss: Option<Size>,
    graceful_timeout: Option<Span>,
    startup_timeout: Option<Span>,
    request_timeout: Option<Span>,
    connect_timeout: Option<Span>,
    queue_timeout: Option<Span>,
    max_upgraded: Option<usize>,
    reload_file: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct MountSection {
    prefix: String,
    group: Option<String>,
    #[serde(rename = "static")]
    static_dir: Option<PathBuf>,
    cache: Option<Size>,
}

/// What a mount serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountTarget {
    /// A process group, by name.
    Group(String),
    /// A directory of static files.
    Static {
        /// The directory.
        dir: PathBuf,
        /// Bytes of small files kept in memory (0: none).
        cache: usize,
    },
}

/// TLS listeners and their certificate.
#[derive(Debug, Clone)]
pub struct TlsListen {
    /// Where to listen with TLS.
    pub listen: Vec<BindAddr>,
    /// Where to listen with TLS behind a balancer that sends the PROXY
    /// protocol header before the handshake (TLS passed through).
    pub proxy_listen: Vec<BindAddr>,
    /// The certificate chain (PEM).
    pub cert: PathBuf,
    /// Its private key (PEM).
    pub key: PathBuf,
}

/// A loaded, checked configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it came from.
    pub path: PathBuf,
    /// Where to listen.
    pub listen: Vec<BindAddr>,
    /// Where to listen for a balancer that sends the PROXY protocol
    /// header first on each connection (PRX-1).
    pub proxy_listen: Vec<BindAddr>,
    /// Where to listen with TLS, and the certificate and key files.
    pub tls: Option<TlsListen>,
    /// The path of the liveness endpoint, if any.
    pub liveness: Option<String>,
    /// The path of the readiness endpoint, if any.
    pub readiness: Option<String>,
    /// On SIGTERM or SIGINT, how long the server reports not ready while
    /// it goes on serving, before it stops accepting (so a balancer stops
    /// sending first). Default 0.
    pub shutdown_delay: std::time::Duration,
    /// The front's runtime threads; `None`: one per CPU.
    pub threads: Option<usize>,
    /// The private directory for daemon sockets; a fresh one when `None`.
    pub socket_dir: Option<PathBuf>,
    /// A group (a front such as nginx) allowed to reach the sockets.
    pub socket_group: Option<String>,
    /// The path of the status page, if any.
    pub status: Option<String>,
    /// The embedded server's configuration.
    pub server: rgi_embedded::Config,
    /// The process groups.
    pub groups: Vec<GroupConfig>,
    /// Mount prefixes and what they serve.
    pub mounts: Vec<(String, MountTarget)>,
}

impl Config {
    /// Reads and checks the file at `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        Self::parse(&text, path)
    }

    /// Parses and checks configuration text; `path` names it and anchors
    /// its relative paths.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let file: File = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })?;
        let invalid = |message: String| ConfigError::Invalid { path: path.to_path_buf(), message };
        let base = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_path_buf();
        let relative = |p: &Path| if p.is_absolute() { p.to_path_buf() } else { base.join(p) };

        let addresses = |list: &[String], key: &str| {
            list.iter()
                .map(|a| a.parse::<BindAddr>().map_err(|e| invalid(format!("[server] {key}: {e}"))))
                .collect::<Result<Vec<_>, _>>()
        };
        let listen = addresses(&file.server.listen, "listen")?;
        let proxy_listen = addresses(&file.server.proxy_listen, "proxy-listen")?;
        let tls_listen = addresses(&file.server.tls_listen, "tls-listen")?;
        let tls_proxy_listen = addresses(&file.server.tls_proxy_listen, "tls-proxy-listen")?;
        let no_tls_address = tls_listen.is_empty() && tls_proxy_listen.is_empty();
        let tls = match (&file.server.tls_cert, &file.server.tls_key, no_tls_address) {
            (None, None, true) => None,
            (Some(cert), Some(key), false) => Some(TlsListen {
                listen: tls_listen,
                proxy_listen: tls_proxy_listen,
                cert: relative(cert),
                key: relative(key),
            }),
            (Some(_), Some(_), true) => {
                return Err(invalid("[server] tls-cert and tls-key need tls-listen addresses".into()))
            }
            _ => return Err(invalid("[server] tls-listen needs both tls-cert and tls-key".into())),
        };
        let mut server = rgi_embedded::Config::default();
        server.access_log = file.server.access_log;
        if let Some(g) = file.server.grace_period {
            server.grace_period = g.0;
        }
        // Behind a balancer or through a binary upgrade, clients on kept-alive
        // connections are asked to go rather than cut off (see drain-period).
        server.drain_period = file.server.drain_period.map_or(std::time::Duration::from_secs(1), |d| d.0);
        apply_limits(&mut server.limits, &file.server.limits);
        server.trusted_proxies = rgi_gateway::proxy::Trusted::new(&file.server.trusted_proxies)
            .map_err(|e| invalid(format!("[server] trusted-proxies: {e}")))?;
        if file.server.threads == Some(0) {
            return Err(invalid("[server] threads: 0; give 1 or more, or leave it out for one per CPU".into()));
        }
        for (key, path) in [("liveness", &file.server.liveness), ("readiness", &file.server.readiness)] {
            if let Some(path) = path {
                rgi_gateway::path::validate_prefix(path).map_err(|e| invalid(format!("[server] {key}: {e}")))?;
            }
        }

        let mut groups = Vec::new();
        for (name, g) in &file.groups {
            let program = g.command.first().ok_or_else(|| invalid(format!("[groups.{name}] command is empty")))?;
            let mut command = g.command.clone();
            // A program named by a path is found relative to the file;
            // a bare name is looked up in PATH.
            if program.contains('/') {
                command[0] = relative(Path::new(program)).display().to_string();
            }
            let mut gc = GroupConfig::new(name, command);
            if let Some(p) = g.processes {
                gc.processes = p;
            }
            if let Some(c) = g.concurrency {
                gc.concurrency = c;
            }
            gc.threads = g.threads;
            // Unknown names are configuration errors, found by --check.
            if let Some(user) = &g.user {
                rgi_supervisor::user_ids(user).map_err(|e| invalid(format!("[groups.{name}] user {user:?}: {e}")))?;
            }
            if let Some(group) = &g.group {
                rgi_supervisor::group_id(group)
                    .map_err(|e| invalid(format!("[groups.{name}] group {group:?}: {e}")))?;
            }
            gc.user = g.user.clone();
            gc.group = g.group.clone();
            gc.umask = match &g.umask {
                Some(m) => Some(
                    u32::from_str_radix(m, 8)
                        .map_err(|_| invalid(format!("[groups.{name}] umask {m:?} is not octal")))?,
                ),
                None => None,
            };
            // The configuration's own directory unless said otherwise, so
            // an application's relative paths (ServeDir::new("static"))
            // do not depend on where rgi-server was started.
            gc.working_dir = Some(g.working_dir.as_deref().map_or_else(|| base.clone(), relative));
            // The front's limits reach its daemons (one set, end to end);
            // a group's own `env` comes after, so it can differ.
            gc.env = server.limits.to_env().into_iter().map(|(k, v)| (k.to_string(), v)).collect();
            gc.env.extend(g.env.iter().map(|(k, v)| (k.clone(), v.clone())));
            gc.settings = g.settings.as_deref().map(relative);
            gc.display_name = g.display_name.clone();
            gc.max_requests = g.max_requests.unwrap_or(0);
            gc.max_requests_jitter = g.max_requests_jitter.unwrap_or(0);
            gc.restart_interval = g.restart_interval.map(|t| t.0);
            gc.max_rss = g.max_rss.map(|s| s.0);
            if let Some(t) = g.graceful_timeout {
                gc.graceful_timeout = t.0;
            }
            if let Some(t) = g.startup_timeout {
                gc.startup_timeout = t.0;
            }
            gc.reload_file = g.reload_file.as_deref().map(relative);
            let mut pool = PoolConfig::default();
            if let Some(t) = g.request_timeout {
                pool.request_timeout = (!t.0.is_zero()).then_some(t.0);
            }
            if let Some(t) = g.connect_timeout {
                pool.connect_timeout = t.0;
            }
            if let Some(t) = g.queue_timeout {
                pool.queue_timeout = t.0;
            }
            if let Some(n) = g.max_upgraded {
                pool.max_upgraded = n;
            }
            gc.pool = pool;
            if gc.processes == 0 {
                return Err(invalid(format!("[groups.{name}] processes must be at least 1")));
            }
            groups.push(gc);
        }

        let mut mounts = Vec::new();
        for m in &file.mounts {
            let target = match (&m.group, &m.static_dir) {
                (Some(_), None) if m.cache.is_some() => {
                    return Err(invalid(format!("mount {:?}: `cache` is for `static` mounts", m.prefix)));
                }
                (Some(g), None) => {
                    if !file.groups.contains_key(g) {
                        return Err(invalid(format!("mount {:?} names group {g:?}, which is not defined", m.prefix)));
                    }
                    MountTarget::Group(g.clone())
                }
                (None, Some(dir)) => MountTarget::Static {
                    dir: relative(dir),
                    cache: match m.cache {
                        None => rgi_static::DEFAULT_CACHE_SIZE,
                        Some(Size(bytes)) => usize::try_from(bytes)
                            .map_err(|_| invalid(format!("mount {:?}: cache {bytes} is too large", m.prefix)))?,
                    },
                },
                _ => return Err(invalid(format!("mount {:?} needs exactly one of `group` and `static`", m.prefix))),
            };
            rgi_gateway::path::validate_prefix(&m.prefix).map_err(|e| invalid(format!("mount: {e}")))?;
            mounts.push((m.prefix.clone(), target));
        }
        if let Some(group) = &file.server.socket_group {
            rgi_supervisor::group_id(group).map_err(|e| invalid(format!("[server] socket-group {group:?}: {e}")))?;
        }
        if mounts.is_empty() && file.server.status.is_none() && file.server.readiness.is_none() {
            return Err(invalid("nothing to serve: add a [[mounts]] entry".into()));
        }
        Ok(Self {
            path: path.to_path_buf(),
            listen,
            proxy_listen,
            tls,
            liveness: file.server.liveness,
            readiness: file.server.readiness,
            shutdown_delay: file.server.shutdown_delay.map_or(std::time::Duration::ZERO, |d| d.0),
            threads: file.server.threads,
            socket_dir: file.server.socket_dir.as_deref().map(relative),
            socket_group: file.server.socket_group,
            status: file.server.status,
            server,
            groups,
            mounts,
        })
    }
}

fn apply_limits(limits: &mut Limits, s: &LimitsSection) {
    if let Some(v) = s.header_read_timeout {
        limits.header_read_timeout = v.0;
    }
    if let Some(v) = s.max_header_bytes {
        limits.max_header_bytes = v;
    }
    if let Some(v) = s.max_header_count {
        limits.max_header_count = v;
    }
    if let Some(v) = s.max_header_field_bytes {
        limits.max_header_field_bytes = v;
    }
    if let Some(v) = s.max_uri_bytes {
        limits.max_uri_bytes = v;
    }
    if let Some(v) = s.max_body_bytes {
        limits.max_body_bytes = Some(v.0);
    }
    if let Some(v) = s.body_read_timeout {
        limits.body_read_timeout = v.0;
    }
    if let Some(v) = s.keep_alive_timeout {
        limits.keep_alive_timeout = v.0;
    }
    if let Some(v) = s.max_connections {
        limits.max_connections = v;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The keys the parser accepts in `section`, from serde's own list in
    /// its unknown-field error.
    fn keys(section: &str) -> Vec<String> {
        let text = format!("{section}\nno-such-key-rgi = 1\n");
        let err = toml::from_str::<File>(&text).expect_err("an unknown key").to_string();
        let list = err.split("expected one of").nth(1).unwrap_or_else(|| panic!("no key list in {err}"));
        list.split('`').skip(1).step_by(2).map(str::to_string).collect()
    }

    #[test]
    fn the_reference_page_lists_every_key_of_every_section() {
        let reference =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/configuration.md"))
                .unwrap_or_else(|e| panic!("docs/configuration.md: {e}"));
        for (section, heading) in [
            ("[server]", "## `[server]`"),
            ("[server.limits]", "## `[server.limits]`"),
            ("[groups.g]\ncommand = [\"x\"]", "## `[groups.NAME]`"),
            ("[[mounts]]\nprefix = \"/\"", "## `[[mounts]]`"),
        ] {
            let start = reference.find(heading).unwrap_or_else(|| panic!("no {heading} section"));
            let body = &reference[start + heading.len()..];
            let body = &body[..body.find("\n## ").unwrap_or(body.len())];
            let keys = keys(section);
            assert!(keys.len() >= 2, "{section}: {keys:?}");
            for key in keys {
                assert!(body.contains(&format!("| `{key}` |")), "docs/configuration.md {heading} lacks `{key}`");
            }
        }
    }
}
