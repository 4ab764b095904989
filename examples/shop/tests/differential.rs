//! The differential suite: one request battery against the shop under
//! plain `axum::serve` and under every rgi deployment (embedded; daemons
//! behind rgi-server at `/` and under `/shop`; rgi-dev), every answer
//! compared: status, the header fields that carry meaning, body, a
//! `100 Continue`, and when streamed events arrive.
//!
//! A row that may differ names its spec id, and docs/applications.md lists
//! it with its reason. The test fails when a row differs without one, and
//! also when a row that names one no longer differs, so the table stays
//! true.
#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use support::{Case, Deployment, Expect};

/// The header fields compared; framing (`Content-Length`,
/// `Transfer-Encoding`), `Date`, `Server` and `Connection` are the
/// connection's, not the application's.
const COMPARED: [&str; 14] = [
    "content-type",
    "content-length",
    "content-encoding",
    "location",
    "set-cookie",
    "allow",
    "content-range",
    "accept-ranges",
    "etag",
    "last-modified",
    "cache-control",
    "vary",
    "content-disposition",
    "x-content-type-options",
];

fn battery() -> Vec<Case> {
    let json = ("content-type", "application/json".to_string());
    let form = ("content-type", "application/x-www-form-urlencoded".to_string());
    let gzip = ("accept-encoding", "gzip".to_string());
    let boundary = "shop-boundary-7MA4YWxkTrZu0gW";
    let multipart = ("content-type", format!("multipart/form-data; boundary={boundary}"));
    let big_file: Vec<u8> = (0..20u32 << 20).map(|i| (i % 251) as u8).collect();
    vec![
        Case::get("home page", "/", 200),
        Case::get("JSON list", "/api/products", 200),
        Case::get("JSON list, gzip", "/api/products", 200).header(gzip.clone()),
        Case::get("one product", "/api/products/2", 200),
        Case::get("no such product", "/api/products/99", 404),
        Case::get("a path parameter that is no number", "/api/products/abc", 400),
        Case::get("the API's own fallback", "/api/orders", 404),
        Case::get("a percent-encoded path parameter", "/api/products/%32", 200),
        Case::post("create, JSON", "/api/products", 201, br#"{"name":"Spoon","price_cents":300}"#).header(json.clone()),
        Case::post("create, bad JSON", "/api/products", 400, b"{\"name\":").header(json.clone()),
        Case::post("create, no content type", "/api/products", 415, br#"{"name":"x","price_cents":1}"#),
        Case::post("create, refused by the app", "/api/products", 422, br#"{"name":" ","price_cents":1}"#)
            .header(json.clone()),
        Case::new("delete", "DELETE", "/api/products/1", 204),
        Case::get("the list after the changes", "/api/products", 200),
        Case::new("HEAD", "HEAD", "/api/products", 200),
        Case::new("a method the route lacks", "DELETE", "/", 405),
        Case::post("a form", "/contact", 200, b"name=Ann+%3CLee%3E&message=hello+there").header(form.clone()),
        Case::post("a form missing a field", "/contact", 422, b"name=Ann").header(form),
        Case::get("cookies", "/cart", 200).header(("cookie", "cart=1.2; theme=dark".into())),
        Case::get("cookies on two lines", "/cart", 200)
            .header(("cookie", "cart=3".into()))
            .header(("cookie", "theme=light".into())),
        Case::post("a cookie set, and a redirect", "/cart/3", 303, b"").header(("cookie", "cart=1".into())),
        Case::get("a redirect the app makes", "/login", 303),
        Case::get("the client's address (ConnectInfo)", "/whoami", 200),
        Case::get("what the handler sees", "/request?a=1&b=two%20words&c=x+y", 200),
        Case::post("what the handler sees of a body", "/request", 200, b"0123456789")
            .header(("content-type", "text/plain".into())),
        Case::get("HTTP/1.0", "/request", 200).version("1.0"),
        Case::post("a chunked request body", "/request", 200, b"4\r\nabcd\r\n6\r\nefghij\r\n0\r\n\r\n")
            .header(("transfer-encoding", "chunked".into())),
        Case::get("a body on a GET", "/request", 200).body(b"unexpected"),
        Case::get("an absolute-form target", "/request?x=1", 200).absolute().differs("ENV-13"),
        Case::get("an empty query", "/request?", 200),
        Case::get("an encoded path", "/no/such/p%C3%A4ge%20x", 404),
        Case::get("a doubled slash", "/api//products", 404),
        Case::get("a trailing slash", "/api/products/", 404),
        Case::get("many header fields", "/request", 200).many_headers(90),
        Case::get("a header on two lines", "/request", 200)
            .header(("x-tag", "one".into()))
            .header(("x-tag", "two".into()))
            .differs("HDR-3"),
        Case::get("cookies on two lines, as the handler sees them", "/request", 200)
            .header(("cookie", "a=1".into()))
            .header(("cookie", "b=2".into()))
            .differs("HDR-3"),
        Case::get("a header name with an underscore", "/request", 200)
            .header(("x_tag", "sneaky".into()))
            .differs("HDR-1"),
        Case::get("a handler within the timeout", "/slow?ms=20", 200),
        Case::get("a handler past the app's timeout", "/slow?ms=6000", 408),
        Case::get("a handler that panics", "/panic", 500),
        Case::get("a streamed 1 MiB body", "/big?kib=1024", 200),
        Case::get("a streamed 1 MiB body, gzip", "/big?kib=1024", 200).header(gzip.clone()),
        Case::get("server-sent events", "/events?n=3&ms=20", 200),
        Case::get("a static file", "/static/style.css", 200),
        Case::get("a static file, gzip", "/static/app.js", 200).header(gzip),
        Case::get("a range of a static file", "/static/app.js", 206).header(("range", "bytes=10-49".into())),
        Case::get("an unsatisfiable range", "/static/style.css", 416).header(("range", "bytes=9000-".into())),
        Case::get("a static file not modified", "/static/style.css", 304)
            .header(("if-modified-since", "Sun, 01 Jan 2090 00:00:00 GMT".into())),
        Case::get("a static file that is not there", "/static/missing.css", 404),
        Case::get("no such page", "/no/such/page", 404),
        Case::post(
            "a multipart upload",
            "/upload",
            200,
            &multipart_body(boundary, &[("title", None, b"a teapot"), ("photo", Some("teapot.jpg"), b"\xff\xd8 jpeg")]),
        )
        .header(multipart.clone()),
        Case::post(
            "a 20 MiB upload",
            "/upload",
            200,
            &multipart_body(boundary, &[("file", Some("big.bin"), &big_file)]),
        )
        .header(multipart.clone()),
        Case::post(
            "an upload that waits for 100 Continue",
            "/upload",
            200,
            &multipart_body(boundary, &[("a", None, b"b")]),
        )
        .header(multipart.clone())
        .expect(Expect::Continue),
        // Above the shop's 32 MiB: refused from the head alone, no body sent.
        Case::post("an upload over the app's limit", "/upload", 413, &[])
            .header(multipart)
            .header(("content-length", (40u64 << 20).to_string()))
            .expect(Expect::Refusal)
            .differs("DEP-7"),
        // Hostile paths: dot segments rgi removes before routing (PATH-2),
        // where axum routes the raw path.
        Case::get("dot segments", "/api/products/x/../2", 404).differs("PATH-2"),
        Case::get("dot segments out of the static directory", "/static/../Cargo.toml", 404)
            .differs("PATH-2")
            .never_contains("[package]"),
        Case::get("encoded dot segments out of the static directory", "/static/%2e%2e/Cargo.toml", 404)
            .differs("PATH-2")
            .never_contains("[package]"),
    ]
}

fn multipart_body(boundary: &str, parts: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, file, bytes) in parts {
        body.extend(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"").as_bytes());
        if let Some(file) = file {
            body.extend(format!("; filename=\"{file}\"\r\nContent-Type: application/octet-stream").as_bytes());
        }
        body.extend(b"\r\n\r\n");
        body.extend(*bytes);
        body.extend(b"\r\n");
    }
    body.extend(format!("--{boundary}--\r\n").as_bytes());
    body
}

#[test]
fn every_deployment_answers_the_battery_as_axum_serve_does() {
    let dir = tempfile::tempdir().unwrap();
    let deployments = Deployment::start_all(dir.path());
    let battery = battery();
    // Each deployment runs the battery in its own thread; state (the
    // catalogue) changes in the same order in each.
    let results: BTreeMap<String, Vec<support::Answer>> = std::thread::scope(|scope| {
        let runs: Vec<_> = deployments
            .iter()
            .map(|d| (d.name.clone(), scope.spawn(|| battery.iter().map(|case| d.ask(case)).collect::<Vec<_>>())))
            .collect();
        runs.into_iter().map(|(name, run)| (name, run.join().unwrap())).collect()
    });

    let mut failures = Vec::new();
    for deployment in &deployments {
        let reference = &results[deployment.reference];
        let answers = &results[&deployment.name];
        for ((case, want), got) in battery.iter().zip(reference).zip(answers) {
            if deployment.name == deployment.reference {
                if want.status != case.status {
                    failures.push(format!(
                        "{}: {:?}: status {} where the battery expects {}",
                        deployment.name, case.name, want.status, case.status
                    ));
                }
            } else {
                let differences = want.differences(got, &COMPARED);
                match (case.differs, differences.is_empty()) {
                    (None, false) => failures.push(format!(
                        "{}: {:?} differs from {}:\n  {}",
                        deployment.name,
                        case.name,
                        deployment.reference,
                        differences.join("\n  ")
                    )),
                    (Some(id), true) => failures.push(format!(
                        "{}: {:?} is listed as a difference ({id}) but answers as {} does: \
                         remove it from the battery's and docs/applications.md's lists",
                        deployment.name, case.name, deployment.reference
                    )),
                    _ => {}
                }
            }
            if let Some(secret) = case.never_contains {
                if String::from_utf8_lossy(&got.body).contains(secret) {
                    failures.push(format!("{}: {:?} served {secret:?}", deployment.name, case.name));
                }
            }
        }
    }
    // Streamed events arrive as they happen: sent 300 ms apart, a server
    // that buffered the stream would deliver them together, at the end.
    let every = Duration::from_millis(300);
    let arrivals: Vec<_> = std::thread::scope(|scope| {
        let runs: Vec<_> = deployments.iter().map(|d| scope.spawn(move || d.event_arrivals(3, every))).collect();
        runs.into_iter().map(|run| run.join().unwrap()).collect()
    });
    for (deployment, arrivals) in deployments.iter().zip(arrivals) {
        match arrivals.as_slice() {
            [first, _, last] if *last - *first >= every => {}
            _ => failures.push(format!("{}: events not streamed as they happened: {arrivals:?}", deployment.name)),
        }
    }
    assert!(
        failures.is_empty(),
        "{} differences:\n{}\n\nlogs:\n{}",
        failures.len(),
        failures.join("\n"),
        deployments.iter().map(|d| format!("--- {}\n{}", d.name, d.log())).collect::<String>()
    );
}
