//! [`Load`]: the connections of one configuration and the poll loop that
//! drives them.
//!
//! One thread, one `mio::Poll`, every connection a token. Each readiness
//! event on a connection reads until the socket is drained, handles every
//! complete message in place, tops the connection up to its depth and
//! writes once;
//! the fan-out publisher is topped up after each batch of events (its
//! window opens as subscribers receive). The loop wakes at least every
//! [`TICK`] to check the deadline and whether the server has stalled.

use std::io;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use super::config::{LoadConfig, Mode, Target};
use super::conn::{Conn, Phase, Role};
use super::requests::{Key, Op, Proto, Requests};
use super::state::State;
use super::{sys, ws};
use crate::net::socket::Socket;

/// The longest the loop sleeps before checking deadlines and stalls.
pub const TICK: Duration = Duration::from_millis(50);
/// Connections being opened at once (TCP connect plus handshake plus
/// set-up requests); more at once would overflow the server's listen
/// backlog and turn into one-second SYN retries.
pub const OPENING: usize = 256;

/// Open connections for one [`LoadConfig`], ready to run load repeatedly.
///
/// [`Load::connect`] opens and sets up every connection (not timed);
/// [`Load::run_ops`] and [`Load::run_for`] then run on the same
/// connections as often as wanted, each returning a fresh
/// [`Report`](super::Report). A run that ends with errors returns
/// [`LoadError::Failed`](super::LoadError::Failed) with its report; one that
/// lost a connection or found the server stalled leaves the `Load` unusable.
pub struct Load {
    pub(super) config: LoadConfig,
    poll: Poll,
    events: Events,
    tokens: Vec<usize>,
    pub(super) conns: Vec<Conn>,
    pub(super) state: State,
    pub(super) publisher: Option<usize>,
    epoch: Instant,
    pub(super) connect_time: Duration,
    pub(super) rss_before: Option<u64>,
    /// Why the connections can no longer be used, once that happens.
    pub(super) broken: Option<String>,
    /// For `wss://`: what every connection trusts, and the name its
    /// certificate must have.
    #[cfg(feature = "tls")]
    tls: Option<(
        std::sync::Arc<rustls::ClientConfig>,
        rustls::pki_types::ServerName<'static>,
    )>,
}

impl Load {
    /// Opens every connection of `config` and sets each up (WebSocket
    /// handshake; subscriptions in fanout and conns mode). Keys that will be
    /// subscribed to are created first, by the first connection (the R
    /// server does not answer a subscription to a missing key); in conns
    /// mode that happens before the server's memory is first measured, so
    /// that only connections and subscriptions count. Raises this process's
    /// open-file limit as needed.
    pub fn connect(config: &LoadConfig) -> io::Result<Load> {
        config.validate().map_err(io::Error::other)?;
        sys::ensure_open_files(config.connections + 1)?;
        let requests = Requests::new(config);
        let subscribers = if config.mode == Mode::Fanout {
            config.connections
        } else {
            0
        };
        let mut load = Load {
            config: config.clone(),
            poll: Poll::new()?,
            events: Events::with_capacity(1024),
            tokens: Vec::with_capacity(1024),
            conns: Vec::with_capacity(config.connections + 1),
            state: State::new(requests, config.depth, subscribers, config.keys),
            publisher: None,
            epoch: Instant::now(),
            connect_time: Duration::ZERO,
            rss_before: None,
            broken: None,
            #[cfg(feature = "tls")]
            tls: tls_for(config)?,
        };
        load.state.sets_only = config.sets_only;
        let started = Instant::now();
        let ws = !config.target.is_redis();
        let n = config.connections;
        let holder = |i: usize| (Role::Holder, vec![Op::Subscribe(Key::Conn(i as u32))]);
        if config.mode == Mode::Fanout {
            let initial = if ws { vec![Op::Set(Key::Fan)] } else { vec![] };
            load.publisher = Some(0);
            load.open_all(1, |_| (Role::Publisher, initial.clone()))?;
        } else if config.mode == Mode::Conns {
            // The first connection creates every key, then subscribes.
            let (role, mut initial) = holder(0);
            if ws {
                let sets = (0..n).map(|i| Op::Set(Key::Conn(i as u32)));
                initial.splice(0..0, sets);
            }
            load.open_all(1, |_| (role, initial.clone()))?;
        }
        load.rss_before = config.server_pid.and_then(sys::rss_bytes);
        // The publisher is not one of the `n`; the first holder is.
        let opened = if config.mode == Mode::Conns { 1 } else { 0 };
        load.open_all(n - opened, |i| match config.mode {
            Mode::ReqResp | Mode::Pipeline => (Role::Client, vec![]),
            Mode::Fanout => (Role::Subscriber, vec![Op::Subscribe(Key::Fan)]),
            Mode::Conns => holder(i),
        })?;
        load.connect_time = started.elapsed();
        log::info!(
            "{} connections open in {:?}",
            load.conns.len(),
            load.connect_time
        );
        Ok(load)
    }

    /// The configuration this load runs.
    pub fn config(&self) -> &LoadConfig {
        &self.config
    }

    /// Opens `n` more connections, at most [`OPENING`] at a time, and waits
    /// until all are set up. `what(i)` gives connection `i` its role and
    /// set-up requests.
    fn open_all(&mut self, n: usize, what: impl Fn(usize) -> (Role, Vec<Op>)) -> io::Result<()> {
        let target = self.conns.len() + n;
        let mut last_progress = Instant::now();
        while self.state.ready < target {
            while self.conns.len() < target && self.conns.len() - self.state.ready < OPENING {
                let (role, initial) = what(self.conns.len());
                self.open(role, initial).map_err(|e| {
                    io::Error::new(
                        e.kind(),
                        format!("cannot open connection {}: {e}", self.conns.len() + 1),
                    )
                })?;
            }
            self.turn(TICK)?;
            if let Some(why) = &self.broken {
                let to = &self.config.target;
                return Err(io::Error::other(format!("cannot connect to {to}: {why}")));
            }
            if self.state.errors.count > 0 {
                let e = &self.state.errors.examples[0];
                return Err(io::Error::other(format!("while connecting: {e}")));
            }
            let now = Instant::now();
            if std::mem::take(&mut self.state.progressed) {
                last_progress = now;
            } else if now - last_progress > self.config.timeout {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "timed out opening connections: {} of {target} set up, nothing \
                         happened for {:?}",
                        self.state.ready, self.config.timeout
                    ),
                ));
            }
        }
        Ok(())
    }

    fn open(&mut self, role: Role, initial: Vec<Op>) -> io::Result<()> {
        let token = self.conns.len();
        let mut tcp = TcpStream::connect(self.config.target.addr())?;
        self.poll.registry().register(
            &mut tcp,
            Token(token),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        let stream = self.secure(tcp)?;
        let proto = self.state.requests.proto;
        let read_size = match role {
            Role::Holder => 1 << 10,
            _ => 32 << 10,
        };
        let window = self.config.depth.max(2);
        self.conns
            .push(Conn::new(stream, proto, role, initial, window, read_size));
        Ok(())
    }

    /// The socket for a connection being opened: plain, or TLS.
    fn secure(&self, tcp: TcpStream) -> io::Result<Socket> {
        #[cfg(feature = "tls")]
        if let Some((config, name)) = &self.tls {
            let tls = crate::tls::TlsStream::client(tcp, config.clone(), name.clone())
                .map_err(io::Error::other)?;
            return Ok(Socket::Tls(Box::new(tls)));
        }
        Ok(Socket::Plain(tcp))
    }

    /// Nanoseconds since this load's epoch.
    #[inline]
    pub(super) fn now_ns(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    /// One turn of the loop: waits up to `timeout` for readiness, serves
    /// the connections that are ready, then tops up the publisher.
    pub(super) fn turn(&mut self, timeout: Duration) -> io::Result<()> {
        match self.poll.poll(&mut self.events, Some(timeout)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(e),
        }
        let mut tokens = std::mem::take(&mut self.tokens);
        tokens.clear();
        tokens.extend(self.events.iter().map(|e| e.token().0));
        for &i in &tokens {
            if let Err(why) = self.service(i) {
                self.lose(i, why);
            }
        }
        self.tokens = tokens;
        if let Some(p) = self.publisher
            && self.conns[p].flow.ready
            && self.broken.is_none()
        {
            let now = self.now_ns();
            let Conn { io, flow } = &mut self.conns[p];
            self.state.publish(io, flow, now);
            if let Err(e) = io.flush() {
                self.lose(p, format!("write: {e}"));
            }
        }
        Ok(())
    }

    /// Serves one ready connection: connect, handshake, read and handle
    /// every message, top up, write.
    fn service(&mut self, i: usize) -> Result<(), String> {
        let epoch = self.epoch;
        let Some(Conn { io, flow }) = self.conns.get_mut(i) else {
            return Ok(());
        };
        let state = &mut self.state;
        match &io.phase {
            Phase::Closed => return Ok(()),
            Phase::Connecting => {
                if !io.connected().map_err(|e| format!("connect: {e}"))? {
                    return Ok(());
                }
                state.progressed = true;
                let _ = io.stream.tcp().set_nodelay(true);
                match &self.config.target {
                    Target::Ws { host, path, .. } => {
                        let key = ws::generate_key();
                        io.wbuf
                            .extend_from_slice(&ws::handshake_request(host, path, &key));
                        io.phase = Phase::Handshaking(key);
                    }
                    Target::Redis { .. } => {
                        io.phase = Phase::Open;
                        state.send_initial(io, flow, epoch.elapsed().as_nanos() as u64);
                    }
                }
            }
            Phase::Handshaking(_) | Phase::Open => {}
        }
        loop {
            match io.fill() {
                Ok((0, _)) => return Err("the server closed the connection".into()),
                Ok((_, more)) => {
                    state.now_ns = epoch.elapsed().as_nanos() as u64;
                    if let Phase::Handshaking(_) = io.phase
                        && io.finish_handshake()?
                    {
                        state.progressed = true;
                        state.send_initial(io, flow, state.now_ns);
                    }
                    if io.phase == Phase::Open {
                        while let Some(msg) = io.next_message()? {
                            state.on_message(flow, msg);
                        }
                    }
                    if !more {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("read: {e}")),
            }
        }
        if !flow.ready && io.phase == Phase::Open && flow.pending.is_empty() {
            flow.ready = true;
            flow.next_seq = state.fan.sent() + 1;
            state.ready += 1;
        }
        if flow.ready && flow.role == Role::Client && state.sent < state.limit {
            state.refill(io, flow, epoch.elapsed().as_nanos() as u64);
        }
        io.flush().map_err(|e| format!("write: {e}"))
    }

    /// Tops up every client connection and the publisher (the start of a
    /// run).
    pub(super) fn kick(&mut self) {
        let now = self.now_ns();
        for i in 0..self.conns.len() {
            let Conn { io, flow } = &mut self.conns[i];
            if flow.ready && flow.role == Role::Client {
                self.state.refill(io, flow, now);
                if let Err(e) = io.flush() {
                    self.lose(i, format!("write: {e}"));
                }
            }
        }
    }

    /// Records that connection `i` is gone, and why; the load is broken.
    fn lose(&mut self, i: usize, why: String) {
        let Conn { io, flow } = &mut self.conns[i];
        if io.phase == Phase::Closed {
            return;
        }
        let what = match flow.role {
            Role::Client => "client",
            Role::Publisher => "publisher",
            Role::Subscriber => "subscriber",
            Role::Holder => "connection",
        };
        let text = if flow.ready {
            let n = flow.pending.len();
            format!("{what} {i} lost with {n} requests outstanding: {why}")
        } else {
            format!("{what} {i} failed while connecting: {why}")
        };
        self.state.in_flight -= flow.pending.len() as u64;
        flow.pending.clear();
        io.phase = Phase::Closed;
        let _ = self.poll.registry().deregister(io.stream.tcp_mut());
        let _ = io.stream.tcp().shutdown(std::net::Shutdown::Both);
        self.state.errors.record(text.clone());
        self.broken.get_or_insert(text);
    }
}

impl Drop for Load {
    /// Closes every WebSocket with a close frame (1000), without waiting
    /// for the answer.
    fn drop(&mut self) {
        if self.state.requests.proto == Proto::Ws {
            for conn in &mut self.conns {
                conn.io.say_goodbye();
            }
        }
    }
}

/// What `wss://` connections trust (see [`LoadConfig::ca_file`]) and the
/// name the server's certificate must have: the URL's host.
#[cfg(feature = "tls")]
#[allow(clippy::type_complexity)]
fn tls_for(
    config: &LoadConfig,
) -> io::Result<
    Option<(
        std::sync::Arc<rustls::ClientConfig>,
        rustls::pki_types::ServerName<'static>,
    )>,
> {
    let Target::Ws {
        tls: true, host, ..
    } = &config.target
    else {
        return Ok(None);
    };
    let trust = crate::tls::client_config(config.ca_file.as_deref()).map_err(io::Error::other)?;
    // Every connection makes a full handshake, as a new client does: a
    // resumed one would skip the server's signature and measure less.
    let mut trust = (*trust).clone();
    trust.resumption = rustls::client::Resumption::disabled();
    let trust = std::sync::Arc::new(trust);
    let name = host.rsplit_once(':').map_or(host.as_str(), |(h, _)| h);
    let name = name.trim_start_matches('[').trim_end_matches(']');
    let name = rustls::pki_types::ServerName::try_from(name.to_string())
        .map_err(|_| io::Error::other(format!("'{name}' is not a name TLS can check")))?;
    Ok(Some((trust, name)))
}
