//! The server's side of TLS: the certificate new connections are served
//! with (replaced by [`Server::reload`]), and the share of a loop step
//! that TLS handshakes may take.
//!
//! A handshake costs the server a signature and a key exchange: about
//! 0.3 ms of CPU with an ECDSA P-256 key, about 1 ms with RSA-2048. A
//! connection flood would otherwise make one step do hundreds of them, and
//! every connected client would wait for that step. So reading connections
//! that are in their handshake stops for the step once they have taken
//! [`HANDSHAKE_TIME`]; the others are read first thing in the next step. A
//! flood of handshakes then delays other handshakes, not the clients
//! already served.

use std::io;
use std::net::SocketAddr;
#[cfg(feature = "tls")]
use std::sync::Arc;
#[cfg(feature = "tls")]
use std::time::Duration;
use std::time::Instant;

use mio::net::TcpStream;

use super::Server;
use crate::config::Config;
use crate::net::socket::Socket;

/// Time per loop step for reading connections in their TLS handshake.
#[cfg(feature = "tls")]
const HANDSHAKE_TIME: Duration = Duration::from_millis(2);

/// TLS on the listening port, or not.
#[derive(Default)]
pub(super) struct Tls {
    /// What new connections are served with; `None`: plain TCP.
    #[cfg(feature = "tls")]
    config: Option<Arc<rustls::ServerConfig>>,
    /// What the start-up log says about the certificate.
    #[cfg(feature = "tls")]
    about: String,
    /// Time spent on handshakes in this step.
    #[cfg(feature = "tls")]
    spent: Duration,
    /// Connections whose handshake waits for the next step.
    #[cfg(feature = "tls")]
    deferred: Vec<usize>,
}

impl Tls {
    /// Loads the certificate and key the configuration names, if it does;
    /// a file that cannot be used stops the start (the error names it).
    pub fn load(config: &Config) -> io::Result<Tls> {
        #[cfg(feature = "tls")]
        if let (Some(cert), Some(key)) = (&config.tls_cert, &config.tls_key) {
            let loaded = crate::tls::server_config(cert, key)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
            let mut tls = Tls::default();
            tls.install(loaded, cert);
            return Ok(tls);
        }
        // `Config::validate` refuses the files without the feature.
        let _ = config;
        Ok(Tls::default())
    }

    /// Whether the port serves TLS.
    pub fn is_on(&self) -> bool {
        #[cfg(feature = "tls")]
        return self.config.is_some();
        #[cfg(not(feature = "tls"))]
        false
    }

    /// Says at start-up which certificate is served.
    pub fn log_start(&self) {
        #[cfg(feature = "tls")]
        if self.is_on() {
            log::info!("TLS 1.2 and 1.3: {}", self.about);
        }
    }

    /// The stream for a freshly accepted socket; `None` (and the socket
    /// closed) if its TLS state cannot be made.
    pub fn wrap(&self, sock: TcpStream, peer: SocketAddr) -> Option<Socket> {
        #[cfg(feature = "tls")]
        if let Some(config) = &self.config {
            return match crate::tls::TlsStream::server(sock, config.clone()) {
                Ok(tls) => Some(Socket::Tls(Box::new(tls))),
                Err(e) => {
                    log::warn!("{peer}: cannot start TLS: {e}");
                    None
                }
            };
        }
        let _ = peer;
        Some(Socket::Plain(sock))
    }

    /// Whether handshakes wait for the next step (the loop must not sleep).
    pub fn has_deferred(&self) -> bool {
        #[cfg(feature = "tls")]
        return !self.deferred.is_empty();
        #[cfg(not(feature = "tls"))]
        false
    }

    /// Serves new connections with `loaded` (read from `cert`).
    #[cfg(feature = "tls")]
    pub fn install(&mut self, loaded: crate::tls::Certificate, cert: &std::path::Path) {
        self.about = format!(
            "certificate {} ({} in the chain, SHA-256 {})",
            cert.display(),
            loaded.chain_len,
            loaded.fingerprint
        );
        self.config = Some(loaded.config);
    }

    /// What the log says about the certificate in use.
    #[cfg(feature = "tls")]
    pub fn about(&self) -> &str {
        &self.about
    }
}

impl Server {
    /// Whether the port serves TLS (`https://`, `wss://`).
    pub fn serves_tls(&self) -> bool {
        self.tls.is_on()
    }

    /// Starts a step's share of handshakes: those deferred in the last
    /// step are read first, before this step's events, in the order they
    /// were deferred (each once), so that a flood of new handshakes cannot
    /// keep them waiting until they time out.
    pub(super) fn new_handshake_step(&mut self, now: Instant, now_ms: u64) {
        #[cfg(feature = "tls")]
        {
            self.tls.spent = Duration::ZERO;
            let mut deferred = std::mem::take(&mut self.tls.deferred);
            let mut seen = std::collections::HashSet::with_capacity(deferred.len());
            deferred.retain(|&slot| seen.insert(slot));
            for slot in deferred {
                self.read_round(slot, false, now, now_ms);
            }
        }
        #[cfg(not(feature = "tls"))]
        let _ = (now, now_ms);
    }

    /// Reads a connection in its TLS handshake, if the step's share of
    /// handshakes allows; else it waits for the next step.
    #[cfg(feature = "tls")]
    pub(super) fn read_handshake(&mut self, slot: usize, now: Instant, now_ms: u64) {
        if self.tls.spent >= HANDSHAKE_TIME {
            self.tls.deferred.push(slot);
            return;
        }
        let started = Instant::now();
        self.read_head(slot, now, now_ms);
        self.tls.spent += started.elapsed();
    }
}
