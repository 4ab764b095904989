//! The forwarding fields a balancer adds to a request (`Forwarded`,
//! `X-Forwarded-For`, `-Proto`, `-Host`, `-Port`, `X-Real-IP`): honoured
//! from trusted proxies, removed from everyone else (PRX-5 to PRX-7).

use std::net::{IpAddr, SocketAddr};

use http::header::{HeaderName, HeaderValue, FORWARDED, HOST};
use http::HeaderMap;
use rgi_core::Scheme;

use super::Trusted;
use crate::environ::{parse_host, Connection};

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_FORWARDED_PORT: HeaderName = HeaderName::from_static("x-forwarded-port");
const X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");

/// Where a front mounted the application (its SCRIPT_NAME), as the front
/// says when it reaches a daemon over HTTP (UPG-6); common to Spring,
/// Traefik and others. Honoured only where a server is told to.
pub const X_FORWARDED_PREFIX: HeaderName = HeaderName::from_static("x-forwarded-prefix");

/// The fields that carry what a proxy says about the client.
pub const FIELDS: [HeaderName; 6] =
    [FORWARDED, X_FORWARDED_FOR, X_FORWARDED_PROTO, X_FORWARDED_HOST, X_FORWARDED_PORT, X_REAL_IP];

/// Applies the forwarding fields of a request on `conn` to it.
///
/// With no trusted proxy nothing changes. From a peer that is not trusted
/// the fields are removed (PRX-5). From a trusted peer (or over a Unix
/// socket, where only local processes can connect) the client address,
/// the scheme and the `Host` field come from them (PRX-6, PRX-7); the
/// fields stay, for an application that logs the whole chain.
pub fn apply(trusted: &Trusted, conn: &mut Connection, headers: &mut HeaderMap) {
    if trusted.is_empty() {
        return;
    }
    if conn.remote.is_some_and(|peer| !trusted.trusts_peer(peer.ip())) {
        if FIELDS.iter().any(|name| headers.contains_key(name)) {
            let peer = conn.remote.map(|p| p.ip().to_string()).unwrap_or_default();
            tracing::debug!(%peer, "forwarding fields from an untrusted peer removed");
            for name in &FIELDS {
                headers.remove(name);
            }
        }
        return;
    }
    let forwarded = Forwarded::parse(headers);
    let chain = if forwarded.is_some() {
        forwarded.iter().flat_map(|f| f.elements.iter().filter_map(|e| e.for_.clone())).collect()
    } else {
        values(headers, &X_FORWARDED_FOR).into_iter().map(|v| v.to_string()).collect::<Vec<_>>()
    };
    if let Some(client) = client(trusted, &chain) {
        conn.remote = Some(client);
    }
    let proto = match &forwarded {
        Some(f) => f.elements.iter().rev().find_map(|e| e.proto.clone()),
        None => values(headers, &X_FORWARDED_PROTO).last().map(|v| v.to_string()),
    };
    match proto.as_deref().map(str::to_ascii_lowercase).as_deref() {
        Some("https") => conn.scheme = Scheme::Https,
        Some("http") => conn.scheme = Scheme::Http,
        _ => {}
    }
    let host = match &forwarded {
        Some(f) => f.elements.iter().rev().find_map(|e| e.host.clone()),
        None => values(headers, &X_FORWARDED_HOST).last().map(|v| v.to_string()),
    };
    if let Some(host) = host {
        let port = values(headers, &X_FORWARDED_PORT).last().map(|v| v.to_string());
        if let Ok((_, explicit)) = parse_host(&host) {
            let host = match (explicit, port) {
                (None, Some(port)) if port.parse::<u16>().is_ok() => format!("{host}:{port}"),
                _ => host,
            };
            if let Ok(value) = HeaderValue::try_from(host) {
                headers.insert(HOST, value);
            }
        }
    }
}

/// The comma-separated values of every `name` field, in order.
fn values<'h>(headers: &'h HeaderMap, name: &HeaderName) -> Vec<&'h str> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .collect()
}

/// The client: walking the chain from the right, the first address that
/// is not a trusted proxy; the leftmost when all are. An entry that is
/// not an address (`unknown`, an obfuscated name, garbage) ends the walk
/// at the trusted hop to its right, which is then the client (PRX-6).
fn client(trusted: &Trusted, chain: &[String]) -> Option<SocketAddr> {
    let mut found = None;
    for entry in chain.iter().rev() {
        let Some(addr) = node(entry) else { break };
        found = Some(addr);
        if !trusted.contains(addr.ip()) {
            break;
        }
    }
    found
}

/// An address in `X-Forwarded-For` or `Forwarded`'s `for=`: `192.0.2.1`,
/// `192.0.2.1:4711`, `2001:db8::1`, `[2001:db8::1]:4711`. No port means 0.
fn node(text: &str) -> Option<SocketAddr> {
    let text = text.trim().trim_matches('"');
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Some(addr);
    }
    let ip = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')).unwrap_or(text);
    ip.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, 0))
}

/// The `Forwarded` field (RFC 7239), when the request has one.
#[derive(Debug, Default)]
struct Forwarded {
    elements: Vec<Element>,
}

#[derive(Debug, Default)]
struct Element {
    for_: Option<String>,
    proto: Option<String>,
    host: Option<String>,
}

impl Forwarded {
    fn parse(headers: &HeaderMap) -> Option<Self> {
        let mut elements = Vec::new();
        for value in headers.get_all(FORWARDED) {
            let text = value.to_str().ok()?;
            for element in text.split(',') {
                let mut e = Element::default();
                for pair in element.split(';') {
                    let Some((key, value)) = pair.split_once('=') else { continue };
                    let value = value.trim().trim_matches('"').to_string();
                    match key.trim().to_ascii_lowercase().as_str() {
                        "for" => e.for_ = Some(value),
                        "proto" => e.proto = Some(value),
                        "host" => e.host = Some(value),
                        _ => {}
                    }
                }
                elements.push(e);
            }
        }
        (!elements.is_empty()).then_some(Self { elements })
    }
}
