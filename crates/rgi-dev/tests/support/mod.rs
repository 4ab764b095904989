//! Helpers for the end-to-end tests: a copy of an example crate that the
//! test may edit, and `rgi-dev` running on it.
#![allow(dead_code, reason = "each test file uses a different subset")]
#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use rgi_test_support::{get, LoggedChild};

pub(crate) fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// A copy of `examples/<example>` as a crate of its own, named `name`, with
/// its path dependencies pointing back into this workspace and its
/// dependency versions pinned by the workspace's lock file.
pub(crate) struct DevCrate {
    pub(crate) _dir: tempfile::TempDir,
    pub(crate) path: PathBuf,
    pub(crate) name: String,
}

impl DevCrate {
    pub(crate) fn copy(example: &str, name: &str) -> Self {
        let ws = workspace();
        let from = ws.join("examples").join(example);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.join("src")).unwrap();
        let lib_name = name.replace('-', "_");
        // The example's own library, as its main.rs names it.
        let manifest = std::fs::read_to_string(from.join("Cargo.toml")).unwrap();
        let package = manifest.lines().find_map(|l| l.strip_prefix("name = ")).unwrap().trim_matches('"');
        let example_lib = package.replace('-', "_");
        for entry in std::fs::read_dir(from.join("src")).unwrap() {
            let entry = entry.unwrap();
            let text = std::fs::read_to_string(entry.path()).unwrap();
            let text = text.replace(&format!("{example_lib}::"), &format!("{lib_name}::"));
            std::fs::write(path.join("src").join(entry.file_name()), text).unwrap();
        }
        let versions = std::fs::read_to_string(ws.join("Cargo.toml")).unwrap();
        let mut manifest = String::new();
        let mut skip = false;
        for line in std::fs::read_to_string(from.join("Cargo.toml")).unwrap().lines() {
            if line.starts_with('[') {
                skip = line == "[lints]" || line == "[dev-dependencies]";
            }
            if skip {
                continue;
            }
            let line = if line.starts_with("name = ") {
                format!("name = \"{name}\"")
            } else if line == "edition.workspace = true" {
                "edition = \"2021\"".to_string()
            } else if let Some(dep) = line.strip_suffix(".workspace = true") {
                let spec = versions.lines().find(|l| l.starts_with(&format!("{dep} = "))).unwrap();
                spec.to_string()
            } else if let Some((dep, extra)) = line.split_once(" = { workspace = true, features = [") {
                // `dep = { workspace = true, features = [...] }`: the
                // workspace's spec, its features and these together.
                let extra = extra.trim_end_matches(" }").trim_end_matches(']');
                let spec = versions.lines().find(|l| l.starts_with(&format!("{dep} = "))).unwrap();
                let spec = spec.split_once(" = ").unwrap().1;
                let spec = if spec.starts_with('"') { format!("{{ version = {spec} }}") } else { spec.to_string() };
                match spec.split_once("features = [") {
                    Some((head, tail)) => format!("{dep} = {head}features = [{extra}, {tail}"),
                    None => format!("{dep} = {}, features = [{extra}] }}", spec.trim_end_matches(" }")),
                }
            } else {
                line.replace("../../crates/", &format!("{}/crates/", ws.display()))
            };
            manifest.push_str(&line);
            manifest.push('\n');
        }
        manifest.push_str("\n[workspace]\n");
        std::fs::write(path.join("Cargo.toml"), manifest).unwrap();
        std::fs::copy(ws.join("Cargo.lock"), path.join("Cargo.lock")).unwrap();
        Self { _dir: dir, path, name: name.to_string() }
    }

    pub(crate) fn read(&self, file: &str) -> String {
        std::fs::read_to_string(self.path.join(file)).unwrap()
    }

    pub(crate) fn write(&self, file: &str, text: &str) {
        std::fs::write(self.path.join(file), text).unwrap();
    }
}

/// `rgi-dev` serving a crate on 127.0.0.1, stopped (by PID) when dropped.
pub(crate) struct DevServer {
    pub(crate) process: LoggedChild,
    pub(crate) addr: SocketAddr,
}

impl DevServer {
    pub(crate) fn start(krate: &DevCrate, args: &[&str]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_rgi-dev"));
        command
            .arg(&krate.path)
            .args(["--addr", "127.0.0.1:0"])
            .args(args)
            // One target directory for every copy: the dependencies build once.
            .env("CARGO_TARGET_DIR", workspace().join("target").join("rgi-dev-e2e"))
            // Everything the copies need is in the workspace's lock file
            // and already downloaded for the workspace's own build.
            .env("CARGO_NET_OFFLINE", "true")
            .env_remove("RGI_SETTINGS");
        let (process, addr) = LoggedChild::spawn("rgi-dev", command, Duration::from_secs(120), |line| {
            line.split("serving on http://").nth(1).map(|rest| rest.trim_end_matches('/').to_string())
        });
        Self { process, addr }
    }

    pub(crate) fn log(&self) -> String {
        self.process.log()
    }

    /// GETs `path` until `check` holds for the answer, at most `limit`.
    pub(crate) fn wait_for(
        &self,
        path: &str,
        limit: Duration,
        what: &str,
        check: impl Fn(u16, &str) -> bool,
    ) -> (u16, String) {
        let deadline = Instant::now() + limit;
        loop {
            let (status, body) = get(self.addr, path);
            if check(status, &body) {
                return (status, body);
            }
            assert!(
                Instant::now() < deadline,
                "{what} within {limit:?}; last answer {status} {body}\nlog:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The pid of the application process, from the log.
    pub(crate) fn app_pid(&self) -> u32 {
        let log = self.log();
        let line =
            log.lines().rev().find(|l| l.contains(" is running (pid ")).unwrap_or_else(|| panic!("no pid in:\n{log}"));
        line.split("(pid ").nth(1).and_then(|r| r.trim_end_matches(')').parse().ok()).unwrap()
    }

    /// SIGTERM, then the exit status.
    pub(crate) fn stop(mut self) -> std::process::ExitStatus {
        self.process.stop()
    }
}
