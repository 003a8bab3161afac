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
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mio::{Registry, Token};

use crate::change::Change;
use crate::engine::Outcome;
use crate::protocol::ErrorCode;

mod cmd;
mod feed;
mod link;
mod load;
mod metrics;
mod resp;
pub mod script;
mod url;
mod write;

pub use url::RedisUrl;

use resp::{Reply, Resp};

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
    /// A change from the stream, the next in revision order, and the
    /// proposal of this node it decides, if any.
    Apply(Change<'a>, Option<u64>),
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
}
