//! What the write-ahead log counts, and its families on `/metrics`.

use super::Persistence;
use crate::metrics::{Exposition, Histogram, Kind};

/// The log's counters, kept by the loop (the background syncer keeps its
/// own latency histogram, merged in when the page is written).
#[derive(Debug, Default)]
pub(super) struct WalMetrics {
    /// Records appended.
    pub appends: u64,
    /// Bytes appended to log files.
    pub bytes: u64,
    /// Syncs made by the loop: every commit with `--fsync always`, and the
    /// end of a log at each rotation.
    pub fsync: Histogram,
    /// Compactions that finished, and that failed (to start or to finish).
    pub compactions_ok: u64,
    pub compactions_failed: u64,
    /// How long the `fork` of each compaction stopped the loop.
    pub fork: Histogram,
}

impl Persistence {
    /// The log's families (see [`crate::change::Journal::write_metrics`]).
    pub(super) fn write_wal_metrics(&self, out: &mut Exposition) {
        let m = &self.metrics;
        out.counter(
            "kvws_wal_appends_total",
            "Records appended to the write-ahead log.",
            m.appends,
        );
        out.counter(
            "kvws_wal_written_bytes_total",
            "Bytes appended to the write-ahead log.",
            m.bytes,
        );
        out.gauge(
            "kvws_wal_log_bytes",
            "Bytes in the log files not yet covered by a snapshot (compaction starts past --compact-min and --compact-factor times the data).",
            self.older_logs + self.log.len(),
        );
        let mut fsync = m.fsync;
        if let Some(s) = &self.syncer {
            fsync.merge(&s.latency());
        }
        out.histogram(
            "kvws_wal_fsync_duration_seconds",
            "How long each fdatasync of the log took: in the loop with --fsync always and at rotations, in the background syncer otherwise.",
            &fsync,
        );
        out.family(
            "kvws_wal_compactions_total",
            Kind::Counter,
            "Compactions of the log into a snapshot, by result.",
        );
        out.sample(
            "kvws_wal_compactions_total",
            &[("result", "ok")],
            m.compactions_ok,
        );
        out.sample(
            "kvws_wal_compactions_total",
            &[("result", "failed")],
            m.compactions_failed,
        );
        out.gauge(
            "kvws_wal_compaction_running",
            "1 while a forked child writes a snapshot.",
            self.compaction.is_some(),
        );
        out.histogram(
            "kvws_wal_compaction_fork_duration_seconds",
            "How long each compaction's fork stopped the loop: the only pause compaction causes.",
            &m.fork,
        );
        out.gauge(
            "kvws_wal_refusing_writes",
            "1 while the disk refuses writes (full, or a lost permission): changes get storage_failed.",
            self.refusing,
        );
    }
}
