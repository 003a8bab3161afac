//! TLS over loopback sockets: the ciphertext a turn may read, and plain
//! HTTP told apart from TLS.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use rcgen::{CertifiedKey, generate_simple_self_signed};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection};

use super::stream::*;
use mio::net::TcpStream;
use rustls::ServerConfig;
use std::io;
use std::sync::Arc;

/// A server stream over loopback, and the client's end of the socket.
fn pair() -> (TlsStream, std::net::TcpStream, Arc<ClientConfig>) {
    let CertifiedKey { cert, signing_key } =
        generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(signing_key.serialize_der()));
    let server = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], key)
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from(cert.der().to_vec()))
        .unwrap();
    let client = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let near = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (far, _) = listener.accept().unwrap();
    far.set_nonblocking(true).unwrap();
    let stream = TlsStream::server(TcpStream::from_std(far), Arc::new(server)).unwrap();
    (stream, near, Arc::new(client))
}

/// Reads what the server side has until `want` bytes came, renewing
/// the allowance each time it stops early; returns the bytes and the
/// number of turns.
fn read_all(s: &mut TlsStream, want: usize, allowance: usize) -> (Vec<u8>, usize) {
    let (mut got, mut turns) = (Vec::new(), 0);
    let mut buf = vec![0u8; 64 << 10];
    let deadline = Instant::now() + Duration::from_secs(10);
    s.new_turn(allowance);
    while got.len() < want {
        assert!(Instant::now() < deadline, "read {} of {want}", got.len());
        match s.read(&mut buf) {
            Ok(0) => panic!("early end"),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if s.stopped_early() {
                    turns += 1;
                    s.new_turn(allowance);
                } else {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            Err(e) => panic!("{e}"),
        }
    }
    (got, turns)
}

#[test]
fn ciphertext_is_read_within_the_turns_allowance() {
    let (mut server, near, client) = pair();
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let sent = data.clone();
    let writer = std::thread::spawn(move || {
        let name = ServerName::try_from("localhost").unwrap();
        let conn = ClientConnection::new(client, name).unwrap();
        let mut tls = rustls::StreamOwned::new(conn, near);
        tls.write_all(&sent).unwrap();
        tls.flush().unwrap();
        // Keep the socket open until the server has read everything.
        let mut end = [0u8; 1];
        let _ = tls.read(&mut end);
    });
    let (got, turns) = read_all(&mut server, data.len(), 20_000);
    assert_eq!(got, data);
    // 300 kB of records at 20 kB a turn.
    assert!(turns >= 14, "{turns} turns");
    drop(server);
    writer.join().unwrap();
}

#[test]
fn plain_http_is_told_apart_and_answered_in_plain() {
    let (mut server, mut near, _) = pair();
    near.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 1024];
    let deadline = Instant::now() + Duration::from_secs(10);
    let e = loop {
        match server.read(&mut buf) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                assert!(Instant::now() < deadline);
                std::thread::sleep(Duration::from_millis(1));
            }
            other => break other.unwrap_err(),
        }
    };
    assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    assert!(server.spoke_plaintext() && !server.handshaking());
    // What it sent is still there to read, as it was sent.
    let n = server.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    server
        .write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        .unwrap();
    server.shutdown_write().unwrap();
    let mut answer = String::new();
    near.read_to_string(&mut answer).unwrap();
    assert_eq!(answer, "HTTP/1.1 400 Bad Request\r\n\r\n");
}
