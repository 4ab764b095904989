//! A small HTTP/1 client over raw sockets: it sends exactly the bytes a
//! test says and reads responses the way the bytes came. The suite's
//! runner uses it, and so can a server's own tests.
//!
//! ```no_run
//! # async fn f(mut stream: tokio::net::TcpStream) -> Result<(), String> {
//! use tokio::io::AsyncWriteExt;
//!
//! stream.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").await.map_err(|e| e.to_string())?;
//! let response = rgi_conformance::client::read_response(&mut stream, false).await?;
//! assert_eq!(response.status, 200);
//! # Ok(()) }
//! ```

use std::time::Duration;

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls::ClientConfig;

/// A response as read off the wire.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct WireResponse {
    /// The status code.
    pub status: u16,
    /// The header fields, in order, names as sent.
    pub headers: Vec<(String, String)>,
    /// The body, with chunked framing removed.
    pub body: Vec<u8>,
    /// A `100 Continue` came before it.
    pub had_continue: bool,
}

impl WireResponse {
    /// The first field named `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The body as text (lossy).
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Reads one response from `stream`, skipping interim ones; `head_request`
/// means it has no body whatever its fields say. Bytes after it that came
/// in the same read are not kept: use one call per connection, or [`Conn`].
pub async fn read_response<S: AsyncRead + Unpin>(stream: S, head_request: bool) -> Result<WireResponse, String> {
    Conn { stream, buf: Vec::new(), timeout: Duration::from_secs(30), local_port: 0 }.response(head_request).await
}

/// Whether the peer closed `stream` (EOF, or reset) within `wait`; bytes
/// that come meanwhile are skipped.
pub async fn closed_within<S: AsyncRead + Unpin>(mut stream: S, wait: Duration) -> bool {
    let mut byte = [0u8; 1];
    loop {
        match tokio::time::timeout(wait, stream.read(&mut byte)).await {
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

/// A byte stream to a server: TCP, or TLS over it.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug> Io for T {}

/// A connection that keeps what it read past a response for the next.
#[derive(Debug)]
pub struct Conn<S = Box<dyn Io>> {
    stream: S,
    buf: Vec<u8>,
    timeout: Duration,
    local_port: u16,
}

impl Conn {
    /// Connects to `addr` (`host:port`), over TLS when `tls` is given
    /// (HTTP/1.1 by ALPN); each read waits at most `timeout`.
    pub async fn connect(addr: &str, timeout: Duration, tls: Option<&Arc<ClientConfig>>) -> Result<Self, String> {
        Self::connect_after(addr, timeout, tls, b"").await
    }

    /// As [`connect`](Self::connect), sending `preface` on the connection
    /// first, before any TLS handshake: a PROXY protocol header, as a
    /// balancer that passes TLS through sends it.
    pub async fn connect_after(
        addr: &str,
        timeout: Duration,
        tls: Option<&Arc<ClientConfig>>,
        preface: &[u8],
    ) -> Result<Self, String> {
        let mut stream = connect_tcp(addr, timeout).await?;
        if !preface.is_empty() {
            stream.write_all(preface).await.map_err(|e| format!("sending the preface: {e}"))?;
        }
        let local_port = stream.local_addr().map(|a| a.port()).unwrap_or(0);
        let stream: Box<dyn Io> = match tls {
            None => Box::new(stream),
            Some(config) => Box::new(handshake(stream, addr, config, b"http/1.1", timeout).await?),
        };
        Ok(Self { stream, buf: Vec::new(), timeout, local_port })
    }

    /// The client's port, as the server sees it.
    pub fn local_port(&self) -> u16 {
        self.local_port
    }

    /// Sends `bytes` as they are.
    pub async fn send(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.stream.write_all(bytes).await.map_err(|e| format!("sending the request: {e}"))
    }
}

/// A TLS client configuration that trusts exactly the certificates in the
/// PEM file `pinned`: a test server's own, self-signed certificate, which
/// no certificate authority vouches for (WebPKI path building refuses a
/// self-signed certificate that is also marked as a CA, as test
/// certificates made with `openssl req -x509` are). The handshake's
/// signatures are still verified.
pub fn tls_client(pinned: &std::path::Path) -> Result<Arc<ClientConfig>, String> {
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::CertificateDer;

    let certs = CertificateDer::pem_file_iter(pinned)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{}: {e}", pinned.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate", pinned.display()));
    }
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let verifier = Arc::new(Pinned { certs, provider: Arc::clone(&provider) });
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Accepts the server certificates it was given, and nothing else.
#[derive(Debug)]
struct Pinned {
    certs: Vec<tokio_rustls::rustls::pki_types::CertificateDer<'static>>,
    provider: Arc<tokio_rustls::rustls::crypto::CryptoProvider>,
}

impl tokio_rustls::rustls::client::danger::ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &tokio_rustls::rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[tokio_rustls::rustls::pki_types::CertificateDer<'_>],
        _server_name: &tokio_rustls::rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: tokio_rustls::rustls::pki_types::UnixTime,
    ) -> Result<tokio_rustls::rustls::client::danger::ServerCertVerified, tokio_rustls::rustls::Error> {
        if self.certs.iter().any(|c| c.as_ref() == end_entity.as_ref()) {
            Ok(tokio_rustls::rustls::client::danger::ServerCertVerified::assertion())
        } else {
            Err(tokio_rustls::rustls::Error::InvalidCertificate(tokio_rustls::rustls::CertificateError::UnknownIssuer))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &tokio_rustls::rustls::pki_types::CertificateDer<'_>,
        dss: &tokio_rustls::rustls::DigitallySignedStruct,
    ) -> Result<tokio_rustls::rustls::client::danger::HandshakeSignatureValid, tokio_rustls::rustls::Error> {
        tokio_rustls::rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &tokio_rustls::rustls::pki_types::CertificateDer<'_>,
        dss: &tokio_rustls::rustls::DigitallySignedStruct,
    ) -> Result<tokio_rustls::rustls::client::danger::HandshakeSignatureValid, tokio_rustls::rustls::Error> {
        tokio_rustls::rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<tokio_rustls::rustls::SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// A TCP connection to `addr`, within `timeout`.
pub(crate) async fn connect_tcp(addr: &str, timeout: Duration) -> Result<TcpStream, String> {
    let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| format!("connecting to {addr} timed out"))?
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// TLS over `stream`, offering `alpn`; the server's name is `addr`'s host.
pub(crate) async fn handshake(
    stream: TcpStream,
    addr: &str,
    config: &Arc<ClientConfig>,
    alpn: &[u8],
    timeout: Duration,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, String> {
    let mut config = (**config).clone();
    config.alpn_protocols = vec![alpn.to_vec()];
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h).trim_start_matches('[').trim_end_matches(']');
    let name = tokio_rustls::rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|e| format!("{host:?} is not a TLS server name: {e}"))?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    tokio::time::timeout(timeout, connector.connect(name, stream))
        .await
        .map_err(|_| format!("TLS handshake with {addr} timed out"))?
        .map_err(|e| format!("TLS handshake with {addr} failed: {e}"))
}

impl<S: AsyncRead + Unpin> Conn<S> {
    async fn fill(&mut self) -> Result<(), String> {
        // Into the buffer itself: a chunk array in this future would be
        // copied into every future that awaits it.
        self.buf.reserve(65536);
        let n = tokio::time::timeout(self.timeout, self.stream.read_buf(&mut self.buf))
            .await
            .map_err(|_| "no answer in time".to_string())?
            .map_err(|e| format!("reading: {e}"))?;
        if n == 0 {
            return Err("connection closed".into());
        }
        Ok(())
    }

    async fn until(&mut self, delim: &[u8]) -> Result<Vec<u8>, String> {
        loop {
            if let Some(i) = self.buf.windows(delim.len()).position(|w| w == delim) {
                let out = self.buf[..i].to_vec();
                self.buf.drain(..i + delim.len());
                return Ok(out);
            }
            if self.buf.len() > 1 << 20 {
                return Err("response head larger than 1 MiB".into());
            }
            self.fill().await?;
        }
    }

    async fn exactly(&mut self, n: usize) -> Result<Vec<u8>, String> {
        while self.buf.len() < n {
            self.fill().await.map_err(|e| format!("body cut short ({e})"))?;
        }
        Ok(self.buf.drain(..n).collect())
    }

    /// Reads the next response head: status and fields.
    async fn head(&mut self) -> Result<(u16, Vec<(String, String)>), String> {
        let raw = self.until(b"\r\n\r\n").await?;
        let text = String::from_utf8_lossy(&raw);
        let mut lines = text.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("not an HTTP status line: {status_line:?}"))?;
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
            .collect();
        Ok((status, headers))
    }

    /// Waits for `100 Continue` (after an `Expect: 100-continue` head).
    pub async fn expect_continue(&mut self) -> Result<(), String> {
        let (status, _) = self.head().await?;
        if status == 100 {
            Ok(())
        } else {
            Err(format!("expected 100 Continue, got {status}"))
        }
    }

    /// Reads one response, skipping interim ones; `head_request` means the
    /// response has no body whatever its fields say.
    pub async fn response(&mut self, head_request: bool) -> Result<WireResponse, String> {
        let mut had_continue = false;
        loop {
            let (status, headers) = self.head().await?;
            if (100..200).contains(&status) {
                had_continue |= status == 100;
                continue;
            }
            let find = |name: &str| headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone());
            let body = if head_request || status == 204 || status == 304 {
                Vec::new()
            } else if find("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked")) {
                self.chunked().await?
            } else if let Some(len) = find("content-length") {
                self.exactly(len.parse().map_err(|_| format!("bad Content-Length {len:?}"))?).await?
            } else {
                self.rest().await
            };
            return Ok(WireResponse { status, headers, body, had_continue });
        }
    }

    async fn chunked(&mut self) -> Result<Vec<u8>, String> {
        let mut body = Vec::new();
        loop {
            let line = self.until(b"\r\n").await?;
            let text = String::from_utf8_lossy(&line);
            let size = usize::from_str_radix(text.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| format!("bad chunk size line {text:?}"))?;
            if size == 0 {
                while !self.until(b"\r\n").await?.is_empty() {}
                return Ok(body);
            }
            body.extend(self.exactly(size).await?);
            self.until(b"\r\n").await?;
        }
    }

    async fn rest(&mut self) -> Vec<u8> {
        while self.fill().await.is_ok() {}
        std::mem::take(&mut self.buf)
    }

    /// Whether the server closed the connection within `wait` (no more
    /// bytes, EOF or reset).
    pub async fn closed_within(&mut self, wait: Duration) -> bool {
        if !self.buf.is_empty() {
            return false;
        }
        let mut byte = [0u8; 1];
        matches!(tokio::time::timeout(wait, self.stream.read(&mut byte)).await, Ok(Ok(0) | Err(_)))
    }
}
