use std::net::{IpAddr, SocketAddr};

use http::HeaderMap;
use proptest::prelude::*;
use rgi_core::Scheme;

use super::forwarded::apply;
use super::header::{parse, Parsed, ProxyHeader, ProxyHeaderError};
use super::Trusted;
use crate::environ::Connection;

fn v2(command: u8, family: u8, block: &[u8]) -> Vec<u8> {
    let mut bytes = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    bytes.push(0x20 | command);
    bytes.push(family);
    bytes.extend(u16::try_from(block.len()).unwrap().to_be_bytes());
    bytes.extend(block);
    bytes
}

fn encode(header: &ProxyHeader, version: u8) -> Vec<u8> {
    match (header.source, header.destination, version) {
        (Some(s), Some(d), 1) => {
            let family = if s.is_ipv4() { "TCP4" } else { "TCP6" };
            format!("PROXY {family} {} {} {} {}\r\n", s.ip(), d.ip(), s.port(), d.port()).into_bytes()
        }
        (Some(SocketAddr::V4(s)), Some(SocketAddr::V4(d)), _) => {
            let mut block = s.ip().octets().to_vec();
            block.extend(d.ip().octets());
            block.extend(s.port().to_be_bytes());
            block.extend(d.port().to_be_bytes());
            v2(1, 0x11, &block)
        }
        (Some(SocketAddr::V6(s)), Some(SocketAddr::V6(d)), _) => {
            let mut block = s.ip().octets().to_vec();
            block.extend(d.ip().octets());
            block.extend(s.port().to_be_bytes());
            block.extend(d.port().to_be_bytes());
            v2(1, 0x21, &block)
        }
        _ if version == 1 => b"PROXY UNKNOWN\r\n".to_vec(),
        _ => v2(0, 0, &[]),
    }
}

fn addr_pair() -> impl Strategy<Value = ProxyHeader> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<[u8; 4]>(), any::<u16>(), any::<u16>()).prop_map(|(s, d, sp, dp)| ProxyHeader {
            source: Some(SocketAddr::new(IpAddr::from(s), sp)),
            destination: Some(SocketAddr::new(IpAddr::from(d), dp)),
        }),
        (any::<[u8; 16]>(), any::<[u8; 16]>(), any::<u16>(), any::<u16>()).prop_map(|(s, d, sp, dp)| ProxyHeader {
            source: Some(SocketAddr::new(IpAddr::from(s), sp)),
            destination: Some(SocketAddr::new(IpAddr::from(d), dp)),
        }),
        Just(ProxyHeader { source: None, destination: None }),
    ]
}

proptest! {
    /// PRX-1: every header parses whole, says what was encoded, and ends
    /// exactly where it ends, whatever follows; every proper prefix asks
    /// for more bytes, never for fewer than it has.
    #[test]
    fn headers_round_trip_and_prefixes_ask_for_more(
        header in addr_pair(),
        version in 1u8..=2,
        rest in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let encoded = encode(&header, version);
        let mut bytes = encoded.clone();
        bytes.extend(&rest);
        prop_assert_eq!(parse(&bytes), Ok(Parsed::Done { header, len: encoded.len() }));
        for cut in 0..encoded.len() {
            match parse(&encoded[..cut]) {
                Ok(Parsed::Need(n)) => prop_assert!(n > cut && n <= encoded.len(), "cut {} need {}", cut, n),
                other => prop_assert!(false, "prefix of {} bytes: {:?}", cut, other),
            }
        }
    }

    /// Any bytes: an answer, never a panic, and a length within the input.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(Parsed::Done { len, .. }) = parse(&bytes) {
            prop_assert!(len <= bytes.len());
        }
    }
}

#[test]
fn malformed_headers_are_named() {
    // PRX-1: hostile or broken headers are errors, not guesses.
    let cases: [(&[u8], &str); 7] = [
        (b"GET / HTTP/1.1\r\n", "no PROXY protocol header"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 80\r\n", "not four addresses"),
        (b"PROXY TCP4 1.2.3.999 5.6.7.8 80 81\r\n", "does not match its family"),
        (b"PROXY TCP6 1.2.3.4 5.6.7.8 80 81\r\n", "does not match its family"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 080 81\r\n", "port"),
        (b"PROXY SCTP 1.2.3.4 5.6.7.8 80 81\r\n", "unknown protocol family"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 80 81\n", "line feed without"),
    ];
    for (bytes, want) in cases {
        let err = parse(bytes).unwrap_err().to_string();
        assert!(err.contains(want), "{:?}: {err}", String::from_utf8_lossy(bytes));
    }
    let long = [b"PROXY TCP4 ".as_slice(), &[b'1'; 120]].concat();
    assert_eq!(parse(&long), Err(ProxyHeaderError::BadV1("no CRLF within 107 bytes")));
    let mut bad_version = v2(1, 0x11, &[0; 12]);
    bad_version[12] = 0x31;
    assert!(matches!(parse(&bad_version), Err(ProxyHeaderError::BadV2(_))));
    assert!(matches!(parse(&v2(1, 0x11, &[0; 4])), Err(ProxyHeaderError::BadV2(_))));
    assert!(matches!(parse(&v2(1, 0x99, &[])), Err(ProxyHeaderError::BadV2(_))));
    // PRX-2: LOCAL (a balancer's health check) names no client.
    assert_eq!(
        parse(&v2(0, 0x11, &[9; 12])),
        Ok(Parsed::Done { header: ProxyHeader { source: None, destination: None }, len: 28 })
    );
}

fn conn(peer: &str) -> Connection {
    Connection { local: None, remote: Some(peer.parse().unwrap()), scheme: Scheme::Http }
}

fn headers(fields: &[(&str, &str)]) -> HeaderMap {
    fields.iter().map(|(n, v)| (n.parse().unwrap(), v.parse().unwrap())).collect()
}

#[test]
fn forwarding_fields_from_untrusted_peers_are_removed() {
    // PRX-5
    let trusted: Trusted = "10.0.0.0/8".parse().unwrap();
    let mut c = conn("203.0.113.9:5000");
    let mut h = headers(&[
        ("x-forwarded-for", "1.2.3.4"),
        ("x-forwarded-proto", "https"),
        ("forwarded", "for=1.2.3.4"),
        ("x-real-ip", "1.2.3.4"),
        ("x-forwarded-host", "evil.test"),
        ("host", "shop.test"),
    ]);
    apply(&trusted, &mut c, &mut h);
    assert_eq!(c.remote, Some("203.0.113.9:5000".parse().unwrap()));
    assert_eq!(c.scheme, Scheme::Http);
    assert_eq!(h.len(), 1, "{h:?}");
    assert_eq!(h["host"], "shop.test");
}

#[test]
fn with_no_trusted_proxy_nothing_changes() {
    let mut c = conn("203.0.113.9:5000");
    let mut h = headers(&[("x-forwarded-for", "1.2.3.4")]);
    apply(&Trusted::default(), &mut c, &mut h);
    assert_eq!((c.remote.unwrap().ip().to_string(), h.len()), ("203.0.113.9".to_string(), 1));
}

#[test]
fn the_client_is_the_rightmost_untrusted_address() {
    // PRX-6
    let trusted: Trusted = "10.0.0.0/8, 192.0.2.1".parse().unwrap();
    let client = |chain: &[&str]| {
        let mut c = conn("10.0.0.1:40000");
        let mut h = HeaderMap::new();
        for line in chain {
            h.append("x-forwarded-for", line.parse().unwrap());
        }
        apply(&trusted, &mut c, &mut h);
        c.remote.unwrap().to_string()
    };
    assert_eq!(client(&["198.51.100.7"]), "198.51.100.7:0");
    // A client-supplied (forged) entry left of the real one is ignored.
    assert_eq!(client(&["6.6.6.6, 198.51.100.7, 10.1.1.1"]), "198.51.100.7:0");
    assert_eq!(client(&["6.6.6.6", "198.51.100.7, 192.0.2.1"]), "198.51.100.7:0");
    assert_eq!(client(&["10.2.2.2, 10.3.3.3"]), "10.2.2.2:0");
    assert_eq!(client(&["198.51.100.7:4711"]), "198.51.100.7:4711");
    // Garbage ends the walk at the trusted hop to its right.
    assert_eq!(client(&["1.1.1.1, unknown, 10.4.4.4"]), "10.4.4.4:0");
    assert_eq!(client(&["not-an-address"]), "10.0.0.1:40000");
    assert_eq!(client(&[]), "10.0.0.1:40000");
}

#[test]
fn forwarded_gives_client_scheme_and_host() {
    // PRX-6, PRX-7
    let trusted: Trusted = "127.0.0.1".parse().unwrap();
    let mut c = conn("127.0.0.1:1");
    let mut h = headers(&[
        ("forwarded", r#"for="[2001:db8::7]:4711";proto=https;host=shop.example"#),
        ("x-forwarded-for", "9.9.9.9"),
        ("host", "backend:8080"),
    ]);
    apply(&trusted, &mut c, &mut h);
    assert_eq!(c.remote, Some("[2001:db8::7]:4711".parse().unwrap()));
    assert_eq!(c.scheme, Scheme::Https);
    assert_eq!(h["host"], "shop.example");

    let mut c = conn("127.0.0.1:1");
    let mut h = headers(&[
        ("x-forwarded-proto", "http, HTTPS"),
        ("x-forwarded-host", "shop.example"),
        ("x-forwarded-port", "8443"),
        ("host", "backend"),
    ]);
    apply(&trusted, &mut c, &mut h);
    assert_eq!((c.scheme, h["host"].to_str().unwrap()), (Scheme::Https, "shop.example:8443"));
    // A proto that is neither http nor https, and a bad host, change nothing.
    let mut c = conn("127.0.0.1:1");
    let mut h = headers(&[("x-forwarded-proto", "gopher"), ("x-forwarded-host", "bad host/x"), ("host", "backend")]);
    apply(&trusted, &mut c, &mut h);
    assert_eq!((c.scheme, h["host"].to_str().unwrap()), (Scheme::Http, "backend"));
}

#[test]
fn mapped_ipv4_peers_count_as_ipv4() {
    let trusted: Trusted = "10.0.0.0/8".parse().unwrap();
    assert!(trusted.contains("::ffff:10.1.2.3".parse().unwrap()));
    assert!("10.0.0.0/33".parse::<Trusted>().is_err());
    assert!(Trusted::new(&["nonsense"]).unwrap_err().to_string().contains("nonsense"));
}
