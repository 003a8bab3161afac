//! The listening socket: accepting within a budget, and backing off when the
//! process runs out of file descriptors.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use log::{debug, info, warn};
use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Registry, Token};

/// Connections accepted per step before serving the ones already open, so
/// that a connection flood cannot starve them.
pub const ACCEPT_BUDGET: usize = 256;
/// How long to stop accepting after the process runs out of file
/// descriptors (EMFILE): retrying at once would spin the CPU at 100%.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The listener and its state.
pub(super) struct Acceptor {
    listener: Option<TcpListener>,
    local_addr: SocketAddr,
    /// Readiness was reported and not yet drained.
    ready: bool,
    paused_until: Option<Instant>,
    failing: bool,
}

impl Acceptor {
    /// Listens on `addr`, registered under `token`.
    pub fn bind(addr: SocketAddr, registry: &Registry, token: Token) -> io::Result<Acceptor> {
        let mut listener = TcpListener::bind(addr)?;
        registry.register(&mut listener, token, Interest::READABLE)?;
        let local_addr = listener.local_addr()?;
        Ok(Acceptor {
            listener: Some(listener),
            local_addr,
            ready: false,
            paused_until: None,
            failing: false,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The listener reported readiness.
    pub fn set_ready(&mut self) {
        self.ready = true;
    }

    /// Whether accepting should run now.
    pub fn due(&self, now: Instant) -> bool {
        self.ready && self.paused_until.is_none_or(|t| now >= t)
    }

    /// Whether connections may be waiting right now (the loop must not sleep).
    pub fn has_more(&self) -> bool {
        self.ready && self.paused_until.is_none()
    }

    /// When accepting resumes after a back-off.
    pub fn paused_until(&self) -> Option<Instant> {
        self.paused_until
    }

    /// Accepts up to [`ACCEPT_BUDGET`] connections, handing each to `take`.
    pub fn accept(&mut self, now: Instant, mut take: impl FnMut(TcpStream, SocketAddr)) -> usize {
        self.paused_until = None;
        let mut accepted = 0;
        while accepted < ACCEPT_BUDGET {
            let Some(listener) = &self.listener else {
                return accepted;
            };
            let (sock, peer) = match listener.accept() {
                Ok(pair) => pair,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.ready = false;
                    return accepted;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if is_resource_exhaustion(&e) => {
                    // Warn once per episode, not ten times a second.
                    if !std::mem::replace(&mut self.failing, true) {
                        warn!(
                            "accept failed ({e}); retrying every {ACCEPT_BACKOFF:?} until it works"
                        );
                    }
                    self.paused_until = Some(now + ACCEPT_BACKOFF);
                    return accepted;
                }
                Err(e) => {
                    debug!("accept failed: {e}");
                    accepted += 1;
                    continue;
                }
            };
            accepted += 1;
            if std::mem::take(&mut self.failing) {
                info!("accepting connections again");
            }
            let _ = sock.set_nodelay(true);
            take(sock, peer);
        }
        accepted
    }

    /// Stops listening (shutdown).
    pub fn close(&mut self, registry: &Registry) {
        if let Some(mut listener) = self.listener.take() {
            let _ = registry.deregister(&mut listener);
        }
        self.ready = false;
    }
}

fn is_resource_exhaustion(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}
