//! What the cluster link counts, and its families on `/metrics`: Redis's
//! round-trip time, how far this node's copy lags behind Redis, and how
//! often the link was lost, made again, or the copy loaded from scratch.
//!
//! Lag is measured two ways. In revisions: the newest revision this node
//! knows Redis has (from `START`, the scan and its own writes' replies)
//! less the last one it applied from the stream. In time: for this node's
//! own writes, from Redis's reply (the change is made) to the moment the
//! stream brings it back and it is applied here; a write's reply to its
//! client waits for exactly that, so this is the part of a write's
//! latency that replication adds.

use std::collections::VecDeque;
use std::time::Instant;

use super::Cluster;
use crate::metrics::{Exposition, Histogram};

/// Own writes waiting to come back through the stream, at most: when the
/// stream stalls, older entries are dropped rather than grow without bound
/// (the lag in revisions still shows it).
const MAX_WAITING: usize = 4096;

#[derive(Debug, Default)]
pub(super) struct LinkMetrics {
    /// When each command awaiting its reply on `cmd` was sent (in step
    /// with `Cluster::expect`).
    pub sent: VecDeque<Instant>,
    pub roundtrip: Histogram,
    /// Links made (Redis answered `START`).
    pub connections: u64,
    /// Links lost, or that could not be made.
    pub failures: u64,
    /// Times the copy was loaded again from scratch (a new epoch, a gap
    /// in the stream) after the first load.
    pub resyncs: u64,
    /// The newest revision known to be in Redis.
    pub known_rev: u64,
    /// This node's writes made in Redis and not yet applied here:
    /// (revision, when Redis replied).
    waiting: VecDeque<(u64, Instant)>,
    pub apply_lag: Histogram,
}

impl LinkMetrics {
    /// A reply on `cmd` arrived: its round trip.
    pub fn replied(&mut self, now: Instant) {
        if let Some(sent) = self.sent.pop_front() {
            self.roundtrip.observe(now.saturating_duration_since(sent));
        }
    }

    /// This node's write was made in Redis with revision `rev`; the
    /// stream has been applied up to `applied`.
    pub fn written(&mut self, rev: u64, applied: u64, now: Instant) {
        self.known_rev = self.known_rev.max(rev);
        if rev <= applied {
            // The stream (another connection) brought it back before the
            // reply to the write arrived: no lag at all.
            self.apply_lag.observe_ns(0);
            return;
        }
        if self.waiting.len() == MAX_WAITING {
            self.waiting.pop_front();
        }
        self.waiting.push_back((rev, now));
    }

    /// The stream was applied up to `rev`.
    pub fn applied(&mut self, rev: u64, now: Instant) {
        while let Some(&(r, at)) = self.waiting.front() {
            if r > rev {
                break;
            }
            self.apply_lag.observe(now.saturating_duration_since(at));
            self.waiting.pop_front();
        }
    }

    /// The copy starts over: writes awaited from the old stream will not
    /// come.
    pub fn reset(&mut self) {
        self.waiting.clear();
    }
}

impl Cluster {
    /// Writes the cluster's families.
    pub fn write_metrics(&self, out: &mut Exposition) {
        let m = &self.metrics;
        out.gauge(
            "kvws_cluster_redis_up",
            "1 while this node's link to Redis is up.",
            self.up(),
        );
        out.gauge(
            "kvws_cluster_loaded",
            "1 once this node's copy of the store is loaded from Redis and caught up.",
            self.loaded,
        );
        out.histogram(
            "kvws_cluster_redis_roundtrip_seconds",
            "Time from sending a command to Redis (a write, a scan, the lease) to its reply.",
            &m.roundtrip,
        );
        out.gauge(
            "kvws_cluster_applied_revision",
            "The last revision applied here from Redis's stream.",
            self.stream_pos,
        );
        out.gauge(
            "kvws_cluster_replication_lag_revisions",
            "Revisions known to be in Redis and not yet applied here.",
            m.known_rev.saturating_sub(self.stream_pos),
        );
        out.histogram(
            "kvws_cluster_apply_lag_seconds",
            "For this node's writes: from Redis's reply (the change is made) to its application here from the stream.",
            &m.apply_lag,
        );
        out.counter(
            "kvws_cluster_redis_connections_total",
            "Links to Redis made (the first, and every reconnection).",
            m.connections,
        );
        out.counter(
            "kvws_cluster_redis_failures_total",
            "Links to Redis lost, or that could not be made.",
            m.failures,
        );
        out.counter(
            "kvws_cluster_resyncs_total",
            "Times this node loaded the store again from scratch (a new epoch in Redis, a gap in the stream); its clients were closed with 1012.",
            m.resyncs,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn own_writes_are_timed_until_applied_and_the_wait_is_bounded() {
        let mut m = LinkMetrics::default();
        let t0 = Instant::now();
        m.written(5, 0, t0);
        m.written(7, 0, t0);
        m.applied(6, t0 + Duration::from_millis(3));
        assert_eq!(m.apply_lag.count(), 1);
        assert_eq!(m.known_rev, 7);
        for rev in 10..10 + MAX_WAITING as u64 {
            m.written(rev, 7, t0);
        }
        assert_eq!(m.waiting.len(), MAX_WAITING);
        m.applied(u64::MAX, t0);
        assert_eq!(m.apply_lag.count(), 1 + MAX_WAITING as u64);
        // Applied before its reply came: counted, with no lag.
        m.written(3, 9, t0);
        assert_eq!(m.apply_lag.count(), 2 + MAX_WAITING as u64);
    }
}
