//! The proxies whose word a server takes about the client.

use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;

/// A list of trusted proxy addresses: networks in CIDR form
/// (`10.0.0.0/8`, `fd00::/8`) or single addresses (`192.0.2.1`).
///
/// ```
/// let trusted: rgi_gateway::proxy::Trusted = "10.0.0.0/8, 192.0.2.1".parse().unwrap();
/// assert!(trusted.contains("10.1.2.3".parse().unwrap()));
/// assert!(!trusted.contains("192.0.2.2".parse().unwrap()));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trusted {
    nets: Vec<IpNet>,
    /// The direct peer is trusted whatever its address.
    any_peer: bool,
}

/// An entry of a trusted-proxy list that is no address or network.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an address or a network (CIDR, e.g. 10.0.0.0/8)")]
pub struct BadTrustedProxy(pub String);

impl Trusted {
    /// The list of `entries`, each an address or a network.
    pub fn new<S: AsRef<str>>(entries: &[S]) -> Result<Self, BadTrustedProxy> {
        entries
            .iter()
            .map(|e| {
                let e = e.as_ref().trim();
                e.parse::<IpNet>()
                    .or_else(|_| e.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| BadTrustedProxy(e.to_string()))
            })
            .collect::<Result<_, _>>()
            .map(|nets| Self { nets, any_peer: false })
    }

    /// Trusts the direct peer, whatever its address, and no one it names:
    /// the client is the last address in its `X-Forwarded-For`. This is
    /// the daemon socket's HTTP side, whose peer is a front that could as
    /// well set `REMOTE_ADDR` over FastCGI (UPG-6).
    ///
    /// ```
    /// let trusted = rgi_gateway::proxy::Trusted::any_peer();
    /// assert!(trusted.trusts_peer("192.0.2.1".parse().unwrap()));
    /// assert!(!trusted.contains("192.0.2.1".parse().unwrap()));
    /// ```
    pub fn any_peer() -> Self {
        Self { nets: Vec::new(), any_peer: true }
    }

    /// Whether no proxy is trusted (the forwarding fields are then left
    /// alone).
    pub fn is_empty(&self) -> bool {
        self.nets.is_empty() && !self.any_peer
    }

    /// Whether a direct peer at `ip` is trusted: it is in the list, or
    /// every peer is ([`Trusted::any_peer`]).
    pub fn trusts_peer(&self, ip: IpAddr) -> bool {
        self.any_peer || self.contains(ip)
    }

    /// Whether `ip` is a trusted proxy. An IPv4 address mapped into IPv6
    /// (a dual-stack socket's `::ffff:10.0.0.1`) counts as its IPv4 self.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.nets.iter().any(|net| net.contains(&ip))
    }
}

impl FromStr for Trusted {
    type Err = BadTrustedProxy;

    /// A comma-separated list, as `RGI_TRUSTED_PROXIES` holds it.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let entries: Vec<&str> = text.split(',').map(str::trim).filter(|e| !e.is_empty()).collect();
        Self::new(&entries)
    }
}
