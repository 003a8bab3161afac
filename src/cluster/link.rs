//! The node's connections to Redis: connecting (the handshake, the scripts,
//! `START`), losing them (writes in flight fail, backoff), starting over,
//! and the timers that keep them honest (overdue replies, the lease, the
//! sweep of dead nodes' ephemeral keys).

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

use log::{error, warn};
use mio::Registry;

use super::resp::Resp;
use super::{
    BACKOFF_MAX, Cluster, Expect, FEED_BLOCK_MS, LEASE, LEASE_REFRESH, REPLY_TIMEOUT, SWEEP,
    SWEEP_BATCH, Script, State, fresh_name, script, unix_us,
};

impl Cluster {
    /// The revision a new epoch starts from, should this node start one:
    /// `--start-revision` or the clock in microseconds (as a new single
    /// node's store), and above every revision its clients have seen: so
    /// that revisions do not go backwards even if its clock is behind, and
    /// a client resuming from the lost epoch is always told to resync (its
    /// `since` is below the new history's start).
    pub(super) fn first_rev(&self) -> String {
        let start = self.start_rev.unwrap_or_else(unix_us);
        let seen = if self.epoch.is_some() {
            self.stream_pos + 1
        } else {
            0
        };
        start.max(seen).to_string()
    }

    pub(super) fn addr(&self) -> std::io::Result<SocketAddr> {
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
    pub(super) fn command(&mut self, args: &[&[u8]], expect: Expect) {
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

    pub(super) fn refresh_lease(&mut self) {
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

    pub(super) fn sweep(&mut self) {
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

    pub(super) fn connect(&mut self, registry: &Registry, now: Instant) {
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
        let (seen, known) = match (&self.epoch, self.loaded) {
            (Some(known), true) => (self.stream_pos.to_string(), known.clone()),
            _ => ("0".to_string(), String::new()),
        };
        self.command(
            &[
                b"EVAL",
                script::START.as_bytes(),
                b"2",
                epoch.as_bytes(),
                rev.as_bytes(),
                candidate.as_bytes(),
                first.as_bytes(),
                seen.as_bytes(),
                known.as_bytes(),
            ],
            Expect::Start,
        );
        self.state = State::Starting;
    }

    /// The connection is lost (or could not be made): every write in flight
    /// fails, the node goes on from its replica, and tries again later.
    pub(super) fn lost(&mut self, registry: &Registry, now: Instant, why: &str) {
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

    pub(super) fn drop_links(&mut self, registry: &Registry) {
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
    pub(super) fn start_over(&mut self, registry: &Registry, now: Instant, why: &str) {
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
}
