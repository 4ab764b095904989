use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode};
use proptest::prelude::*;

use super::*;

fn map(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut m = HeaderMap::new();
    for (k, v) in pairs {
        m.append(HeaderName::from_bytes(k.as_bytes()).unwrap(), HeaderValue::from_str(v).unwrap());
    }
    m
}

#[test]
fn underscores_and_proxy_are_dropped() {
    // HDR-1, HDR-2
    let mut h = map(&[("x-user", "alice"), ("x_user", "mallory"), ("proxy", "http://evil:1"), ("accept", "*/*")]);
    assert_eq!(sanitize_request_headers(&mut h), 2);
    assert_eq!(h.get("x-user").unwrap(), "alice");
    assert!(h.get("x_user").is_none() && h.get("proxy").is_none());
    assert_eq!(h.len(), 2);
}

#[test]
fn repeated_fields_are_joined_in_order() {
    // HDR-3
    let mut h = map(&[("accept", "a"), ("x-b", "1"), ("accept", "b"), ("cookie", "a=1"), ("cookie", "b=2")]);
    sanitize_request_headers(&mut h);
    assert_eq!(h.get_all("accept").iter().collect::<Vec<_>>(), ["a, b"]);
    assert_eq!(h.get("cookie").unwrap(), "a=1; b=2");
    assert_eq!(h.get("x-b").unwrap(), "1");
}

#[test]
fn hop_by_hop_and_connection_named_fields_are_removed() {
    // HDR-4
    let mut h = map(&[
        ("connection", "keep-alive, x-secret"),
        ("keep-alive", "timeout=5"),
        ("x-secret", "1"),
        ("te", "trailers"),
        ("transfer-encoding", "chunked"),
        ("upgrade", "h2c"),
        ("proxy-connection", "close"),
        ("x-kept", "yes"),
    ]);
    sanitize_request_headers(&mut h);
    assert_eq!(h.keys().map(|k| k.as_str()).collect::<Vec<_>>(), ["x-kept"]);
}

#[test]
fn response_problems_are_named() {
    // HDR-5, HDR-6, APP-3, APP-5, APP-10
    let mut h = map(&[("connection", "close"), ("content-type", "text/plain")]);
    let problems = check_response_head(StatusCode::CONTINUE, &h);
    assert!(problems.contains(&ResponseProblem::Status(100)));
    assert!(problems.contains(&ResponseProblem::HopByHop(http::header::CONNECTION)));
    // `http` refuses to build a value with CR/LF/NUL (its unchecked
    // constructor asserts in debug builds); the byte check is what a server
    // applies to values that reach it some other way.
    assert!(!is_valid_value(b"a\r\nb") && !is_valid_value(b"a\0") && is_valid_value(b"a\tb"));
    assert!(check_response_head(StatusCode::OK, &map(&[("content-type", "text/plain")])).is_empty());
    assert_eq!(strip_hop_by_hop(&mut h), [http::header::CONNECTION]);
}

#[test]
fn bodiless_responses() {
    // HDR-7
    assert!(forbids_body(&Method::HEAD, StatusCode::OK));
    assert!(forbids_body(&Method::GET, StatusCode::NO_CONTENT));
    assert!(forbids_body(&Method::GET, StatusCode::NOT_MODIFIED));
    assert!(!forbids_body(&Method::GET, StatusCode::OK));
}

proptest! {
    #[test]
    fn value_check_agrees_with_http(bytes in proptest::collection::vec(any::<u8>(), 0..24)) {
        // HDR-5: whatever http accepts, our check accepts; CR/LF/NUL never pass.
        let ours = is_valid_value(&bytes);
        if HeaderValue::from_bytes(&bytes).is_ok() {
            prop_assert!(ours);
        }
        if bytes.iter().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
            prop_assert!(!ours);
        }
    }

    #[test]
    fn status_check_accepts_exactly_final_statuses(code in 100u16..1000) {
        // APP-3
        let status = StatusCode::from_u16(code).unwrap();
        let problems = check_response_head(status, &HeaderMap::new());
        prop_assert_eq!(problems.is_empty(), (200..=599).contains(&code));
    }

    #[test]
    fn sanitised_headers_are_unambiguous(pairs in proptest::collection::vec(("[a-z_-]{1,6}", "[a-z0-9 ]{0,6}"), 0..10)) {
        // HDR-1, HDR-3: after sanitising, each CGI name stands for one field.
        let mut h = HeaderMap::new();
        for (k, v) in &pairs {
            if let (Ok(k), Ok(v)) = (HeaderName::from_bytes(k.as_bytes()), HeaderValue::from_str(v)) {
                h.append(k, v);
            }
        }
        sanitize_request_headers(&mut h);
        prop_assert_eq!(h.keys_len(), h.len());
        let mut names: Vec<String> = h.keys().map(|k| k.as_str().replace('-', "_")).collect();
        let n = names.len();
        names.sort();
        names.dedup();
        prop_assert_eq!(names.len(), n);
    }
}
