//! Reading the PROXY protocol header a balancer sends before a
//! connection's own bytes (PRX-1): exactly the header, not a byte more, so
//! what follows (the request, or a TLS handshake) is the server's as if
//! the header had never been there.

use rgi_gateway::proxy::header::{parse, Parsed, ProxyHeader, MIN_LEN};
use tokio::io::{AsyncRead, AsyncReadExt};

/// Reads the header from `stream`: what it says, or why it is not one.
pub(crate) async fn read<S: AsyncRead + Unpin>(stream: &mut S) -> Result<ProxyHeader, String> {
    let mut bytes = vec![0u8; MIN_LEN];
    let mut have = 0;
    loop {
        while have < bytes.len() {
            match stream.read(&mut bytes[have..]).await {
                Ok(0) => return Err(format!("the peer closed the connection after {have} bytes of it")),
                Ok(n) => have += n,
                Err(err) => return Err(err.to_string()),
            }
        }
        match parse(&bytes).map_err(|e| e.to_string())? {
            Parsed::Done { header, .. } => return Ok(header),
            Parsed::Need(n) => bytes.resize(n, 0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reads_exactly_the_header() {
        let (mut client, mut server) = tokio::io::duplex(64);
        let sent = b"PROXY TCP4 192.0.2.7 198.51.100.1 51234 443\r\nGET / HTTP/1.1\r\n";
        tokio::io::AsyncWriteExt::write_all(&mut client, sent).await.unwrap();
        let header = read(&mut server).await.unwrap();
        assert_eq!(header.source, Some("192.0.2.7:51234".parse().unwrap()));
        let mut rest = [0u8; 3];
        server.read_exact(&mut rest).await.unwrap();
        assert_eq!(&rest, b"GET");
    }

    #[tokio::test]
    async fn a_connection_without_a_header_is_refused_by_name() {
        let (mut client, mut server) = tokio::io::duplex(64);
        tokio::io::AsyncWriteExt::write_all(&mut client, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        assert!(read(&mut server).await.unwrap_err().contains("no PROXY protocol header"));
        drop(client);
        let (client, mut server) = tokio::io::duplex(64);
        drop(client);
        assert!(read(&mut server).await.unwrap_err().contains("closed"));
    }
}
