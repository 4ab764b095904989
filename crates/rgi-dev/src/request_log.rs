//! One line per request, as runserver prints it:
//! `[Tue, 24 Nov 2026 10:00:00 GMT] "GET /path HTTP/1.1" 200 13 0.4 ms`,
//! coloured by status on a terminal.

use std::io::IsTerminal;
use std::time::SystemTime;

use rgi_embedded::{AccessEntry, AccessSink};

/// The sink the embedded server calls once per finished request.
pub(crate) fn sink() -> AccessSink {
    let colour = std::io::stderr().is_terminal();
    AccessSink::new(move |entry| print_line(&line(&Fields::of(entry), SystemTime::now(), colour)))
}

/// What a line shows of an entry.
struct Fields<'a> {
    method: &'a str,
    target: &'a str,
    version: http::Version,
    status: u16,
    bytes: u64,
    duration: std::time::Duration,
    cut_short: bool,
}

impl<'a> Fields<'a> {
    fn of(entry: &'a AccessEntry) -> Self {
        Self {
            method: entry.method.as_str(),
            target: &entry.target,
            version: entry.version,
            status: entry.status,
            bytes: entry.bytes,
            duration: entry.duration,
            cut_short: entry.failed || !entry.completed,
        }
    }
}

#[allow(clippy::print_stderr, reason = "the request log is the terminal's, as runserver's is")]
fn print_line(line: &str) {
    eprintln!("{line}");
}

fn line(entry: &Fields<'_>, now: SystemTime, colour: bool) -> String {
    let version = match entry.version {
        http::Version::HTTP_10 => "HTTP/1.0",
        http::Version::HTTP_2 => "HTTP/2.0",
        _ => "HTTP/1.1",
    };
    let ms = entry.duration.as_secs_f64() * 1000.0;
    let cut = if entry.cut_short { " (cut short)" } else { "" };
    let text = format!(
        "[{}] \"{} {} {version}\" {} {} {ms:.1} ms{cut}",
        httpdate::fmt_http_date(now),
        entry.method,
        entry.target,
        entry.status,
        entry.bytes
    );
    if !colour {
        return text;
    }
    // runserver's palette: success plain, redirects green, not modified
    // cyan, client errors yellow, server errors bold magenta.
    let code = match entry.status {
        304 => "36",
        300..=399 => "32",
        400..=499 => "33",
        500.. => "1;35",
        _ => return text,
    };
    format!("\u{1b}[{code}m{text}\u{1b}[0m")
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    fn entry(status: u16) -> Fields<'static> {
        Fields {
            method: "GET",
            target: "/a?b",
            version: http::Version::HTTP_11,
            status,
            bytes: 13,
            duration: Duration::from_micros(1500),
            cut_short: false,
        }
    }

    #[test]
    fn lines_read_like_runserver() {
        let at = UNIX_EPOCH + Duration::from_secs(1_795_000_000);
        let plain = line(&entry(200), at, false);
        assert_eq!(plain, "[Wed, 18 Nov 2026 11:06:40 GMT] \"GET /a?b HTTP/1.1\" 200 13 1.5 ms");
        assert!(line(&entry(500), at, true).starts_with("\u{1b}[1;35m["));
        assert!(line(&entry(404), at, true).starts_with("\u{1b}[33m["));
        assert_eq!(line(&entry(200), at, true), plain, "success is not coloured");
    }
}
