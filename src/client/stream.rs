//! The client's socket: plain TCP, or TLS over it for `wss://`.
//!
//! The client blocks, each wait bounded by the socket's read and write
//! timeouts, so rustls's `StreamOwned` fits: it is made for blocking
//! sockets (unlike the server's and the load generator's loops, which
//! drive TLS themselves). A read that times out leaves a half-read record
//! in rustls, as it leaves a half-read frame in tungstenite, and the next
//! read carries on.

use std::io::{self, Read, Write};
use std::net::TcpStream;

/// A connected socket, plain or TLS.
pub(crate) enum ClientStream {
    /// `ws://`.
    Plain(TcpStream),
    /// `wss://`, the handshake done.
    #[cfg(feature = "tls")]
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl ClientStream {
    /// The TCP socket, for its timeouts and its shutdown.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            ClientStream::Plain(s) => s,
            #[cfg(feature = "tls")]
            ClientStream::Tls(s) => s.get_ref(),
        }
    }
}

impl Read for ClientStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            ClientStream::Plain(s) => s.read(buf),
            #[cfg(feature = "tls")]
            ClientStream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for ClientStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            ClientStream::Plain(s) => s.write(buf),
            #[cfg(feature = "tls")]
            ClientStream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            ClientStream::Plain(s) => s.flush(),
            #[cfg(feature = "tls")]
            ClientStream::Tls(s) => s.flush(),
        }
    }
}

/// The TLS handshake over `tcp` with `host`, trusting `ca_file` or the
/// system's roots; the error says what went wrong in words.
#[cfg(feature = "tls")]
pub(crate) fn secure(
    mut tcp: TcpStream,
    host: &str,
    ca_file: Option<&std::path::Path>,
) -> Result<ClientStream, String> {
    use rustls::pki_types::ServerName;
    let config = crate::tls::client_config(ca_file)?;
    let name = ServerName::try_from(host.to_string())
        .map_err(|_| format!("'{host}' is not a name TLS can check a certificate against"))?;
    let mut conn = rustls::ClientConnection::new(config, name).map_err(|e| e.to_string())?;
    while conn.is_handshaking() {
        if let Err(e) = conn.complete_io(&mut tcp) {
            return Err(handshake_error(&e));
        }
    }
    Ok(ClientStream::Tls(Box::new(rustls::StreamOwned::new(
        conn, tcp,
    ))))
}

#[cfg(feature = "tls")]
fn handshake_error(e: &io::Error) -> String {
    if super::connect::is_timeout(e) {
        return "the TLS handshake timed out".into();
    }
    let tls = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    match tls {
        Some(rustls::Error::InvalidCertificate(why)) => {
            use rustls::CertificateError as E;
            let hint = match why {
                E::UnknownIssuer => {
                    "; for a private CA or a self-signed certificate, name its PEM file as the \
                     CA file (--ca-file)"
                }
                E::NotValidForName | E::NotValidForNameContext { .. } => {
                    "; connect with a name the certificate lists"
                }
                // webpki refuses a certificate that says it is a CA as the
                // server's own, and `openssl req -x509` says so by default.
                other if format!("{other:?}").contains("CaUsedAsEndEntity") => {
                    "; it is marked as a CA (basicConstraints CA:TRUE, which `openssl req -x509` \
                     sets by default): the server needs one with CA:FALSE, self-signed or \
                     signed by a CA"
                }
                _ => "",
            };
            format!("the server's certificate is not trusted: {why}{hint}")
        }
        Some(other) => format!("TLS handshake failed: {other}"),
        None if e.kind() == io::ErrorKind::UnexpectedEof => {
            "the server closed the connection during the TLS handshake (is it serving TLS?)".into()
        }
        None => format!("TLS handshake failed: {e}"),
    }
}
