//! Cluster mode: Redis as the shared, ordered log of changes of many kvws
//! nodes, one store between them.
//!
//! A node keeps the whole store in memory as a replica and serves reads,
//! subscriptions and replays from it. Its writes are [`Proposal`](crate::engine::Proposal)s that
//! one Lua script per write makes in Redis ([`script`]), which orders every
//! change of every node by one revision counter and appends it to a
//! stream. Every node follows that stream and applies each change through
//! the engine exactly as a local change: subscribers on any node hear of a
//! change made on any other.
//!
//! The node talks to Redis over two connections on non-blocking sockets in
//! the server's own poll loop, no thread and no runtime: `cmd` for scripts,
//! scans and leases (pipelined: many commands in flight, replies in order),
//! and `feed` for the stream (`XREAD BLOCK`).
//!
//! ```text
//!   Down ──(connected)──> Starting ──(epoch, revision R)──> Loading ──(scan done)──>
//!   CatchingUp ──(stream read up to the scan's newest revision)──> Live
//!     ^                        |
//!     └──── connection lost ───┴── (a new epoch, or a gap in the stream: start over)
//! ```
//!
//! * **Joining**: `START` (one script: the epoch, and the revision R every
//!   change up to which is in the data), then the data scanned in batches
//!   (`HSCAN`), then the stream read from R: a key's change is applied only
//!   if it is newer than what the replica has, so the scan's own
//!   inconsistency (writes go on meanwhile) converges to Redis's state.
//!   The stream must go on from R without a gap (revisions are
//!   contiguous), or the node starts over.
//! * **Epochs**: when Redis loses its data (restarted without persistence,
//!   flushed, an empty replica promoted) the next script finds no epoch and
//!   starts a new one, with revisions from the clock so that they never go
//!   backwards. A node that sees another epoch starts over: its clients are
//!   closed (1012) and resume with `since`, which gets them `resync`.
//! * **Redis unavailable**: writes fail at once (`unavailable`), reads go
//!   on from the replica, the node reconnects with backoff and catches up
//!   from the revision it had; each episode is logged once.
//! * **Ephemeral keys** are owned by `<node>:<connection>`; each node holds
//!   a lease it refreshes every [`LEASE_REFRESH`], and any node deletes the
//!   keys of a node whose lease has lapsed ([`LEASE`], swept every
//!   [`SWEEP`]).

use std::collections::VecDeque;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use log::{error, info, warn};
use mio::{Registry, Token};

use crate::change::Change;
use crate::engine::Outcome;
use crate::protocol::ErrorCode;

mod feed;
mod metrics;
mod resp;
pub mod script;
mod url;
mod write;

pub use url::RedisUrl;

use resp::{Reply, Resp, int, text};

/// How long a node's lease lasts: its ephemeral keys are deleted this long
/// (plus a sweep) after it stops or loses Redis.
pub const LEASE: Duration = Duration::from_secs(10);
/// How often a node refreshes its lease.
pub const LEASE_REFRESH: Duration = Duration::from_secs(2);
/// How often a node looks for nodes whose lease lapsed.
pub const SWEEP: Duration = Duration::from_secs(3);
/// Ephemeral keys of dead nodes deleted per script run: a run holds Redis
/// (every node's writes wait), so it is short, and run again at once while
/// there is more.
const SWEEP_BATCH: usize = 100;
/// Keys read per scan batch and stream entries per read: a reply of the
/// largest values stays within reason, and one batch is applied in a step
/// without holding the loop for long.
const BATCH: usize = 100;
/// The stream keeps at least this many entries whatever the history's
/// length: a node loading a large store reads the stream from where its
/// scan began, and a stream trimmed past that point makes it start over.
pub const MIN_STREAM: usize = 100_000;
/// How long the stream read blocks in Redis before it is asked again.
const FEED_BLOCK_MS: u64 = 2000;
/// A reply not received this long after it was due means the connection is
/// dead even if no error says so (Redis frozen, a network partition).
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);
/// First and longest wait before reconnecting.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// What the cluster tells the server (which passes it to the engine).
#[derive(Debug)]
pub(crate) enum Event<'a> {
    /// The replica starts over, empty, at revision `rev` (a node joining, a
    /// new epoch, a gap in the stream): every client goes.
    Reset { rev: u64 },
    /// A key from the scan or the stream while loading: applied only if
    /// newer than what the replica holds, without notifications.
    CatchUp(Change<'a>),
    /// Loading is over: the replica is Redis's state at `rev`, and serves.
    Loaded { rev: u64 },
    /// A change from the stream, the next in revision order.
    Apply(Change<'a>),
    /// What Redis decided about a proposal.
    Outcome(u64, Outcome),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// No connection; waiting to try again.
    Down,
    /// Connected; the scripts and `START` are on their way.
    Starting,
    /// Scanning the data.
    Loading,
    /// Reading the stream up to `target` (the newest revision known to
    /// exist); `live`: the replica was already in step (a reconnection)
    /// and what is read is applied as live changes.
    CatchingUp { target: u64, live: bool },
    /// In step; blocking reads of the stream.
    Live,
}

/// What a reply on `cmd` is for.
enum Expect {
    /// AUTH, SELECT: a refusal is fatal (and logged as the reason).
    Handshake,
    /// The lease: a refusal is logged.
    Ignore,
    ScriptLoad(Script),
    Start,
    Scan,
    Write(u64),
    ReapDead,
}

#[derive(Clone, Copy)]
enum Script {
    Write,
    ReapDead,
}

/// Redis key names under the prefix.
struct Keys {
    prefix: String,
    epoch: String,
    rev: String,
    data: String,
    stream: String,
    ttl: String,
    nodes: String,
}

impl Keys {
    fn new(prefix: &str) -> Keys {
        let k = |s: &str| format!("{prefix}:{s}");
        Keys {
            prefix: prefix.to_string(),
            epoch: k("epoch"),
            rev: k("rev"),
            data: k("data"),
            stream: k("stream"),
            ttl: k("ttl"),
            nodes: k("nodes"),
        }
    }
}

/// A node's link to Redis: two connections in the server's poll, the state
/// of the replica, and the timers of the lease.
pub(crate) struct Cluster {
    url: RedisUrl,
    keys: Keys,
    /// This node's name (owners of its ephemeral keys are `<node>:<conn>`);
    /// a new one each time the replica starts over.
    node: String,
    /// Stream entries kept.
    maxlen: String,
    /// The revision a new epoch starts from (`None`: the clock).
    start_rev: Option<u64>,
    cmd_token: Token,
    feed_token: Token,
    cmd: Option<Resp>,
    feed: Option<Resp>,
    expect: VecDeque<Expect>,
    /// Replies on `feed` to drop before the stream reads' (the handshake).
    feed_skip: usize,
    /// A stream read is in flight on `feed`, sent then.
    reading: Option<Instant>,
    /// When the oldest reply awaited on `cmd` became due.
    cmd_due: Option<Instant>,
    state: State,
    /// The epoch the replica follows, once loaded.
    epoch: Option<String>,
    /// The replica holds Redis's state up to `stream_pos` in `epoch`.
    loaded: bool,
    write_sha: Option<String>,
    reap_sha: Option<String>,
    /// The scan's cursor, and the newest revision it has seen.
    cursor: String,
    scan_max: u64,
    scanned: u64,
    loading_since: Instant,
    /// The last revision read from the stream.
    stream_pos: u64,
    retry_at: Option<Instant>,
    backoff: Duration,
    lease_due: Instant,
    sweep_due: Instant,
    /// A down episode was logged (and not yet its end).
    down_logged: bool,
    /// Writes in flight on a connection that was lost.
    failed: Vec<u64>,
    replies: Vec<Reply>,
    /// What `/metrics` shows of the link (see [`metrics`]).
    metrics: metrics::LinkMetrics,
}

fn unix_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// A name that no other node (or other start of this one) has.
fn fresh_name() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(unix_us());
    h.write_u32(std::process::id());
    format!("{:016x}", h.finish())
}

impl Cluster {
    /// A link to the Redis at `url`, storing under `prefix`, keeping about
    /// `history` stream entries (at least [`MIN_STREAM`]), starting a new
    /// epoch's revisions from `start_rev` (`None`: the clock); not
    /// connected yet.
    pub fn new(
        url: RedisUrl,
        prefix: &str,
        history: usize,
        start_rev: Option<u64>,
        cmd_token: Token,
        feed_token: Token,
    ) -> Cluster {
        let now = Instant::now();
        Cluster {
            url,
            keys: Keys::new(prefix),
            node: fresh_name(),
            maxlen: history.max(MIN_STREAM).to_string(),
            start_rev,
            cmd_token,
            feed_token,
            cmd: None,
            feed: None,
            expect: VecDeque::new(),
            feed_skip: 0,
            reading: None,
            cmd_due: None,
            state: State::Down,
            epoch: None,
            loaded: false,
            write_sha: None,
            reap_sha: None,
            cursor: "0".into(),
            scan_max: 0,
            scanned: 0,
            loading_since: now,
            stream_pos: 0,
            retry_at: Some(now),
            backoff: BACKOFF_MIN,
            lease_due: now,
            sweep_due: now + SWEEP,
            down_logged: false,
            failed: Vec::new(),
            replies: Vec::new(),
            metrics: metrics::LinkMetrics::default(),
        }
    }

    /// Whether the replica is in step with Redis (the node may take
    /// clients).
    pub fn serving(&self) -> bool {
        self.loaded
    }

    /// Whether Redis can be reached now.
    pub fn up(&self) -> bool {
        self.cmd.is_some() && !matches!(self.state, State::Down | State::Starting)
    }

    /// When the cluster needs the loop next (reconnect, lease, sweep, a
    /// reply overdue).
    pub fn next_deadline(&self) -> Instant {
        let mut next = self.sweep_due.min(self.lease_due);
        for t in [self.retry_at, self.cmd_due.map(|t| t + REPLY_TIMEOUT)]
            .into_iter()
            .flatten()
        {
            next = next.min(t);
        }
        if let Some(sent) = self.reading {
            next = next.min(sent + Duration::from_millis(FEED_BLOCK_MS) + REPLY_TIMEOUT);
        }
        next
    }

    /// The revision a new epoch starts from, should this node start one:
    /// `--start-revision` or the clock in microseconds (as a new single
    /// node's store), and never below what its clients have seen, so that
    /// revisions do not go backwards even if its clock is behind.
    fn first_rev(&self) -> String {
        self.start_rev
            .unwrap_or_else(unix_us)
            .max(self.stream_pos)
            .to_string()
    }

    fn addr(&self) -> std::io::Result<SocketAddr> {
        (self.url.host.as_str(), self.url.port)
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| std::io::Error::other(format!("no address for {}", self.url.host)))
    }

    /// Timers: reconnecting, overdue replies, the lease, the sweep of dead
    /// nodes.
    pub fn tick(&mut self, registry: &Registry, now: Instant) {
        if let Some(at) = self.retry_at
            && now >= at
        {
            self.retry_at = None;
            self.connect(registry, now);
        }
        let feed_late = self
            .reading
            .is_some_and(|sent| now >= sent + Duration::from_millis(FEED_BLOCK_MS) + REPLY_TIMEOUT);
        let cmd_late = self.cmd_due.is_some_and(|due| now >= due + REPLY_TIMEOUT);
        if feed_late || cmd_late {
            return self.lost(registry, now, "no reply from Redis in time");
        }
        if self.up() && now >= self.lease_due {
            self.lease_due = now + LEASE_REFRESH;
            self.refresh_lease();
        }
        if self.up() && now >= self.sweep_due {
            self.sweep_due = now + SWEEP;
            self.sweep();
        }
        self.flush(registry);
    }

    /// Queues a command on `cmd` whose reply is for `expect`.
    fn command(&mut self, args: &[&[u8]], expect: Expect) {
        let Some(cmd) = self.cmd.as_mut() else {
            return;
        };
        cmd.send(args);
        let now = Instant::now();
        if self.expect.is_empty() {
            self.cmd_due = Some(now);
        }
        self.expect.push_back(expect);
        self.metrics.sent.push_back(now);
    }

    fn refresh_lease(&mut self) {
        let lease = format!("{}:lease:{}", self.keys.prefix, self.node);
        let ms = LEASE.as_millis().to_string();
        self.command(
            &[b"SET", lease.as_bytes(), b"1", b"PX", ms.as_bytes()],
            Expect::Ignore,
        );
        let (nodes, node) = (self.keys.nodes.clone(), self.node.clone());
        self.command(
            &[b"SADD", nodes.as_bytes(), node.as_bytes()],
            Expect::Ignore,
        );
    }

    fn sweep(&mut self) {
        let Some(sha) = self.reap_sha.clone() else {
            return;
        };
        let k = &self.keys;
        let batch = SWEEP_BATCH.to_string();
        let args: [&[u8]; 13] = [
            b"EVALSHA",
            sha.as_bytes(),
            b"6",
            k.epoch.as_bytes(),
            k.rev.as_bytes(),
            k.data.as_bytes(),
            k.stream.as_bytes(),
            k.ttl.as_bytes(),
            k.nodes.as_bytes(),
            k.prefix.as_bytes(),
            batch.as_bytes(),
            self.maxlen.as_bytes(),
            self.node.as_bytes(),
        ];
        let args: Vec<Vec<u8>> = args.iter().map(|a| a.to_vec()).collect();
        let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        self.command(&refs, Expect::ReapDead);
    }

    fn connect(&mut self, registry: &Registry, now: Instant) {
        let connected = self.addr().and_then(|addr| {
            let cmd = Resp::connect(addr, registry, self.cmd_token)?;
            let feed = Resp::connect(addr, registry, self.feed_token)?;
            Ok((cmd, feed))
        });
        let (cmd, mut feed) = match connected {
            Ok(pair) => pair,
            Err(e) => return self.lost(registry, now, &e.to_string()),
        };
        self.cmd = Some(cmd);
        self.expect.clear();
        self.metrics.sent.clear();
        self.cmd_due = None;
        let mut handshake: Vec<Vec<Vec<u8>>> = Vec::new();
        if let Some(password) = &self.url.password {
            let mut auth = vec![b"AUTH".to_vec()];
            if let Some(user) = &self.url.user {
                auth.push(user.as_bytes().to_vec());
            }
            auth.push(password.as_bytes().to_vec());
            handshake.push(auth);
        }
        if self.url.db != 0 {
            handshake.push(vec![
                b"SELECT".to_vec(),
                self.url.db.to_string().into_bytes(),
            ]);
        }
        for args in &handshake {
            let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
            feed.send(&refs);
            self.command(&refs, Expect::Handshake);
        }
        // The feed's handshake replies are dropped before any stream read
        // is sent on it.
        self.feed_skip = handshake.len();
        self.feed = Some(feed);
        self.reading = None;
        self.command(
            &[b"SCRIPT", b"LOAD", script::WRITE.as_bytes()],
            Expect::ScriptLoad(Script::Write),
        );
        self.command(
            &[b"SCRIPT", b"LOAD", script::REAP_DEAD.as_bytes()],
            Expect::ScriptLoad(Script::ReapDead),
        );
        let (candidate, first) = (fresh_name(), self.first_rev());
        let (epoch, rev) = (self.keys.epoch.clone(), self.keys.rev.clone());
        self.command(
            &[
                b"EVAL",
                script::START.as_bytes(),
                b"2",
                epoch.as_bytes(),
                rev.as_bytes(),
                candidate.as_bytes(),
                first.as_bytes(),
            ],
            Expect::Start,
        );
        self.state = State::Starting;
    }

    /// The connection is lost (or could not be made): every write in flight
    /// fails, the node goes on from its replica, and tries again later.
    fn lost(&mut self, registry: &Registry, now: Instant, why: &str) {
        self.drop_links(registry);
        self.metrics.failures += 1;
        if !self.down_logged {
            self.down_logged = true;
            error!(
                "cannot reach Redis at {}:{}: {why}; writes are refused (unavailable) and reads served from this node's copy until it is back",
                self.url.host, self.url.port
            );
        }
        self.state = State::Down;
        self.retry_at = Some(now + self.backoff);
        self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
    }

    fn drop_links(&mut self, registry: &Registry) {
        for mut link in [self.cmd.take(), self.feed.take()].into_iter().flatten() {
            link.deregister(registry);
        }
        for expect in std::mem::take(&mut self.expect) {
            if let Expect::Write(seq) = expect {
                self.failed.push(seq);
            }
        }
        self.metrics.sent.clear();
        self.cmd_due = None;
        self.reading = None;
        self.write_sha = None;
        self.reap_sha = None;
    }

    /// The replica cannot follow the stream from where it is (a new epoch,
    /// a gap): it loads again from scratch, on fresh connections.
    fn start_over(&mut self, registry: &Registry, now: Instant, why: &str) {
        warn!(
            "{why}: loading the store again from Redis; this node's clients are closed (1012) and resume with since"
        );
        self.loaded = false;
        self.metrics.resyncs += 1;
        self.metrics.reset();
        self.drop_links(registry);
        self.state = State::Down;
        self.retry_at = Some(now);
    }

    /// Writes what is queued on both connections.
    pub fn flush(&mut self, registry: &Registry) {
        let mut failed = None;
        for link in [self.cmd.as_mut(), self.feed.as_mut()]
            .into_iter()
            .flatten()
        {
            if let Err(e) = link.flush(registry) {
                failed = Some(e.to_string());
            }
        }
        if let Some(why) = failed {
            self.lost(registry, Instant::now(), &why);
        }
    }

    /// Handles readiness of one of the cluster's sockets: its replies
    /// become events.
    pub fn on_ready(
        &mut self,
        registry: &Registry,
        token: Token,
        now: Instant,
        on: &mut dyn FnMut(Event<'_>),
    ) {
        self.flush(registry);
        let result = if token == self.cmd_token {
            self.read_cmd(registry, now, on)
        } else {
            self.read_feed(registry, now, on)
        };
        if let Err(why) = result {
            self.lost(registry, now, &why);
        }
        self.report_failed(on);
        self.flush(registry);
    }

    /// Writes lost with their connection: they may or may not have been
    /// made.
    fn report_failed(&mut self, on: &mut dyn FnMut(Event<'_>)) {
        for seq in std::mem::take(&mut self.failed) {
            let why = "lost the connection to the store (Redis): the change may or may not have been made";
            on(Event::Outcome(
                seq,
                Outcome::Failed(ErrorCode::Unavailable, why.into()),
            ));
        }
    }

    /// Redis answered `START`: the epoch, and the revision every change up
    /// to which is in the data.
    fn started(&mut self, epoch: &str, rev: u64, on: &mut dyn FnMut(Event<'_>)) {
        self.backoff = BACKOFF_MIN;
        self.metrics.connections += 1;
        self.metrics.known_rev = self.metrics.known_rev.max(rev);
        if self.down_logged {
            self.down_logged = false;
            info!("Redis at {}:{} is back", self.url.host, self.url.port);
        }
        self.lease_due = Instant::now();
        if self.loaded && self.epoch.as_deref() == Some(epoch) {
            // Back after an outage: what was missed is in the stream.
            self.state = State::CatchingUp {
                target: rev,
                live: true,
            };
            self.read_stream();
            return;
        }
        if self.loaded {
            warn!(
                "the data in Redis was lost or replaced (a new epoch): loading it again; this node's clients are closed (1012) and resume with since"
            );
            self.metrics.resyncs += 1;
        }
        self.metrics.reset();
        // A new epoch may count from anywhere.
        self.metrics.known_rev = rev;
        self.loaded = false;
        self.node = fresh_name();
        self.epoch = Some(epoch.to_string());
        self.stream_pos = rev;
        self.scan_max = rev;
        self.scanned = 0;
        self.cursor = "0".into();
        self.loading_since = Instant::now();
        on(Event::Reset { rev });
        self.state = State::Loading;
        self.scan();
    }

    fn scan(&mut self) {
        let (data, cursor, count) = (
            self.keys.data.clone(),
            self.cursor.clone(),
            BATCH.to_string(),
        );
        self.command(
            &[
                b"HSCAN",
                data.as_bytes(),
                cursor.as_bytes(),
                b"COUNT",
                count.as_bytes(),
            ],
            Expect::Scan,
        );
    }

    /// Sends the next stream read: without blocking while catching up (an
    /// empty answer says the end is reached), blocking once live.
    fn read_stream(&mut self) {
        let Some(feed) = self.feed.as_mut() else {
            return;
        };
        let from = format!("{}-0", self.stream_pos);
        let count = BATCH.to_string();
        let block = FEED_BLOCK_MS.to_string();
        let stream = self.keys.stream.as_bytes();
        if self.state == State::Live {
            feed.send(&[
                b"XREAD",
                b"COUNT",
                count.as_bytes(),
                b"BLOCK",
                block.as_bytes(),
                b"STREAMS",
                stream,
                from.as_bytes(),
            ]);
        } else {
            feed.send(&[
                b"XREAD",
                b"COUNT",
                count.as_bytes(),
                b"STREAMS",
                stream,
                from.as_bytes(),
            ]);
        }
        self.reading = Some(Instant::now());
    }

    fn read_cmd(
        &mut self,
        registry: &Registry,
        now: Instant,
        on: &mut dyn FnMut(Event<'_>),
    ) -> Result<(), String> {
        let mut replies = std::mem::take(&mut self.replies);
        let read = self.cmd.as_mut().map_or(Ok(()), |c| c.read(&mut replies));
        let result = read.map_err(|e| e.to_string()).and_then(|()| {
            for reply in replies.drain(..) {
                let expect = self
                    .expect
                    .pop_front()
                    .ok_or("a reply from Redis that nothing asked for")?;
                self.cmd_due = (!self.expect.is_empty()).then_some(now);
                self.metrics.replied(now);
                self.on_cmd_reply(registry, now, expect, reply, on)?;
                if self.cmd.is_none() {
                    break;
                }
            }
            Ok(())
        });
        replies.clear();
        self.replies = replies;
        result
    }

    fn on_cmd_reply(
        &mut self,
        registry: &Registry,
        now: Instant,
        expect: Expect,
        reply: Reply,
        on: &mut dyn FnMut(Event<'_>),
    ) -> Result<(), String> {
        if let Expect::Write(seq) = expect {
            let outcome = write::outcome(&reply);
            if let Outcome::Done(rev) = outcome {
                self.metrics.written(rev, self.stream_pos, now);
            }
            if let Outcome::Failed(_, why) = &outcome
                && why.contains("NOSCRIPT")
            {
                // The scripts were flushed: load them again on a fresh
                // connection (this write fails; the client may retry).
                self.failed.push(seq);
                self.lost(registry, now, "Redis forgot the scripts (NOSCRIPT)");
                return Ok(());
            }
            on(Event::Outcome(seq, outcome));
            return Ok(());
        }
        if let Reply::Error(e) = &reply {
            if matches!(expect, Expect::Ignore) {
                warn!("Redis refused to refresh this node's lease: {e}");
                return Ok(());
            }
            return Err(format!("Redis refused a command: {e}"));
        }
        match expect {
            Expect::Handshake | Expect::Ignore | Expect::Write(_) => {}
            Expect::ScriptLoad(which) => {
                let sha = text(&reply)
                    .ok_or("SCRIPT LOAD gave no digest")?
                    .to_string();
                match which {
                    Script::Write => self.write_sha = Some(sha),
                    Script::ReapDead => self.reap_sha = Some(sha),
                }
            }
            Expect::Start => {
                let Reply::Array(items) = &reply else {
                    return Err("an unexpected answer to START".into());
                };
                let epoch = items
                    .first()
                    .and_then(text)
                    .ok_or("START gave no epoch")?
                    .to_string();
                let rev = items.get(1).and_then(int).ok_or("START gave no revision")?;
                self.started(&epoch, rev as u64, on);
            }
            Expect::Scan => self.scanned_batch(reply, on)?,
            Expect::ReapDead => {
                if int(&reply).is_some_and(|n| n as usize >= SWEEP_BATCH) {
                    self.sweep();
                }
            }
        }
        Ok(())
    }

    /// A batch of the data: applied if newer; the next batch, or the
    /// stream once the scan is done.
    fn scanned_batch(&mut self, reply: Reply, on: &mut dyn FnMut(Event<'_>)) -> Result<(), String> {
        let Reply::Array(parts) = reply else {
            return Err("an unexpected answer to HSCAN".into());
        };
        let cursor = parts
            .first()
            .and_then(text)
            .ok_or("HSCAN gave no cursor")?
            .to_string();
        if let Some(Reply::Array(items)) = parts.get(1) {
            for pair in items.chunks(2) {
                let (Some(field), Some(value)) =
                    (pair.first().and_then(text), pair.get(1).and_then(text))
                else {
                    continue;
                };
                let Some(change) = feed::stored_change(field, value, &self.node) else {
                    warn!("a value in Redis that kvws did not write was skipped");
                    continue;
                };
                self.scan_max = self.scan_max.max(change.rev());
                self.scanned += 1;
                on(Event::CatchUp(change));
            }
        }
        self.cursor = cursor;
        if self.cursor == "0" {
            self.metrics.known_rev = self.metrics.known_rev.max(self.scan_max);
            self.state = State::CatchingUp {
                target: self.scan_max,
                live: false,
            };
            self.read_stream();
        } else {
            self.scan();
        }
        Ok(())
    }
}
