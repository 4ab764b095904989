//! The pages the development server answers with itself: a compile error,
//! an application that crashed or failed to start, a build taking too
//! long. Plain HTML, readable without a network connection.

use std::fmt::Write as _;

use http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use http::StatusCode;
use rgi_core::{Body, Response};
use rgi_supervisor::ExitReport;

use crate::cargo_build::Diagnostic;

/// The page for a build that failed.
pub(crate) fn build_failed(package: &str, errors: &[Diagnostic], cargo_output: &[String]) -> Response {
    let mut body = String::new();
    let count = errors.len();
    let title = match count {
        0 => format!("{package} does not build"),
        1 => format!("{package} does not compile: 1 error"),
        n => format!("{package} does not compile: {n} errors"),
    };
    for error in errors {
        let _ = write!(
            body,
            "<section><h2>{}: {}</h2>{}<pre>{}</pre></section>",
            escape(&error.level),
            escape(&error.message),
            error.location.as_deref().map(|l| format!("<p class=where>{}</p>", escape(l))).unwrap_or_default(),
            escape(&error.rendered),
        );
    }
    if errors.is_empty() || count == 0 {
        let _ = write!(body, "<section><h2>cargo said</h2><pre>{}</pre></section>", escape(&cargo_output.join("\n")));
    }
    body.push_str("<p class=hint>Fix the source and reload this page: rgi-dev rebuilds on every save.</p>");
    page(StatusCode::INTERNAL_SERVER_ERROR, &title, &body)
}

/// The page for an application that exited, crashed or could not start.
pub(crate) fn app_failed(package: &str, what: &str, report: Option<&ExitReport>) -> Response {
    let mut body = format!("<section><h2>{}</h2>", escape(what));
    match report {
        Some(report) => {
            let _ = write!(body, "<p>Process {} {}.</p>", report.pid, escape(&report.how));
            if report.stderr_tail.is_empty() {
                body.push_str("<p>It wrote nothing to standard error.</p>");
            } else {
                let _ = write!(
                    body,
                    "<p>Its last lines on standard error:</p><pre>{}</pre>",
                    escape(&crate::cargo_build::strip_ansi(&report.stderr_tail.join("\n")))
                );
            }
        }
        None => body.push_str("<p>No exit has been recorded yet.</p>"),
    }
    body.push_str("</section><p class=hint>Fix the source and save: rgi-dev rebuilds and starts it again.</p>");
    page(StatusCode::INTERNAL_SERVER_ERROR, &format!("{package} is not running"), &body)
}

/// The page for a request that waited longer than allowed for a build.
pub(crate) fn still_building(package: &str, waited_secs: u64) -> Response {
    let body = format!(
        "<p>The request waited {waited_secs} s for the build of {} to finish. The build goes on; reload to wait again.</p>",
        escape(package)
    );
    page(StatusCode::SERVICE_UNAVAILABLE, "Still building", &body)
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html><head><meta charset=utf-8><title>{title}</title><style>\
         body{{font:15px/1.4 system-ui,sans-serif;margin:2em;color:#222}}\
         h1{{color:#b00;font-size:1.4em}} h2{{font-size:1.1em;margin-bottom:.3em}}\
         pre{{background:#f6f6f6;border:1px solid #ddd;padding:1em;overflow:auto;font:13px/1.35 ui-monospace,monospace}}\
         .where{{font-family:ui-monospace,monospace;color:#555}} .hint{{color:#555}}\
         </style></head><body><h1>{title}</h1>{body}<p class=hint>rgi-dev</p></body></html>",
        title = escape(title),
    );
    let mut response = Response::new(Body::from(html));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `text` safe inside HTML elements and attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_messages_is_escaped() {
        assert_eq!(
            escape("<script>\"a\" & 'b'</script>"),
            "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/script&gt;"
        );
        let error = Diagnostic {
            level: "error".into(),
            message: "expected `;`, found `<`".into(),
            location: Some("src/main.rs:3:5".into()),
            rendered: "error: expected `;`\n --> src/main.rs:3:5".into(),
        };
        let response = build_failed("hello", &[error], &[]);
        assert_eq!(response.status(), 500);
    }
}
