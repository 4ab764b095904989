//! TLS for listeners (rustls): a certificate and key from PEM files,
//! ALPN `h2` and `http/1.1`, and reloading the certificate without
//! touching open connections.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;

use crate::error::Error;

/// A certificate and its key, served on every listener it is given to
/// ([`Listener::with_tls`](crate::Listener::with_tls)).
///
/// ```no_run
/// let tls = rgi_embedded::TlsConfig::load("cert.pem".as_ref(), "key.pem".as_ref())?;
/// // On SIGHUP: new connections get the new certificate, open ones go on.
/// tls.reload()?;
/// # Ok::<(), rgi_embedded::Error>(())
/// ```
#[derive(Debug)]
pub struct TlsConfig {
    cert: PathBuf,
    key: PathBuf,
    current: Arc<Current>,
    server: Arc<rustls::ServerConfig>,
}

/// The certificate new handshakes get.
#[derive(Debug)]
struct Current(RwLock<Arc<CertifiedKey>>);

impl ResolvesServerCert for Current {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.0.read().unwrap_or_else(std::sync::PoisonError::into_inner)))
    }
}

impl TlsConfig {
    /// Reads `cert` (PEM, the chain, leaf first) and `key` (PEM, PKCS#8,
    /// PKCS#1 or SEC1); an error names the file and what is wrong with it,
    /// including a key that does not belong to the certificate.
    pub fn load(cert: &Path, key: &Path) -> Result<Self, Error> {
        let certified = read_pair(cert, key)?;
        let current = Arc::new(Current(RwLock::new(Arc::new(certified))));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut server = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| tls_error(cert, format!("no TLS version to offer: {e}")))?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(&current) as Arc<dyn ResolvesServerCert>);
        server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Self { cert: cert.to_path_buf(), key: key.to_path_buf(), current, server: Arc::new(server) })
    }

    /// Reads the files again; new connections get what they now hold. On
    /// an error the certificate in use stays.
    pub fn reload(&self) -> Result<(), Error> {
        let certified = read_pair(&self.cert, &self.key)?;
        *self.current.0.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(certified);
        Ok(())
    }

    /// The certificate file.
    pub fn cert_path(&self) -> &Path {
        &self.cert
    }

    pub(crate) fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(Arc::clone(&self.server))
    }
}

fn tls_error(path: &Path, reason: String) -> Error {
    Error::Tls { path: path.to_path_buf(), reason }
}

fn read_pair(cert: &Path, key: &Path) -> Result<CertifiedKey, Error> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| tls_error(cert, format!("cannot read it: {e}")))?
        .collect::<Result<_, _>>()
        .map_err(|e| tls_error(cert, format!("not a PEM certificate: {e}")))?;
    if certs.is_empty() {
        return Err(tls_error(cert, "holds no certificate (expected PEM `BEGIN CERTIFICATE`)".into()));
    }
    let private =
        PrivateKeyDer::from_pem_file(key).map_err(|e| tls_error(key, format!("no usable private key: {e}")))?;
    let provider = rustls::crypto::ring::default_provider();
    let signing = provider
        .key_provider
        .load_private_key(private)
        .map_err(|e| tls_error(key, format!("unsupported private key: {e}")))?;
    let certified = CertifiedKey::new(certs, signing);
    certified
        .keys_match()
        .map_err(|e| tls_error(key, format!("does not belong to the certificate in {} ({e})", cert.display())))?;
    Ok(certified)
}
