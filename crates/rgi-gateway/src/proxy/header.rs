//! HAProxy's PROXY protocol, versions 1 (text) and 2 (binary): the header
//! a balancer sends first on a connection to say whose it is (PRX-1).
//! Sans-IO: [`parse`] reads what has arrived and says how many more bytes
//! it needs, so a server reads exactly the header and not a byte of what
//! follows it (the request, or a TLS handshake).

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

/// The v2 signature.
const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// The longest v1 header, CRLF included (the specification's bound).
const V1_MAX: usize = 107;
/// The least any header takes: `PROXY UNKNOWN\r\n`. A server may read this
/// much before it knows the version without reading past a header.
pub const MIN_LEN: usize = 15;

/// What a PROXY header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyHeader {
    /// The client's address, when the header names one: not for v1
    /// `UNKNOWN`, v2 `LOCAL` (the balancer's own health check) or
    /// families other than TCP over IPv4 or IPv6.
    pub source: Option<SocketAddr>,
    /// The address the client connected to, likewise.
    pub destination: Option<SocketAddr>,
}

/// What [`parse`] made of the bytes so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed {
    /// A whole header of `len` bytes.
    Done {
        /// What it says.
        header: ProxyHeader,
        /// Its length: the connection's own bytes start after it.
        len: usize,
    },
    /// Not yet whole: at least this many bytes in all are needed.
    Need(usize),
}

/// Why bytes are not a PROXY header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyHeaderError {
    /// Neither signature: the peer did not send a PROXY header.
    #[error("no PROXY protocol header (the connection starts {0:?})")]
    Missing(String),
    /// A v1 header that breaks its grammar.
    #[error("malformed PROXY v1 header: {0}")]
    BadV1(&'static str),
    /// A v2 header that breaks its format.
    #[error("malformed PROXY v2 header: {0}")]
    BadV2(&'static str),
}

/// Parses the PROXY header at the start of `bytes`.
///
/// ```
/// use rgi_gateway::proxy::header::{parse, Parsed};
///
/// let bytes = b"PROXY TCP4 192.0.2.7 198.51.100.1 51234 443\r\nGET / HTTP/1.1\r\n";
/// let Ok(Parsed::Done { header, len }) = parse(bytes) else { panic!() };
/// assert_eq!(header.source, Some("192.0.2.7:51234".parse().unwrap()));
/// assert_eq!(&bytes[len..len + 3], b"GET");
/// ```
pub fn parse(bytes: &[u8]) -> Result<Parsed, ProxyHeaderError> {
    let v1 = b"PROXY ";
    if bytes.is_empty() {
        return Ok(Parsed::Need(MIN_LEN));
    }
    let signature_seen = |sig: &[u8]| bytes.len().min(sig.len()) == common_prefix(bytes, sig);
    if signature_seen(&V2_SIGNATURE) {
        return if bytes.len() < 16 { Ok(Parsed::Need(16)) } else { parse_v2(bytes) };
    }
    if signature_seen(v1) {
        return if bytes.len() < v1.len() { Ok(Parsed::Need(MIN_LEN)) } else { parse_v1(bytes) };
    }
    let start: String = bytes.iter().take(16).map(|&b| char::from(b)).collect();
    Err(ProxyHeaderError::Missing(start))
}

fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

fn parse_v1(bytes: &[u8]) -> Result<Parsed, ProxyHeaderError> {
    let window = &bytes[..bytes.len().min(V1_MAX)];
    let Some(end) = window.windows(2).position(|w| w == b"\r\n") else {
        if window.len() >= V1_MAX {
            return Err(ProxyHeaderError::BadV1("no CRLF within 107 bytes"));
        }
        if window.contains(&b'\n') {
            return Err(ProxyHeaderError::BadV1("a line feed without a carriage return"));
        }
        return Ok(Parsed::Need(bytes.len() + 1));
    };
    let line = std::str::from_utf8(&bytes[..end]).map_err(|_| ProxyHeaderError::BadV1("not ASCII"))?;
    let fields: Vec<&str> = line.split(' ').collect();
    let header = match fields.as_slice() {
        ["PROXY", "UNKNOWN", ..] => ProxyHeader { source: None, destination: None },
        ["PROXY", family @ ("TCP4" | "TCP6"), src, dst, sport, dport] => {
            let ip = |text: &str| -> Result<std::net::IpAddr, ProxyHeaderError> {
                let bad = ProxyHeaderError::BadV1("an address that does not match its family");
                if *family == "TCP4" {
                    text.parse::<Ipv4Addr>().map(Into::into).map_err(|_| bad)
                } else {
                    text.parse::<Ipv6Addr>().map(Into::into).map_err(|_| bad)
                }
            };
            let port = |text: &str| -> Result<u16, ProxyHeaderError> {
                // Decimal without leading zeros (the specification's form).
                let ok = !text.is_empty()
                    && text.bytes().all(|b| b.is_ascii_digit())
                    && !(text.len() > 1 && text.starts_with('0'));
                ok.then(|| text.parse().ok()).flatten().ok_or(ProxyHeaderError::BadV1("a port that is not 0 to 65535"))
            };
            ProxyHeader {
                source: Some(SocketAddr::new(ip(src)?, port(sport)?)),
                destination: Some(SocketAddr::new(ip(dst)?, port(dport)?)),
            }
        }
        ["PROXY", "TCP4" | "TCP6", ..] => return Err(ProxyHeaderError::BadV1("not four addresses and ports")),
        _ => return Err(ProxyHeaderError::BadV1("an unknown protocol family")),
    };
    Ok(Parsed::Done { header, len: end + 2 })
}

fn parse_v2(bytes: &[u8]) -> Result<Parsed, ProxyHeaderError> {
    let version_command = bytes[12];
    if version_command >> 4 != 2 {
        return Err(ProxyHeaderError::BadV2("a version other than 2"));
    }
    let local = match version_command & 0x0F {
        0 => true,
        1 => false,
        _ => return Err(ProxyHeaderError::BadV2("a command other than LOCAL or PROXY")),
    };
    let family = bytes[13];
    let len = 16 + usize::from(u16::from_be_bytes([bytes[14], bytes[15]]));
    if bytes.len() < len {
        return Ok(Parsed::Need(len));
    }
    let body = &bytes[16..len];
    let none = ProxyHeader { source: None, destination: None };
    let header = match (local, family) {
        // LOCAL: the balancer's own connection (a health check); any
        // address block is ignored.
        (true, _) => none,
        // TCP over IPv4, TCP over IPv6.
        (false, 0x11) => {
            let a: &[u8; 12] = body
                .get(..12)
                .and_then(|b| b.try_into().ok())
                .ok_or(ProxyHeaderError::BadV2("a short IPv4 address block"))?;
            let ip = |o: usize| Ipv4Addr::new(a[o], a[o + 1], a[o + 2], a[o + 3]);
            let port = |o: usize| u16::from_be_bytes([a[o], a[o + 1]]);
            ProxyHeader {
                source: Some(SocketAddr::new(ip(0).into(), port(8))),
                destination: Some(SocketAddr::new(ip(4).into(), port(10))),
            }
        }
        (false, 0x21) => {
            let a: &[u8; 36] = body
                .get(..36)
                .and_then(|b| b.try_into().ok())
                .ok_or(ProxyHeaderError::BadV2("a short IPv6 address block"))?;
            let ip = |o: usize| {
                let octets: [u8; 16] = a[o..o + 16].try_into().unwrap_or([0; 16]);
                Ipv6Addr::from(octets)
            };
            let port = |o: usize| u16::from_be_bytes([a[o], a[o + 1]]);
            ProxyHeader {
                source: Some(SocketAddr::new(ip(0).into(), port(32))),
                destination: Some(SocketAddr::new(ip(16).into(), port(34))),
            }
        }
        // UNSPEC, UDP, Unix sockets: no address a server can use.
        (false, 0x00 | 0x12 | 0x22 | 0x31 | 0x32) => none,
        (false, _) => return Err(ProxyHeaderError::BadV2("an unknown address family")),
    };
    Ok(Parsed::Done { header, len })
}
