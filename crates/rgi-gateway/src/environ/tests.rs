use std::net::SocketAddr;
use std::sync::Arc;

use http::{HeaderValue, Method, Version};
use proptest::prelude::*;

use rgi_core::{Mode, Settings};

use super::*;
use crate::cgi;

fn deployment() -> Arc<Deployment> {
    Arc::new(Deployment::new(Mode::Embedded, Arc::new(Settings::empty())))
}

fn conn() -> Connection {
    Connection {
        local: Some(SocketAddr::from(([127, 0, 0, 1], 8000))),
        remote: Some(SocketAddr::from(([10, 0, 0, 7], 51234))),
        scheme: Scheme::Http,
    }
}

fn head(version: Version, uri: &str, headers: &[(&str, &str)]) -> Parts {
    let mut builder = http::Request::builder().version(version).uri(uri);
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    builder.body(()).unwrap().into_parts().0
}

fn environ(version: Version, uri: &str, headers: &[(&str, &str)], mount: &str) -> Result<Environ, RequestError> {
    let mut head = head(version, uri, headers);
    let target = RequestTarget::from_parts(head.uri.path(), head.uri.query().unwrap_or(""))?;
    let split = target.mount_split(mount).unwrap();
    from_http(&mut head, target, split, &conn(), deployment())
}

#[test]
fn server_name_and_port_come_from_host() {
    // ENV-5
    let e = environ(Version::HTTP_11, "/", &[("host", "example.com:8080")], "").unwrap();
    assert_eq!((e.server_name(), e.server_port()), ("example.com", 8080));
    let e = environ(Version::HTTP_11, "/", &[("host", "example.com")], "").unwrap();
    assert_eq!((e.server_name(), e.server_port()), ("example.com", 80));
    let e = environ(Version::HTTP_11, "/", &[("host", "[::1]:9")], "").unwrap();
    assert_eq!((e.server_name(), e.server_port()), ("[::1]", 9));
}

#[test]
fn absolute_form_overrides_host() {
    // ENV-5
    let e = environ(Version::HTTP_11, "http://other.test:81/x?q", &[("host", "example.com")], "").unwrap();
    assert_eq!((e.server_name(), e.server_port()), ("other.test", 81));
    assert_eq!(e.path_info(), "/x");
    assert_eq!(e.query_string(), "q");
}

#[test]
fn the_application_sees_the_origin_form_and_the_authority_as_host() {
    // ENV-13: an HTTP/2 request (no Host field) and an absolute-form one.
    for (version, headers) in [(Version::HTTP_2, vec![]), (Version::HTTP_11, vec![("host", "ignored.test")])] {
        let mut head = head(version, "https://shop.example:8443/a/b?q=1", &headers);
        let target = RequestTarget::from_parts(head.uri.path(), head.uri.query().unwrap_or("")).unwrap();
        let e = from_http(&mut head, target, 0, &conn(), deployment()).unwrap();
        assert_eq!(head.uri, "/a/b?q=1");
        assert_eq!(head.headers["host"], "shop.example:8443");
        assert_eq!((e.server_name(), e.server_port()), ("shop.example", 8443));
    }
}

#[test]
fn http10_without_host_uses_the_local_address() {
    // ENV-5, ENV-12
    let e = environ(Version::HTTP_10, "/", &[], "").unwrap();
    assert_eq!((e.server_name(), e.server_port()), ("127.0.0.1", 8000));
}

#[test]
fn http11_host_problems_are_refused() {
    // ENV-6
    assert_eq!(environ(Version::HTTP_11, "/", &[], "").unwrap_err(), RequestError::MissingHost);
    assert_eq!(
        environ(Version::HTTP_11, "/", &[("host", "a"), ("host", "b")], "").unwrap_err(),
        RequestError::DuplicateHost
    );
    for bad in ["", "a b", "user@host", "host:99999", "host:x", "a/b"] {
        let err = environ(Version::HTTP_11, "/", &[("host", bad)], "").unwrap_err();
        assert!(matches!(err, RequestError::BadHost(_)), "{bad:?}: {err:?}");
    }
}

#[test]
fn remote_scheme_and_deployment_are_carried() {
    // ENV-4, ENV-7, ENV-9
    let e = environ(Version::HTTP_11, "/", &[("host", "h")], "").unwrap();
    assert_eq!(e.remote_addr(), Some(SocketAddr::from(([10, 0, 0, 7], 51234))));
    assert_eq!(e.url_scheme(), Scheme::Http);
    assert_eq!(e.deployment().mode(), Mode::Embedded);
    assert_eq!(e.deployment().process_id(), std::process::id());
}

#[test]
fn paths_are_split_and_decoded() {
    // PATH-1, PATH-4, PATH-5
    let e = environ(Version::HTTP_11, "/app/a%20b/c%2Fd?x=1", &[("host", "h")], "/app").unwrap();
    assert_eq!(e.script_name(), "/app");
    assert_eq!(e.path_info(), "/a b/c%2Fd");
    assert_eq!(e.raw_path_info(), "/a%20b/c%2Fd");
    let segments: Vec<_> = e.path_segments().collect();
    assert_eq!(segments, ["a b", "c/d"]);
    let e = environ(Version::HTTP_11, "/app", &[("host", "h")], "/app").unwrap();
    assert_eq!((e.script_name(), e.path_info()), ("/app", ""));
    assert_eq!(e.path_segments().count(), 0);
}

#[test]
fn headers_are_sanitised_on_the_way_in() {
    // HDR-1, HDR-2, HDR-3, HDR-4
    let mut head = head(
        Version::HTTP_11,
        "/",
        &[
            ("host", "h"),
            ("x-a", "1"),
            ("x-a", "2"),
            ("x_a", "forged"),
            ("proxy", "http://evil"),
            ("transfer-encoding", "chunked"),
        ],
    );
    let target = RequestTarget::parse("/").unwrap();
    from_http(&mut head, target, 0, &conn(), deployment()).unwrap();
    assert_eq!(head.headers.get("x-a").unwrap(), "1, 2");
    assert!(head.headers.get("x_a").is_none());
    assert!(head.headers.get("proxy").is_none());
    assert!(head.headers.get("transfer-encoding").is_none());
}

fn nginx_params(uri: &str, script_name: &str) -> Vec<(String, String)> {
    [
        ("QUERY_STRING", ""),
        ("REQUEST_METHOD", "GET"),
        ("CONTENT_TYPE", ""),
        ("CONTENT_LENGTH", ""),
        ("SCRIPT_NAME", script_name),
        ("REQUEST_URI", uri),
        ("DOCUMENT_URI", uri),
        ("DOCUMENT_ROOT", "/usr/share/nginx/html"),
        ("SERVER_PROTOCOL", "HTTP/1.1"),
        ("REQUEST_SCHEME", "http"),
        ("GATEWAY_INTERFACE", "CGI/1.1"),
        ("SERVER_SOFTWARE", "nginx/1.22.1"),
        ("REMOTE_ADDR", "127.0.0.1"),
        ("REMOTE_PORT", "40404"),
        ("SERVER_ADDR", "127.0.0.1"),
        ("SERVER_PORT", "8080"),
        ("SERVER_NAME", "localhost"),
        ("HTTP_HOST", "localhost:8080"),
        ("HTTP_PROXY", "http://evil"),
        ("HTTP_USER_AGENT", "curl/8"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

#[test]
fn from_cgi_reads_what_nginx_sends() {
    // CGI-2, CGI-3, CGI-4, HDR-2
    let (head, e) = cgi::from_vars(nginx_params("/echo/a%2Fb/../c?x=1", "/echo"), deployment()).unwrap();
    assert_eq!(head.method, Method::GET);
    assert_eq!(e.script_name(), "/echo");
    assert_eq!(e.path_info(), "/c");
    assert_eq!(e.query_string(), "x=1");
    assert_eq!(e.remote_addr(), Some(SocketAddr::from(([127, 0, 0, 1], 40404))));
    assert_eq!((e.server_name(), e.server_port()), ("localhost", 8080));
    assert!(head.headers.get("content-type").is_none());
    assert!(head.headers.get("proxy").is_none());
    assert_eq!(head.headers.get("user-agent").unwrap(), "curl/8");
    assert_eq!(e.var("DOCUMENT_ROOT"), Some("/usr/share/nginx/html"));
    assert_eq!(e.var("SERVER_SOFTWARE"), Some("nginx/1.22.1"));
    assert_eq!(e.var("HTTP_PROXY"), None);
}

#[test]
fn from_cgi_notes_an_upgrade_request_before_dropping_its_fields() {
    // UPG-1, UPG-5
    let vars = |protocol: &'static str| {
        [
            ("REQUEST_METHOD", "GET"),
            ("REQUEST_URI", "/chat"),
            ("SERVER_PROTOCOL", protocol),
            ("HTTP_HOST", "t"),
            ("HTTP_UPGRADE", "websocket"),
            ("HTTP_CONNECTION", "keep-alive, Upgrade"),
        ]
    };
    let (head, _) = cgi::from_vars(vars("HTTP/1.1"), deployment()).unwrap();
    assert_eq!(head.extensions.get(), Some(&cgi::UpgradeAsked(HeaderValue::from_static("websocket"))));
    assert!(!head.headers.contains_key("upgrade") && !head.headers.contains_key("connection"));
    let (head, _) = cgi::from_vars(vars("HTTP/1.0"), deployment()).unwrap();
    assert_eq!(head.extensions.get::<cgi::UpgradeAsked>(), None, "HTTP/1.0 never upgrades");
}

#[test]
fn from_cgi_takes_path_info_from_request_uri() {
    // CGI-3, PATH-5: the front's decoded PATH_INFO cannot hide an encoded slash.
    let mut params = nginx_params("/app/a%2Fb", "/app");
    params.push(("PATH_INFO".into(), "/a/b".into()));
    let (_, e) = cgi::from_vars(params, deployment()).unwrap();
    assert_eq!(e.path_info(), "/a%2Fb");
}

#[test]
fn from_cgi_without_request_uri_reencodes() {
    // CGI-3
    let params =
        [("REQUEST_METHOD", "GET"), ("SCRIPT_NAME", "/app"), ("PATH_INFO", "/a b/100%"), ("QUERY_STRING", "q=1")];
    let (head, e) = cgi::from_vars(params, deployment()).unwrap();
    assert_eq!(e.script_name(), "/app");
    assert_eq!(e.path_info(), "/a b/100%");
    assert_eq!(e.raw_path_info(), "/a%20b/100%25");
    assert_eq!(head.uri, "/app/a%20b/100%25?q=1");
}

#[test]
fn from_cgi_takes_the_last_of_a_repeated_variable() {
    // FCGI-7: nginx sends an included fastcgi_param, then the one that
    // overrides it.
    let params = [
        ("REQUEST_METHOD", "GET"),
        ("SCRIPT_NAME", "/index.php"),
        ("REQUEST_URI", "/app/x"),
        ("SCRIPT_NAME", "/app"),
        ("HTTP_X_FORWARDED_FOR", "10.0.0.1"),
        ("HTTP_X_FORWARDED_FOR", "10.0.0.2"),
    ];
    let (head, e) = cgi::from_vars(params, deployment()).unwrap();
    assert_eq!((e.script_name(), e.path_info()), ("/app", "/x"));
    // A repeated field, combined as any repeated field is.
    assert_eq!(head.headers["x-forwarded-for"], "10.0.0.1, 10.0.0.2");
}

#[test]
fn from_cgi_reads_framing_from_cgi_variables_and_trims_values() {
    // CGI-2: nginx passes HTTP_CONTENT_* beside CONTENT_*, and values with
    // the whitespace a client put around them.
    let params = [
        ("REQUEST_METHOD", "POST"),
        ("CONTENT_LENGTH", "3"),
        ("CONTENT_TYPE", "text/plain"),
        ("HTTP_CONTENT_LENGTH", "3"),
        ("HTTP_CONTENT_TYPE", "text/plain"),
        ("HTTP_X_PADDED", "\t value \t"),
        ("HTTP_X_BLANK", " \t "),
    ];
    let (head, _) = cgi::from_vars(params, deployment()).unwrap();
    assert_eq!(head.headers.get_all("content-length").iter().count(), 1);
    assert_eq!(head.headers["content-length"], "3");
    assert_eq!(head.headers["content-type"], "text/plain");
    assert_eq!(head.headers["x-padded"], "value");
    assert_eq!(head.headers["x-blank"], "");
}

#[test]
fn from_cgi_refuses_bad_variables() {
    // CGI-5
    let missing = cgi::from_vars([("REQUEST_URI", "/")], deployment()).unwrap_err();
    assert_eq!(missing, RequestError::MissingVariable("REQUEST_METHOD"));
    let cases: &[&[(&str, &str)]] = &[
        &[("REQUEST_METHOD", "G T")],
        &[("REQUEST_METHOD", "GET"), ("SERVER_PROTOCOL", "SPDY/9")],
        &[("REQUEST_METHOD", "GET"), ("REQUEST_URI", "/a"), ("SCRIPT_NAME", "/b")],
        &[("REQUEST_METHOD", "GET"), ("REQUEST_URI", "no-slash")],
        &[("REQUEST_METHOD", "GET"), ("SERVER_PORT", "http")],
        &[("REQUEST_METHOD", "GET"), ("HTTP_X", "a\nb")],
        &[("REQUEST_METHOD", "GET"), ("HTTP_", "x")],
    ];
    for params in cases {
        let err = cgi::from_vars(params.iter().copied(), deployment()).unwrap_err();
        assert!(matches!(err, RequestError::BadVariable { .. } | RequestError::Path(_)), "{params:?}: {err:?}");
    }
}

#[test]
fn https_from_either_variable() {
    // ENV-7
    for params in
        [[("REQUEST_METHOD", "GET"), ("HTTPS", "on")], [("REQUEST_METHOD", "GET"), ("REQUEST_SCHEME", "https")]]
    {
        let (_, e) = cgi::from_vars(params, deployment()).unwrap();
        assert_eq!(e.url_scheme(), Scheme::Https);
        assert_eq!(e.server_port(), 443);
    }
}

#[test]
fn cgi_names_follow_the_table() {
    // CGI-1, CGI-2, ENV-10
    let mut head = head(
        Version::HTTP_11,
        "/p?q",
        &[("host", "h"), ("content-type", "text/plain"), ("content-length", "3"), ("x-forwarded-for", "1.2.3.4")],
    );
    let target = RequestTarget::parse("/p?q").unwrap();
    let e = from_http(&mut head, target, 0, &conn(), deployment()).unwrap();
    let vars = cgi::to_vars(&e, &head);
    let names: Vec<&str> = vars.iter().map(|(n, _)| n.as_str()).collect();
    for want in [
        "GATEWAY_INTERFACE",
        "REQUEST_METHOD",
        "REQUEST_URI",
        "SCRIPT_NAME",
        "PATH_INFO",
        "QUERY_STRING",
        "SERVER_NAME",
        "SERVER_PORT",
        "SERVER_PROTOCOL",
        "REMOTE_ADDR",
        "REMOTE_PORT",
        "REQUEST_SCHEME",
        "CONTENT_TYPE",
        "CONTENT_LENGTH",
        "HTTP_HOST",
        "HTTP_X_FORWARDED_FOR",
    ] {
        assert_eq!(names.iter().filter(|n| **n == want).count(), 1, "{want} in {names:?}");
    }
    assert!(!names.contains(&"HTTP_CONTENT_TYPE") && !names.contains(&"HTTP_CONTENT_LENGTH"));
    assert!(!names.contains(&"HTTPS"));
}

fn header_name() -> impl Strategy<Value = String> {
    prop_oneof!["x-[a-z0-9]{1,8}(-[a-z0-9]{1,4})?", Just("cookie".to_string()), Just("accept".to_string())]
}

/// method, path, query, headers, remote, https, mount index
type Generated = (String, String, String, Vec<(String, String)>, Option<SocketAddr>, bool, u8);

fn request_strategy() -> impl Strategy<Value = Generated> {
    (
        prop_oneof![Just("GET"), Just("POST"), Just("PROPFIND"), Just("DELETE")].prop_map(String::from),
        proptest::collection::vec(
            prop_oneof![
                "[a-z0-9]{0,4}",
                Just("%2F".to_string()),
                Just("%20".to_string()),
                Just("%C3%A9".to_string()),
                Just("%FF".to_string()),
                Just("%25".to_string()),
                Just("..".to_string())
            ],
            0..5,
        )
        .prop_map(|s| format!("/{}", s.join("/"))),
        "[a-z0-9=&%]{0,12}",
        proptest::collection::vec((header_name(), "[ -~]{0,12}"), 0..5),
        proptest::option::of(any::<(u32, u16)>().prop_map(|(ip, port)| SocketAddr::from((ip.to_be_bytes(), port)))),
        any::<bool>(),
        0u8..3,
    )
}

proptest! {
    #[test]
    fn cgi_round_trip_loses_nothing((method, path, query, headers, remote, https, mount) in request_strategy()) {
        // CGI-6, CGI-1, CGI-3
        let uri = if query.is_empty() { path.clone() } else { format!("{path}?{query}") };
        let mut builder = http::Request::builder().method(method.as_str()).uri(uri.as_str()).header("host", "example.test:8443");
        for (k, v) in &headers {
            builder = builder.header(k.as_str(), HeaderValue::from_str(v.trim()).unwrap());
        }
        let mut head = builder.body(()).unwrap().into_parts().0;
        let target = RequestTarget::parse(&uri).unwrap();
        let prefix = ["", "/a", "/a/b"][usize::from(mount)];
        let Some(split) = target.mount_split(prefix) else { return Ok(()) };
        let conn = Connection { local: None, remote, scheme: if https { Scheme::Https } else { Scheme::Http } };
        let e1 = from_http(&mut head, target, split, &conn, deployment()).unwrap();
        let (head2, e2) = cgi::from_vars(cgi::to_vars(&e1, &head), deployment()).unwrap();
        prop_assert_eq!(&head2.method, &head.method);
        prop_assert_eq!(head2.version, head.version);
        prop_assert_eq!(head2.uri.path_and_query(), head.uri.path_and_query());
        prop_assert_eq!(&head2.headers, &head.headers);
        prop_assert_eq!(e2.script_name(), e1.script_name());
        prop_assert_eq!(e2.path_info(), e1.path_info());
        prop_assert_eq!(e2.raw_path_info(), e1.raw_path_info());
        prop_assert_eq!(e2.query_string(), e1.query_string());
        prop_assert_eq!(e2.remote_addr(), e1.remote_addr());
        prop_assert_eq!(e2.server_name(), e1.server_name());
        prop_assert_eq!(e2.server_port(), e1.server_port());
        prop_assert_eq!(e2.url_scheme(), e1.url_scheme());
        prop_assert_eq!(cgi::to_vars(&e2, &head2), cgi::to_vars(&e1, &head));
    }

    #[test]
    fn from_cgi_never_panics(vars in proptest::collection::vec((prop_oneof!["[A-Z_]{1,16}", Just("REQUEST_METHOD".to_string()), Just("REQUEST_URI".to_string()), Just("SCRIPT_NAME".to_string()), Just("PATH_INFO".to_string()), Just("SERVER_PORT".to_string())], proptest::collection::vec(any::<u8>(), 0..16)), 0..12)) {
        // CGI-5
        let _ = cgi::from_vars(vars, deployment());
    }
}

#[test]
fn remote_addresses_are_written_as_std_writes_them() {
    // CGI-1
    for ip in [
        "0.0.0.0",
        "1.2.3.4",
        "10.20.30.40",
        "100.200.255.9",
        "255.255.255.255",
        "::1",
        "2001:db8::8a2e:370:7334",
        "::ffff:192.0.2.1",
    ] {
        let addr: std::net::IpAddr = ip.parse().unwrap();
        let mut buf = [0u8; 64];
        assert_eq!(cgi::ip_text(addr, &mut buf), addr.to_string().as_bytes(), "{ip}");
    }
}

#[test]
fn from_cgi_takes_content_length_only_as_a_decimal_and_minus_one_as_absent() {
    // CGI-7
    let get = |len: &str| {
        cgi::from_vars([("REQUEST_METHOD", "POST"), ("CONTENT_LENGTH", len)], deployment())
            .map(|(head, _)| head.headers.get("content-length").map(|v| v.to_str().unwrap().to_string()))
    };
    assert_eq!(get("42"), Ok(Some("42".to_string())));
    assert_eq!(get(" 7 "), Ok(Some("7".to_string())));
    assert_eq!(get("-1"), Ok(None), "Caddy's -1 for a chunked request means no declared length");
    for bad in ["abc", "1.5", "-2", "+3", "0x10", "1 2", "99999999999999999999"] {
        let err = get(bad).unwrap_err();
        assert!(matches!(&err, RequestError::BadVariable { name, .. } if name == "CONTENT_LENGTH"), "{bad}: {err:?}");
    }
}

#[test]
fn from_cgi_applies_the_host_rule_when_the_front_says_http_1_1() {
    // ENV-6
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut params = vec![("REQUEST_METHOD", "GET"), ("SERVER_PROTOCOL", "HTTP/1.1"), ("REQUEST_URI", "/")];
        params.extend_from_slice(extra);
        cgi::from_vars(params, deployment())
    };
    assert!(with(&[("HTTP_HOST", "example.org:8080")]).is_ok());
    assert_eq!(with(&[]).unwrap_err(), RequestError::MissingHost);
    assert_eq!(with(&[("HTTP_HOST", "a"), ("HTTP_HOST", "b")]).unwrap_err(), RequestError::DuplicateHost);
    assert!(matches!(with(&[("HTTP_HOST", "bad host/")]).unwrap_err(), RequestError::BadHost(_)));
    // HTTP/1.0 needs no Host.
    let old = [("REQUEST_METHOD", "GET"), ("SERVER_PROTOCOL", "HTTP/1.0"), ("REQUEST_URI", "/")];
    assert!(cgi::from_vars(old, deployment()).is_ok());
}

#[test]
fn from_cgi_splits_a_port_off_server_name_and_server_port_wins() {
    // CGI-8: HAProxy sends SERVER_NAME as host:port.
    let environ = |params: &[(&'static str, &'static str)]| {
        let mut all = vec![("REQUEST_METHOD", "GET")];
        all.extend_from_slice(params);
        cgi::from_vars(all, deployment()).unwrap().1
    };
    let e = environ(&[("SERVER_NAME", "example.org:8443")]);
    assert_eq!((e.server_name(), e.server_port()), ("example.org", 8443));
    let e = environ(&[("SERVER_NAME", "example.org:8443"), ("SERVER_PORT", "9000")]);
    assert_eq!((e.server_name(), e.server_port()), ("example.org", 9000));
    let e = environ(&[("SERVER_NAME", "[::1]:81")]);
    assert_eq!((e.server_name(), e.server_port()), ("[::1]", 81));
    let e = environ(&[("SERVER_NAME", "plain.example")]);
    assert_eq!((e.server_name(), e.server_port()), ("plain.example", 80));
}
