//! The client behind a proxy: the PROXY protocol header a balancer sends
//! before the connection's own bytes ([`header`]), the proxies a server
//! trusts ([`Trusted`]), and the forwarding header fields it honours from
//! them ([`forwarded`]): PRX-1 to PRX-7.

pub mod forwarded;
pub mod header;
mod trusted;

pub use trusted::{BadTrustedProxy, Trusted};

#[cfg(test)]
mod tests;
