//! The port serves TLS (`--tls-cert`, `--tls-key`): the page over https://,
//! requests and subscriptions over wss:// with exact replies, to the
//! project's client library and to a bare rustls client, over TLS 1.3 and
//! 1.2; a client that does not trust the certificate gets no connection.

#![cfg(feature = "tls")]

mod common;

use std::sync::Arc;

use common::TestServer;
use common::tls::{self, Pki};
use kvws::client::{Client, ConnectOptions, Error};
use rustls::pki_types::ServerName;
use tungstenite::Message;

#[test]
fn the_page_and_the_javascript_client_are_served_over_https() {
    let pki = Pki::new("page");
    let server = TestServer::with(pki.config());
    let page = tls::https(
        server.addr,
        &pki.ca,
        "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
    );
    assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{page:.200}");
    assert!(page.contains(&format!(
        "\r\nContent-Length: {}\r\n",
        kvws::http::PAGE.len()
    )));
    assert!(page.contains("\r\nContent-Type: text/html"));
    assert!(page.ends_with(&format!("\r\n\r\n{}", kvws::http::PAGE)));
    let js = tls::https(
        server.addr,
        &pki.ca,
        "GET /kvws.js HTTP/1.1\r\nHost: localhost\r\n\r\n",
    );
    assert!(js.starts_with("HTTP/1.1 200 OK\r\n"), "{js:.200}");
    assert!(js.ends_with(&format!("\r\n\r\n{}", kvws::http::CLIENT_JS)));
}

#[test]
fn requests_and_subscriptions_over_wss_get_exact_replies() {
    let pki = Pki::new("requests");
    let server = TestServer::with(pki.config());
    let mut watcher = tls::client(server.addr, &pki.ca);
    let mut writer = tls::client(server.addr, &pki.ca);
    watcher.call(
        r#"{"type":"subscribe","id":"app","key":"greeting","req":1}"#,
        &[r#"{"type":"value","id":"app","key":"greeting","value":null,"rev":0,"req":1}"#],
    );
    writer.call(
        r#"{"type":"set","id":"app","key":"greeting","value":{"text":"hello"},"req":2}"#,
        &[r#"{"type":"value","id":"app","key":"greeting","value":{"text":"hello"},"rev":1,"req":2}"#],
    );
    watcher
        .expect(r#"{"type":"value","id":"app","key":"greeting","value":{"text":"hello"},"rev":1}"#);
    writer.call(
        r#"{"type":"get","id":"app","key":"greeting","req":3}"#,
        &[r#"{"type":"value","id":"app","key":"greeting","value":{"text":"hello"},"rev":1,"req":3}"#],
    );
    // A value larger than a TLS record (16 KiB) goes both ways intact.
    let big = format!("\"{}\"", "x".repeat(100_000));
    let set = format!(r#"{{"type":"set","id":"app","key":"big","value":{big},"req":4}}"#);
    writer.call(
        &set,
        &[&format!(
            r#"{{"type":"value","id":"app","key":"big","value":{big},"rev":2,"req":4}}"#
        )],
    );
    watcher.close();
    writer.close();
}

#[test]
fn a_bare_rustls_client_speaks_tls_1_3_and_1_2() {
    let pki = Pki::new("versions");
    let server = TestServer::with(pki.config());
    for version in [&rustls::version::TLS13, &rustls::version::TLS12] {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(pki_ca_der(&pki)).unwrap();
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_protocol_versions(&[version])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let tcp = std::net::TcpStream::connect(server.addr).unwrap();
        tcp.set_read_timeout(Some(common::PATIENCE)).unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
        let stream = rustls::StreamOwned::new(conn, tcp);
        let (mut ws, _) = tungstenite::client("wss://localhost/", stream).unwrap();
        assert_eq!(
            ws.get_ref().conn.protocol_version(),
            Some(version.version),
            "negotiated version"
        );
        // An AEAD suite, as every suite rustls has.
        let suite = ws.get_ref().conn.negotiated_cipher_suite().unwrap();
        let name = format!("{:?}", suite.suite());
        assert!(
            name.contains("GCM") || name.contains("CHACHA20_POLY1305"),
            "{name}"
        );
        ws.send(Message::text(
            r#"{"type":"get","id":"v","key":"k","req":1}"#,
        ))
        .unwrap();
        assert_eq!(
            ws.read().unwrap(),
            Message::text(r#"{"type":"value","id":"v","key":"k","value":null,"rev":0,"req":1}"#)
        );
        ws.close(None).unwrap();
    }
}

fn pki_ca_der(pki: &Pki) -> rustls::pki_types::CertificateDer<'static> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::from_pem_file(&pki.ca).unwrap()
}

#[test]
fn a_client_that_does_not_trust_the_certificate_gets_no_connection() {
    let pki = Pki::new("untrusted");
    let other = Pki::new("untrusted-other");
    let server = TestServer::with(pki.config());
    let url = format!("wss://localhost:{}/", server.addr.port());
    let options = ConnectOptions::timeout(common::PATIENCE);
    for options in [options.clone(), options.with_ca_file(&other.ca)] {
        match Client::connect_with(&url, &options) {
            // The system's roots, where the machine has none.
            Err(Error::Connect { reason, .. })
                if options.ca_file.is_none()
                    && reason.starts_with("no system root certificates found") => {}
            Err(Error::Connect { reason, .. }) => assert_eq!(
                reason,
                "the server's certificate is not trusted: UnknownIssuer; for a private CA or a \
                 self-signed certificate, name its PEM file as the CA file (--ca-file)"
            ),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
}

#[test]
fn a_certificate_for_another_name_is_refused() {
    let pki = Pki::for_names("other-name", &["kv.example.com"]);
    let server = TestServer::with(pki.config());
    let url = format!("wss://localhost:{}/", server.addr.port());
    let options = ConnectOptions::timeout(common::PATIENCE).with_ca_file(&pki.ca);
    match Client::connect_with(&url, &options) {
        Err(Error::Connect { reason, .. }) => assert_eq!(
            reason,
            "the server's certificate is not trusted: certificate not \
             valid for name \"localhost\"; certificate is only valid for DnsName(\"kv.example.com\"); \
             connect with a name the certificate lists"
        ),
        Ok(_) => panic!("a certificate for kv.example.com was taken for localhost"),
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn a_self_signed_certificate_is_trusted_when_named_as_the_ca_file() {
    let pki = Pki::self_signed("self-signed");
    let server = TestServer::with(pki.config());
    let mut c = tls::client(server.addr, &pki.ca);
    c.call(
        r#"{"type":"set","id":"s","key":"k","value":1,"req":1}"#,
        &[r#"{"type":"value","id":"s","key":"k","value":1,"rev":1,"req":1}"#],
    );
    assert_eq!(tls::served_certificate(server.addr, &pki.ca), pki.cert_der);
}

/// A TCP connection to `addr` whose receive buffer is `rcvbuf` bytes and
/// whose segments are small, set before connecting: a slow reader on a
/// narrow link, as the server's socket sees it.
fn narrow_connect(addr: std::net::SocketAddr, rcvbuf: libc::c_int) -> std::net::TcpStream {
    use std::os::fd::FromRawFd;
    let std::net::SocketAddr::V4(v4) = addr else {
        panic!("an IPv4 address");
    };
    // SAFETY: plain socket calls on a descriptor this function owns; every
    // pointer passed points to a live local of the size given.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        assert!(fd >= 0);
        let set = |level, name, value: libc::c_int| {
            let size = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
            let r = libc::setsockopt(fd, level, name, (&raw const value).cast(), size);
            assert_eq!(r, 0, "setsockopt");
        };
        set(libc::SOL_SOCKET, libc::SO_RCVBUF, rcvbuf);
        set(libc::IPPROTO_TCP, libc::TCP_MAXSEG, 536);
        let sin = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: v4.port().to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from(*v4.ip()).to_be(),
            },
            sin_zero: [0; 8],
        };
        let size = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        let r = libc::connect(fd, (&raw const sin).cast(), size);
        assert_eq!(r, 0, "connect");
        std::net::TcpStream::from_raw_fd(fd)
    }
}

/// A handshake whose server flight (here a long certificate chain) is more
/// than the socket takes at once: what rustls still holds is written as
/// the socket drains, so the client receives all of it. (The client here
/// sends its ClientHello and only reads: the flight is far larger than a
/// TLS client accepts, which is beside the point.)
#[test]
fn a_handshake_flight_larger_than_the_socket_takes_at_once_is_all_sent() {
    use std::io::{Read, Write};
    let pki = Pki::new("long-chain");
    // The certificate, then the CA again and again: a chain of about
    // 200 KB, more than a socket's send buffer holds.
    let ca = std::fs::read_to_string(&pki.ca).unwrap();
    let mut chain = std::fs::read_to_string(&pki.cert).unwrap();
    while chain.len() < 256 * 1024 {
        chain.push_str(&ca);
    }
    let long = pki.dir.join("long-chain.pem");
    std::fs::write(&long, &chain).unwrap();
    use rustls::pki_types::pem::PemObject;
    let der: usize = rustls::pki_types::CertificateDer::pem_file_iter(&long)
        .unwrap()
        .map(|c| c.unwrap().len())
        .sum();
    let server = TestServer::with(
        kvws::Config::default()
            .tls(&long, &pki.key)
            .handshake_timeout(std::time::Duration::from_secs(60)),
    );
    let name = ServerName::try_from("localhost").unwrap();
    let mut conn = rustls::ClientConnection::new(tls::trusting(&pki.ca), name).unwrap();
    let mut hello = Vec::new();
    conn.write_tls(&mut hello).unwrap();
    let mut tcp = narrow_connect(server.addr, 2048);
    tcp.set_read_timeout(Some(common::PATIENCE)).unwrap();
    tcp.write_all(&hello).unwrap();
    let mut received = 0;
    let mut buf = [0u8; 4096];
    while received < der {
        match tcp.read(&mut buf) {
            Ok(0) => panic!("closed after {received} of at least {der} bytes"),
            Ok(n) => received += n,
            Err(e) => panic!("{e} after {received} of at least {der} bytes"),
        }
    }
}
