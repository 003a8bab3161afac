//! Certificate files that cannot be used stop the server at start, with a
//! message that names the file and says what is wrong with it; the flags
//! go together.

#![cfg(feature = "tls")]

mod common;

use std::path::Path;

use common::tls::Pki;
use kvws::{Config, Server};

fn refusal(cert: &Path, key: &Path) -> String {
    match Server::bind(Config::default().port(0).tls(cert, key)) {
        Ok(_) => panic!("{} with {} was accepted", cert.display(), key.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn unusable_certificate_files_are_refused_at_start_with_what_is_wrong() {
    let (pki, other) = (Pki::new("config"), Pki::new("config-other"));
    let missing = pki.dir.join("missing.pem");
    let empty = pki.dir.join("empty.pem");
    std::fs::write(&empty, "").unwrap();
    let junk = pki.dir.join("junk.pem");
    std::fs::write(&junk, "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n").unwrap();
    let cert = pki.cert.display();
    let cases = [
        (
            &missing,
            &pki.key,
            format!(
                "TLS certificate {}: No such file or directory (os error 2)",
                missing.display()
            ),
        ),
        (
            &empty,
            &pki.key,
            format!(
                "TLS certificate {}: no certificate in it (expected PEM, \
                 -----BEGIN CERTIFICATE-----, the server's first)",
                empty.display()
            ),
        ),
        (
            &pki.cert,
            &empty,
            format!(
                "TLS key {}: no private key in it (expected PEM: -----BEGIN PRIVATE KEY-----, \
                 RSA PRIVATE KEY or EC PRIVATE KEY)",
                empty.display()
            ),
        ),
        // A certificate where the key should be is no key either.
        (
            &pki.cert,
            &pki.cert,
            format!(
                "TLS key {cert}: no private key in it (expected PEM: -----BEGIN PRIVATE KEY-----, \
                 RSA PRIVATE KEY or EC PRIVATE KEY)"
            ),
        ),
        (
            &pki.cert,
            &other.key,
            format!(
                "TLS key {} does not belong to the certificate in {cert}",
                other.key.display()
            ),
        ),
    ];
    for (c, k, want) in cases {
        assert_eq!(refusal(c, k), want);
    }
    let garbled = refusal(&junk, &pki.key);
    assert!(
        garbled.starts_with(&format!(
            "TLS certificate {}: not valid PEM",
            junk.display()
        )),
        "{garbled}"
    );
    // And the good pair starts.
    Server::bind(Config::default().port(0).tls(&pki.cert, &pki.key)).expect("a good pair");
}

#[test]
fn a_certificate_without_its_key_is_a_configuration_error() {
    let pki = Pki::new("config-half");
    let mut config = Config::default().port(0);
    config.tls_cert = Some(pki.cert.clone());
    assert_eq!(
        config.validate(),
        Err("--tls-cert and --tls-key go together: give both, or neither".to_string())
    );
    let mut config = Config::default().port(0);
    config.tls_key = Some(pki.key.clone());
    assert!(config.validate().is_err());
}

#[cfg(feature = "cli")]
#[test]
fn the_binary_says_why_it_cannot_start() {
    let pki = Pki::new("config-binary");
    let missing = pki.dir.join("nope.pem");
    let out = std::process::Command::new(common::daemon::KVWS)
        .args(["--port", "0", "--tls-cert"])
        .arg(&missing)
        .arg("--tls-key")
        .arg(&pki.key)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.ends_with(&format!(
            "cannot start: TLS certificate {}: No such file or directory (os error 2)\n",
            missing.display()
        )),
        "{stderr}"
    );
    let out = std::process::Command::new(common::daemon::KVWS)
        .args(["--port", "0", "--tls-cert"])
        .arg(&pki.cert)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("--tls-cert and --tls-key go together: give both, or neither"),
        "{stderr}"
    );
}
