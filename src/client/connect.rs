//! Opening a connection within a deadline: resolve the name, connect the
//! TCP socket (each address in turn, within the time left), the TLS
//! handshake for `wss://`, then the WebSocket handshake, with the socket's
//! timeouts set to the time left.
//!
//! tungstenite's `connect` would do the first two steps, but it needs the
//! `url` crate and has no deadline; so the socket is connected here, the
//! handshake is the one the load generator makes too ([`websocket`]), and
//! the socket is then handed to tungstenite's `WebSocket` for framing.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use tungstenite::WebSocket;
use tungstenite::protocol::Role;

use super::error::{Error, Result};
use super::stream::ClientStream;
use super::url::Endpoint;
use super::websocket;

/// How long to connect and to wait for replies, and whom to trust for
/// `wss://`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectOptions {
    /// Time to resolve, connect and finish the WebSocket handshake.
    /// Default 5 s.
    pub connect_timeout: Duration,
    /// Time to wait for the reply to a request (and for a write to go
    /// through). Default 5 s.
    pub request_timeout: Duration,
    /// For `wss://`: a PEM file with the certificates to trust instead of
    /// the system's roots (a private CA, or the server's self-signed
    /// certificate). Default `None`: the system's roots.
    pub ca_file: Option<PathBuf>,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(5),
            ca_file: None,
        }
    }
}

impl ConnectOptions {
    /// Both timeouts set to `timeout`.
    pub fn timeout(timeout: Duration) -> Self {
        ConnectOptions {
            connect_timeout: timeout,
            request_timeout: timeout,
            ca_file: None,
        }
    }

    /// Trusts the certificates in `path` for `wss://` (see
    /// [`ConnectOptions::ca_file`]).
    #[must_use]
    pub fn with_ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_file = Some(path.into());
        self
    }
}

/// Opens a WebSocket to `url` within `options.connect_timeout`.
pub(crate) fn open(url: &str, options: &ConnectOptions) -> Result<WebSocket<ClientStream>> {
    let endpoint = Endpoint::parse(url)?;
    #[cfg(not(feature = "tls"))]
    if endpoint.secure {
        return Err(Error::BadInput(format!(
            "'{url}': wss:// needs TLS, and this build has none (the `tls` cargo feature)"
        )));
    }
    let deadline = Instant::now() + options.connect_timeout;
    let fail = |reason: String| Error::Connect {
        url: url.to_string(),
        reason,
    };
    let addrs = (endpoint.host.as_str(), endpoint.port)
        .to_socket_addrs()
        .map_err(|e| fail(format!("cannot resolve '{}': {e}", endpoint.host)))?;
    let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
    let mut stream = None;
    for addr in addrs {
        let Some(left) = time_left(deadline) else {
            last = io::Error::new(io::ErrorKind::TimedOut, "connect timed out");
            break;
        };
        match TcpStream::connect_timeout(&addr, left) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = e,
        }
    }
    let stream = stream.ok_or_else(|| fail(last.to_string()))?;
    let left = time_left(deadline).unwrap_or(Duration::from_millis(1));
    let setup = stream
        .set_nodelay(true)
        .and_then(|()| stream.set_read_timeout(Some(left)))
        .and_then(|()| stream.set_write_timeout(Some(left)));
    setup.map_err(|e| fail(e.to_string()))?;
    let stream = if endpoint.secure {
        secure(stream, &endpoint, options).map_err(fail)?
    } else {
        ClientStream::Plain(stream)
    };
    handshake(stream, &endpoint).map_err(fail)
}

/// Sends the upgrade request and reads the answer (the socket's timeouts
/// bound the time); the `Err` says why, for [`Error::Connect`].
fn handshake(
    mut stream: ClientStream,
    endpoint: &Endpoint,
) -> Result<WebSocket<ClientStream>, String> {
    let io_error = |e: io::Error| {
        if is_timeout(&e) {
            "the WebSocket handshake timed out".to_string()
        } else {
            e.to_string()
        }
    };
    let key = websocket::generate_key();
    let request = websocket::request(&endpoint.authority(), &endpoint.path, &key);
    stream.write_all(&request).map_err(io_error)?;
    let mut head = Vec::with_capacity(256);
    let mut chunk = [0u8; 1024];
    loop {
        let n = match stream.read(&mut chunk) {
            Ok(0) => return Err("the server closed the connection during the handshake".into()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_error(e)),
        };
        head.extend_from_slice(&chunk[..n]);
        match websocket::check_response(&head, &key) {
            Ok(None) => {}
            Ok(Some(used)) => {
                // Frames the server sent right after its answer.
                let tail = head.split_off(used);
                return Ok(WebSocket::from_partially_read(
                    stream,
                    tail,
                    Role::Client,
                    None,
                ));
            }
            Err(refused) => return Err(refused.to_string()),
        }
    }
}

#[cfg(feature = "tls")]
fn secure(
    tcp: TcpStream,
    endpoint: &Endpoint,
    options: &ConnectOptions,
) -> std::result::Result<ClientStream, String> {
    super::stream::secure(tcp, &endpoint.host, options.ca_file.as_deref())
}

#[cfg(not(feature = "tls"))]
fn secure(
    _tcp: TcpStream,
    _endpoint: &Endpoint,
    _options: &ConnectOptions,
) -> std::result::Result<ClientStream, String> {
    Err("wss:// needs TLS, and this build has none (the `tls` cargo feature)".into())
}

/// The time until `deadline`, or `None` once it has passed.
pub(crate) fn time_left(deadline: Instant) -> Option<Duration> {
    deadline
        .checked_duration_since(Instant::now())
        .filter(|d| !d.is_zero())
}

pub(crate) fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}
