//! The server's certificate chain and key, read from PEM files into a
//! rustls server config.

use std::fmt::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};

/// A loaded certificate: the config new connections are made with, and
/// what the log says about it.
pub(crate) struct Certificate {
    /// The config for new connections.
    pub config: Arc<ServerConfig>,
    /// Certificates in the chain (the leaf and its intermediates).
    pub chain_len: usize,
    /// The leaf's SHA-256 fingerprint as `openssl x509 -fingerprint
    /// -sha256` prints it, so that an operator can tell which certificate
    /// is being served.
    pub fingerprint: String,
}

/// Reads the chain in `cert` (leaf first) and the private key in `key`
/// (PKCS#8, PKCS#1 or SEC1), and checks that they belong together. The
/// error says which file is wrong and how.
pub(crate) fn server_config(cert: &Path, key: &Path) -> Result<Certificate, String> {
    let chain = read_chain(cert)?;
    let key_der = read_key(key)?;
    let fingerprint = fingerprint(&chain[0]);
    let chain_len = chain.len();
    let mut config = ServerConfig::builder_with_provider(super::provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| format!("TLS: {e}"))?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => format!(
                "TLS key {} does not belong to the certificate in {}",
                key.display(),
                cert.display()
            ),
            e => format!(
                "TLS certificate {} with key {}: {e}",
                cert.display(),
                key.display()
            ),
        })?;
    // WebSocket and the page are HTTP/1.1; a client that offers only
    // something else (h2) is refused in the handshake, not misunderstood.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Certificate {
        config: Arc::new(config),
        chain_len,
        fingerprint,
    })
}

fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let shown = path.display();
    let chain = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("TLS certificate {shown}: {}", super::pem_error(&e)))?;
    if chain.is_empty() {
        return Err(format!(
            "TLS certificate {shown}: no certificate in it (expected PEM, \
             -----BEGIN CERTIFICATE-----, the server's first)"
        ));
    }
    Ok(chain)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let shown = path.display();
    let key = PrivateKeyDer::from_pem_file(path).map_err(|e| match e {
        pem::Error::NoItemsFound => format!(
            "TLS key {shown}: no private key in it (expected PEM: -----BEGIN PRIVATE KEY-----, \
             RSA PRIVATE KEY or EC PRIVATE KEY)"
        ),
        e => format!("TLS key {shown}: {}", super::pem_error(&e)),
    })?;
    // Not refused: a group-readable key (the ssl-cert group's convention)
    // is common and deliberate. Readable by anyone is never meant.
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o004 != 0
    {
        log::warn!("TLS key {shown} can be read by any user; run: chmod o-r {shown}");
    }
    Ok(key)
}

fn fingerprint(cert: &CertificateDer<'_>) -> String {
    let digest = Sha256::digest(cert.as_ref());
    let mut out = String::with_capacity(digest.len() * 3);
    for (i, byte) in digest.iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        let _ = write!(out, "{byte:02X}");
    }
    out
}
