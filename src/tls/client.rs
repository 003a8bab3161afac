//! What a client trusts: the system's root certificates, or the ones in a
//! CA file (a private CA, or a server's self-signed certificate).
//!
//! The system's roots come from `rustls-native-certs`: on Linux the
//! distribution's bundle (`/etc/ssl/certs`, or `SSL_CERT_FILE` /
//! `SSL_CERT_DIR`), so that they follow the system's updates and the CAs
//! an administrator added, and no bundle is compiled into the binary. They
//! are read once per process. A CA file replaces them, as `curl --cacert`
//! does: a client told whom to trust trusts no one else.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::{ClientConfig, RootCertStore};

/// The config for connections that trust `ca_file`, or the system's roots.
pub(crate) fn client_config(ca_file: Option<&Path>) -> Result<Arc<ClientConfig>, String> {
    static SYSTEM: OnceLock<Result<Arc<ClientConfig>, String>> = OnceLock::new();
    match ca_file {
        Some(path) => build(roots_in(path)?),
        None => SYSTEM
            .get_or_init(|| system_roots().and_then(build))
            .clone(),
    }
}

fn build(roots: RootCertStore) -> Result<Arc<ClientConfig>, String> {
    let config = ClientConfig::builder_with_provider(super::provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| format!("TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

fn system_roots() -> Result<RootCertStore, String> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    let (added, _unusable) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        let why = found
            .errors
            .first()
            .map(|e| format!(" ({e})"))
            .unwrap_or_default();
        return Err(format!(
            "no system root certificates found{why}: install the ca-certificates package, \
             or name the server's CA with --ca-file"
        ));
    }
    Ok(roots)
}

fn roots_in(path: &Path) -> Result<RootCertStore, String> {
    let shown = path.display();
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("CA file {shown}: {}", super::pem_error(&e)))?;
    if certs.is_empty() {
        return Err(format!(
            "CA file {shown}: no certificate in it (expected PEM, -----BEGIN CERTIFICATE-----)"
        ));
    }
    let mut roots = RootCertStore::empty();
    for (i, cert) in certs.into_iter().enumerate() {
        roots
            .add(cert)
            .map_err(|e| format!("CA file {shown}: certificate {}: {e}", i + 1))?;
    }
    Ok(roots)
}
