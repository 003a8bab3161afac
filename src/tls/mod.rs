//! TLS for the server's port and for the clients (the `tls` cargo feature):
//! rustls with the *ring* crypto provider.
//!
//! ```text
//! server.rs  a certificate chain and key from PEM files → a server config
//! client.rs  the roots a client trusts (the system's, or a CA file)
//! stream.rs  TLS over a non-blocking mio socket, driven by a poll loop
//! ```
//!
//! The server and the load generator use [`TlsStream`]: rustls's
//! `read_tls` / `process_new_packets` / `write_tls` on a non-blocking
//! socket, as rustls's own mio example does, with every byte both ways
//! bounded. `rustls::StreamOwned` is for blocking sockets only (on a
//! non-blocking one a blocked write can keep it from ever reading, rustls
//! issue 2556); the blocking client library uses it, the loops never do.
//!
//! Versions and suites are rustls's: TLS 1.2 and 1.3, AEAD cipher suites
//! only (AES-GCM and ChaCha20-Poly1305 with ECDHE), which is all that
//! rustls implements. Nothing older can be turned on.

mod client;
mod server;
mod stream;
#[cfg(test)]
mod stream_tests;

pub(crate) use client::client_config;
pub(crate) use server::{Certificate, server_config};
pub(crate) use stream::TlsStream;

/// The crypto provider every config is built with.
fn provider() -> std::sync::Arc<rustls::crypto::CryptoProvider> {
    std::sync::Arc::new(rustls::crypto::ring::default_provider())
}

/// A PEM file's problem, for a message that names the file.
fn pem_error(e: &rustls::pki_types::pem::Error) -> String {
    match e {
        rustls::pki_types::pem::Error::Io(e) => e.to_string(),
        rustls::pki_types::pem::Error::NoItemsFound => "nothing in PEM form in it".into(),
        e => format!("not valid PEM ({e:?})"),
    }
}
