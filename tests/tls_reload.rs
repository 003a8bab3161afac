//! Reloading the certificate: SIGHUP makes the running binary read its
//! `--tls-cert` and `--tls-key` again; connections opened after it get the
//! new certificate, those already open go on with the old one, and a file
//! that cannot be used is refused with an error in the log while the
//! certificate in use stays. `Server::reload` reports the same to an
//! embedding program.

#![cfg(all(feature = "tls", feature = "cli"))]

mod common;

use std::path::Path;

use common::daemon::Daemon;
use common::tls::{self, Pki};
use kvws::{Config, Server};
use sha2::{Digest, Sha256};

/// A certificate's SHA-256 fingerprint as the log prints it.
fn fingerprint(der: &[u8]) -> String {
    let digest = Sha256::digest(der);
    let hex: Vec<String> = digest.iter().map(|b| format!("{b:02X}")).collect();
    hex.join(":")
}

/// Puts `pki`'s certificate and key where the server reads them.
fn install(pki: &Pki, cert: &Path, key: &Path) {
    std::fs::copy(&pki.cert, cert).unwrap();
    std::fs::copy(&pki.key, key).unwrap();
}

#[test]
fn sighup_serves_a_new_certificate_to_new_connections_and_keeps_the_old_ones() {
    let (first, second) = (Pki::new("reload-first"), Pki::new("reload-second"));
    let dir = first.dir.join("served");
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    install(&first, &cert, &key);
    let server = Daemon::start(&[
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
        "--start-revision",
        "0",
    ]);
    let addr = server.addr;
    let mut old = tls::client(addr, &first.ca);
    old.call(
        r#"{"type":"subscribe","id":"r","key":"k","req":1}"#,
        &[r#"{"type":"value","id":"r","key":"k","value":null,"rev":0,"req":1}"#],
    );

    install(&second, &cert, &key);
    server.signal(libc::SIGHUP);
    let line = server.wait_for_log("reloaded the TLS certificate");
    assert!(
        line.contains(&format!("SHA-256 {}", fingerprint(&second.cert_der))),
        "{line}"
    );
    assert_eq!(tls::served_certificate(addr, &second.ca), second.cert_der);
    let Err(refused) = tls::try_connect(addr, &first.ca) else {
        panic!("the old certificate is still served");
    };
    assert!(refused.to_string().contains("UnknownIssuer"), "{refused}");
    // The connection opened before goes on, on its old session.
    let mut new = tls::client(addr, &second.ca);
    new.call(
        r#"{"type":"set","id":"r","key":"k","value":"after","req":2}"#,
        &[r#"{"type":"value","id":"r","key":"k","value":"after","rev":1,"req":2}"#],
    );
    old.expect(r#"{"type":"value","id":"r","key":"k","value":"after","rev":1}"#);
    old.call(
        r#"{"type":"get","id":"r","key":"k","req":3}"#,
        &[r#"{"type":"value","id":"r","key":"k","value":"after","rev":1,"req":3}"#],
    );

    // A key file without a key: refused, and the certificate stays.
    std::fs::write(&key, "not a key\n").unwrap();
    server.signal(libc::SIGHUP);
    let line = server.wait_for_log("cannot reload the TLS certificate");
    assert!(line.contains("ERROR"), "{line}");
    assert!(
        line.contains(&format!("TLS key {}: no private key in it", key.display())),
        "{line}"
    );
    assert_eq!(tls::served_certificate(addr, &second.ca), second.cert_der);

    // A certificate file that is gone: the same.
    std::fs::copy(&second.key, &key).unwrap();
    std::fs::remove_file(&cert).unwrap();
    server.signal(libc::SIGHUP);
    let line = server.wait_for_log("cannot reload the TLS certificate");
    assert!(line.contains("No such file or directory"), "{line}");
    assert_eq!(tls::served_certificate(addr, &second.ca), second.cert_der);

    // The first key with the second certificate: they do not match.
    std::fs::copy(&second.cert, &cert).unwrap();
    std::fs::copy(&first.key, &key).unwrap();
    server.signal(libc::SIGHUP);
    let line = server.wait_for_log("cannot reload the TLS certificate");
    assert!(
        line.contains(&format!(
            "TLS key {} does not belong to the certificate in {}",
            key.display(),
            cert.display()
        )),
        "{line}"
    );
    old.call(
        r#"{"type":"get","id":"r","key":"k","req":4}"#,
        &[r#"{"type":"value","id":"r","key":"k","value":"after","rev":1,"req":4}"#],
    );
    old.close();
    new.close();
}

#[test]
fn server_reload_reports_what_it_reloaded_and_what_it_refused() {
    let (first, second) = (Pki::new("report-first"), Pki::new("report-second"));
    let dir = first.dir.join("served");
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    install(&first, &cert, &key);
    let mut server = Server::bind(Config::default().port(0).tls(&cert, &key)).unwrap();

    install(&second, &cert, &key);
    let report = server.reload();
    let about = format!(
        "certificate {} (1 in the chain, SHA-256 {})",
        cert.display(),
        fingerprint(&second.cert_der)
    );
    assert_eq!(report.reloaded, vec![("TLS certificate", about)]);
    assert!(report.failed.is_empty() && report.is_ok());

    std::fs::write(&cert, "").unwrap();
    let report = server.reload();
    assert!(report.reloaded.is_empty());
    let why = format!(
        "TLS certificate {}: no certificate in it (expected PEM, -----BEGIN CERTIFICATE-----, \
         the server's first)",
        cert.display()
    );
    assert_eq!(report.failed, vec![("TLS certificate", why)]);
    assert!(!report.is_ok());

    // Without TLS there is nothing to reload.
    let mut plain = Server::bind(Config::default().port(0)).unwrap();
    let report = plain.reload();
    assert!(report.reloaded.is_empty() && report.failed.is_empty());
}
