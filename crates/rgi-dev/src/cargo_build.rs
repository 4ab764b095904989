//! One `cargo build` of the application, its diagnostics read from
//! cargo's JSON messages.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use cargo_metadata::diagnostic::DiagnosticLevel;
use cargo_metadata::Message;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::project::Project;

/// One compiler message, ready for the terminal and the error page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Diagnostic {
    /// `error`, `warning`...
    pub(crate) level: String,
    /// The headline, e.g. "cannot find value `x` in this scope".
    pub(crate) message: String,
    /// `file:line:column` of the primary span, when there is one.
    pub(crate) location: Option<String>,
    /// The whole message as rustc renders it, without colour codes.
    pub(crate) rendered: String,
}

/// How a build ended.
#[derive(Debug, Clone)]
pub(crate) enum Outcome {
    /// The binary is at `executable`.
    Built {
        /// The built binary.
        executable: PathBuf,
        /// How long the build took.
        took: Duration,
    },
    /// It failed; the errors, and cargo's own output when it failed
    /// before the compiler said anything (a broken manifest, say).
    Failed {
        /// The compiler's errors.
        errors: Vec<Diagnostic>,
        /// Cargo's last lines on stderr.
        cargo_output: Vec<String>,
    },
}

/// Builds the project's binary. Progress and diagnostics go to this
/// process's stderr as cargo would print them.
pub(crate) async fn build(project: &Project, release: bool) -> Outcome {
    let started = Instant::now();
    let terminal = std::io::stderr().is_terminal();
    let mut cargo = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cargo
        .arg("build")
        .arg("--manifest-path")
        .arg(&project.manifest)
        .args(["--bin", &project.bin])
        .arg(if terminal { "--message-format=json-diagnostic-rendered-ansi" } else { "--message-format=json" })
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if release {
        cargo.arg("--release");
    }
    if terminal {
        cargo.arg("--color=always");
    }
    let mut child = match cargo.spawn() {
        Ok(child) => child,
        Err(err) => {
            return Outcome::Failed { errors: Vec::new(), cargo_output: vec![format!("cannot run cargo: {err}")] };
        }
    };
    let stderr = child.stderr.take().map(|err| tokio::spawn(relay_stderr(err)));
    let mut errors = Vec::new();
    let mut executable = None;
    let mut success = false;
    if let Some(out) = child.stdout.take() {
        let mut lines = BufReader::new(out).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let Ok(message) = serde_json::from_str::<Message>(&line) else { continue };
            match message {
                Message::CompilerMessage(msg) => {
                    let d = &msg.message;
                    let rendered = d.rendered.clone().unwrap_or_else(|| d.message.clone());
                    print_diagnostic(&rendered);
                    if matches!(d.level, DiagnosticLevel::Error | DiagnosticLevel::Ice) {
                        let location = d
                            .spans
                            .iter()
                            .find(|s| s.is_primary)
                            .map(|s| format!("{}:{}:{}", s.file_name, s.line_start, s.column_start));
                        errors.push(Diagnostic {
                            level: d.level_name(),
                            message: d.message.clone(),
                            location,
                            rendered: strip_ansi(&rendered),
                        });
                    }
                }
                Message::CompilerArtifact(artifact)
                    if artifact.target.name == project.bin && artifact.target.is_bin() =>
                {
                    executable = artifact.executable.map(|p| p.into_std_path_buf());
                }
                Message::BuildFinished(finished) => success = finished.success,
                _ => {}
            }
        }
    }
    let status = child.wait().await;
    let cargo_output = match stderr {
        Some(task) => task.await.unwrap_or_default(),
        None => Vec::new(),
    };
    match (status, executable) {
        (Ok(status), Some(executable)) if status.success() && success => {
            Outcome::Built { executable, took: started.elapsed() }
        }
        _ => Outcome::Failed { errors, cargo_output },
    }
}

trait LevelName {
    fn level_name(&self) -> String;
}

impl LevelName for cargo_metadata::diagnostic::Diagnostic {
    fn level_name(&self) -> String {
        match self.level {
            DiagnosticLevel::Ice => "internal compiler error".to_string(),
            _ => format!("{:?}", self.level).to_lowercase(),
        }
    }
}

#[allow(clippy::print_stderr, reason = "the terminal shows what the compiler said, as cargo would")]
fn print_diagnostic(rendered: &str) {
    eprint!("{rendered}");
}

/// Cargo's own lines ("Compiling ...", "error: could not compile ..."):
/// shown as they come, and the last ones kept for the error page.
#[allow(clippy::print_stderr, reason = "cargo's progress is shown as cargo shows it")]
async fn relay_stderr(err: tokio::process::ChildStderr) -> Vec<String> {
    let mut kept = std::collections::VecDeque::new();
    let mut lines = BufReader::new(err).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        eprintln!("{line}");
        if kept.len() == 30 {
            kept.pop_front();
        }
        kept.push_back(strip_ansi(&line));
    }
    kept.into()
}

/// `text` without terminal colour codes (CSI sequences).
pub(crate) fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            // Parameters and intermediates, then one final byte in @..~.
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::strip_ansi;

    #[test]
    fn colour_codes_are_stripped_and_text_kept() {
        assert_eq!(strip_ansi("\u{1b}[0m\u{1b}[1m\u{1b}[38;5;9merror\u{1b}[0m: bad"), "error: bad");
        assert_eq!(strip_ansi("plain [brackets] stay"), "plain [brackets] stay");
        assert_eq!(strip_ansi("cut \u{1b}["), "cut ");
    }
}
