//! TLS for the tests: certificates made on the spot with rcgen, written to
//! a directory of their own, and bare TLS clients over rustls (a WebSocket
//! for frame-level tests and the canary, an HTTPS request for the page).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, PublicKeyData,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use tungstenite::WebSocket;

use super::PATIENCE;

/// A bare TLS stream to the server, handshake done.
pub type TlsTcp = StreamOwned<ClientConnection, TcpStream>;

/// Certificates in files: a CA (`ca`) and the server's certificate it
/// signed (`cert`, `key`), valid for `localhost` and 127.0.0.1.
pub struct Pki {
    pub dir: PathBuf,
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    /// The server certificate, DER.
    pub cert_der: Vec<u8>,
    /// The server key's SubjectPublicKeyInfo, DER (what Chromium pins).
    pub spki_der: Vec<u8>,
}

fn dir_for(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kvws-tls-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn server_params(names: &[&str]) -> CertificateParams {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let mut params = CertificateParams::new(names).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    params
}

impl Pki {
    /// A fresh CA and a server certificate it signs, in `$TMP/kvws-tls-PID-NAME/`.
    pub fn new(name: &str) -> Pki {
        Pki::for_names(name, &["localhost", "127.0.0.1"])
    }

    /// As [`Pki::new`], the server certificate valid for `names` only.
    pub fn for_names(name: &str, names: &[&str]) -> Pki {
        let dir = dir_for(name);
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, format!("kvws test CA {name}"));
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = server_params(names).signed_by(&key, &ca).unwrap();
        let pki = Pki {
            ca: dir.join("ca.pem"),
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
            cert_der: cert.der().to_vec(),
            spki_der: key.subject_public_key_info(),
            dir,
        };
        std::fs::write(&pki.ca, ca.pem()).unwrap();
        std::fs::write(&pki.cert, cert.pem()).unwrap();
        std::fs::write(&pki.key, key.serialize_pem()).unwrap();
        pki
    }

    /// A self-signed server certificate: `ca` is the certificate itself.
    pub fn self_signed(name: &str) -> Pki {
        let dir = dir_for(name);
        let key = KeyPair::generate().unwrap();
        let cert = server_params(&["localhost", "127.0.0.1"])
            .self_signed(&key)
            .unwrap();
        let pki = Pki {
            ca: dir.join("cert.pem"),
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
            cert_der: cert.der().to_vec(),
            spki_der: key.subject_public_key_info(),
            dir,
        };
        std::fs::write(&pki.cert, cert.pem()).unwrap();
        std::fs::write(&pki.key, key.serialize_pem()).unwrap();
        pki
    }

    /// `--tls-cert CERT --tls-key KEY`, for the binary.
    pub fn flags(&self) -> [&str; 4] {
        [
            "--tls-cert",
            self.cert.to_str().unwrap(),
            "--tls-key",
            self.key.to_str().unwrap(),
        ]
    }

    /// The server configuration with this certificate.
    pub fn config(&self) -> kvws::Config {
        kvws::Config::default().tls(&self.cert, &self.key)
    }
}

/// A rustls client config trusting only the certificates in `ca`.
pub fn trusting(ca: &Path) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// A TLS connection to `addr` as `localhost`, trusting `ca`; the
/// handshake's error if it fails.
pub fn try_connect(addr: SocketAddr, ca: &Path) -> Result<TlsTcp, std::io::Error> {
    let mut tcp = TcpStream::connect(addr)?;
    tcp.set_read_timeout(Some(PATIENCE))?;
    tcp.set_write_timeout(Some(PATIENCE))?;
    let name = ServerName::try_from("localhost").unwrap();
    let mut conn = ClientConnection::new(trusting(ca), name).unwrap();
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp)?;
    }
    Ok(StreamOwned::new(conn, tcp))
}

/// A TLS connection to `addr`, handshake done; panics if it fails.
pub fn connect(addr: SocketAddr, ca: &Path) -> TlsTcp {
    try_connect(addr, ca).expect("TLS handshake")
}

/// The certificate the server presents to a new connection, DER.
pub fn served_certificate(addr: SocketAddr, ca: &Path) -> Vec<u8> {
    let stream = connect(addr, ca);
    stream.conn.peer_certificates().expect("a certificate")[0].to_vec()
}

/// A bare tungstenite WebSocket over TLS.
pub fn wss(addr: SocketAddr, ca: &Path) -> WebSocket<TlsTcp> {
    let stream = connect(addr, ca);
    let (ws, _) = tungstenite::client(format!("wss://localhost:{}/", addr.port()), stream)
        .expect("WebSocket handshake over TLS");
    ws
}

/// Sends an HTTP/1.1 request over TLS; returns the whole response (the
/// server closes after it).
pub fn https(addr: SocketAddr, ca: &Path, request: &str) -> String {
    let mut stream = connect(addr, ca);
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = Vec::new();
    match stream.read_to_end(&mut response) {
        Ok(_) => {}
        // A server that ends the TCP connection without close_notify: the
        // response is whole if it came with its Content-Length.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {}
        Err(e) => panic!("reading the response: {e}"),
    }
    String::from_utf8(response).expect("UTF-8 response")
}

/// The project's client library over `wss://`, trusting `ca`.
pub fn client(addr: SocketAddr, ca: &Path) -> super::Client {
    let options = kvws::client::ConnectOptions::timeout(PATIENCE).with_ca_file(ca);
    let inner =
        kvws::client::Client::connect_with(&format!("wss://localhost:{}/", addr.port()), &options)
            .expect("connect over TLS");
    super::Client { inner }
}
