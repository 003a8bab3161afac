//! Optional persistence: a write-ahead log plus snapshots in a data
//! directory (`--data-dir`), so that no acknowledged write is lost.
//!
//! ```text
//! DIR/lock                   record lock held while a server uses DIR
//! DIR/snapshot.kvws          every durable key at some revision R
//! DIR/wal-0000000007.log     the changes after R, in order
//! DIR/wal-0000000008.log     ... continued after a compaction started
//! ```
//!
//! Every change is appended to the log before its reply and notifications
//! leave the server (see [`log`] for group commit and the fsync policies).
//! When the log outgrows the data it describes, a compaction snapshots the
//! store from a forked child ([`compact`]) and starts a new log; older logs
//! are deleted once the snapshot is safely renamed into place. Start-up loads
//! the snapshot and replays the logs ([`recover`]), cutting off a write torn
//! by a crash and refusing to start on damage, which `--repair` cuts off.
//!
//! The files are in format version 2 ([`record`]), in which every record
//! checks its own length and ends in a non-zero byte, so that recovery can
//! tell the zeros a crash leaves from damage. Version 1 files (the previous
//! release) are still read; new changes never go into one: they start a new
//! log generation, and the next compaction writes a version 2 snapshot.

use std::io;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use ::log::{error, info, warn};

use crate::change::{Change, Journal};
use crate::store::Store;

pub mod compact;
mod lock;
pub mod log;
mod map;
mod metrics;
pub mod record;
pub mod recover;
pub mod snapshot;
mod sync;

use self::log::Log;
pub use crate::config::Fsync;
use compact::Compaction;
use lock::DirLock;
use metrics::WalMetrics;
use record::Record;
use recover::{SNAPSHOT_TMP, Tail};
use sync::Syncer;

/// How long to wait before retrying a compaction that failed.
const COMPACTION_RETRY: Duration = Duration::from_secs(60);
/// How often the loop's calls to `maintain` look at the log's size and the
/// compaction child: often enough to react within a few milliseconds,
/// rarely enough to cost nothing per step.
const CHECK_EVERY: Duration = Duration::from_millis(10);

/// Persistence settings (from [`Config`](crate::Config)).
#[derive(Clone, Debug)]
pub struct Options {
    /// The data directory.
    pub dir: PathBuf,
    /// When writes reach the disk.
    pub fsync: Fsync,
    /// Cut a damaged log at its first bad record instead of refusing to start.
    pub repair: bool,
    /// Logs smaller than this are never compacted.
    pub compact_min: u64,
    /// Compact when the logs exceed this many times the live data.
    pub compact_factor: u64,
}

/// The journal over a data directory.
pub struct Persistence {
    options: Options,
    _lock: DirLock,
    log: Log,
    /// Syncs in the background: every second with `everysec`, and ahead of
    /// a rotation with `everysec` and `never` (`always` syncs every commit).
    syncer: Option<Syncer>,
    /// The background sync a compaction waits for before rotating.
    presync: Option<u64>,
    next_check: Instant,
    compaction: Option<Compaction>,
    /// Bytes in older log generations not yet covered by a snapshot.
    older_logs: u64,
    retry_after: Option<Instant>,
    /// Revisions of changes with no durable effect that could not be
    /// written yet (disk full); written first when space returns.
    pending_skips: Vec<u64>,
    refusing: bool,
    metrics: WalMetrics,
}

impl Persistence {
    /// Locks `options.dir`, hands every change it holds to `restore`, in
    /// order, and opens the log for appending. Returns the journal and the
    /// store's revision (the stored one, or `seed_rev` for a new directory).
    pub fn open(
        options: Options,
        seed_rev: u64,
        restore: &mut dyn FnMut(&Change),
    ) -> Result<(Persistence, u64), String> {
        let dir = &options.dir;
        if dir.exists() && !dir.is_dir() {
            return Err(format!(
                "{} is not a directory: the data directory must be one (it is created if missing)",
                dir.display()
            ));
        }
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let lock = DirLock::acquire(dir)?;
        // A file size limit must fail writes (EFBIG), not kill the server.
        // SAFETY: ignoring a signal is always sound.
        unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
        let started = Instant::now();
        let recovered = recover::recover(dir, options.repair, &mut |r| {
            if let Some(change) = r.as_change() {
                restore(&change);
            }
        })?;
        let rev = recovered.rev.unwrap_or(seed_rev);
        let opened = |e: io::Error| format!("cannot open the log in {}: {e}", dir.display());
        let log = match &recovered.tail {
            Tail::Append {
                generation,
                path,
                end,
            } => Log::reopen(path, *generation, *end).map_err(opened)?,
            Tail::Create { generation } => Log::create(dir, *generation, rev).map_err(opened)?,
        };
        if recovered.rev.is_some() {
            info!(
                "recovered {} keys from the snapshot and {} logged changes in {:?} (revision {rev})",
                recovered.snapshot_keys,
                recovered.records,
                started.elapsed()
            );
        }
        let syncer = match options.fsync {
            Fsync::Always => None,
            policy => Some(
                Syncer::start(log.file().map_err(opened)?, policy == Fsync::EverySec)
                    .map_err(opened)?,
            ),
        };
        let older_logs = match &recovered.tail {
            Tail::Append { end, .. } => recovered.log_bytes - end,
            Tail::Create { .. } => recovered.log_bytes,
        };
        let journal = Persistence {
            options,
            _lock: lock,
            log,
            syncer,
            presync: None,
            next_check: Instant::now(),
            compaction: None,
            older_logs,
            retry_after: None,
            pending_skips: Vec::new(),
            refusing: false,
            metrics: WalMetrics::default(),
        };
        Ok((journal, rev))
    }

    fn start_compaction(&mut self, store: &Store, rev: u64) -> io::Result<()> {
        let dir = self.options.dir.clone();
        let synced = Instant::now();
        self.log.finish(self.syncer.as_ref())?;
        self.metrics.fsync.observe(synced.elapsed());
        let next = Log::create(&dir, self.log.generation() + 1, rev)?;
        let old = std::mem::replace(&mut self.log, next);
        self.older_logs += old.len();
        if let Some(s) = &self.syncer {
            s.switch(self.log.file()?);
        }
        let paused = Instant::now();
        self.compaction = Some(Compaction::start(&dir, store, self.log.generation(), rev)?);
        self.metrics.fork.observe(paused.elapsed());
        info!(
            "compacting {} bytes of log into a snapshot of {} keys (fork took {:?})",
            self.older_logs,
            store.len(),
            paused.elapsed()
        );
        Ok(())
    }

    fn write_pending_skips(&mut self) -> Result<(), String> {
        while let Some(&rev) = self.pending_skips.first() {
            self.log
                .append(&Record::Skip { rev }, true)
                .map_err(|e| e.to_string())?;
            self.pending_skips.remove(0);
        }
        Ok(())
    }
}

impl Journal for Persistence {
    fn record(&mut self, change: &Change, automatic: bool) -> Result<(), String> {
        let record = Record::of(change);
        let before = self.log.len();
        let result = self.write_pending_skips().and_then(|()| {
            self.log
                .append(&record, automatic)
                .map_err(|e| e.to_string())
        });
        match result {
            Ok(()) => {
                self.metrics.appends += 1;
                self.metrics.bytes += self.log.len() - before;
                if std::mem::take(&mut self.refusing) {
                    info!("writes to {} succeed again", self.options.dir.display());
                }
                Ok(())
            }
            // A change with no durable effect must still happen (its key's
            // owner is gone); its revision is written as soon as it can be.
            Err(_) if matches!(record, Record::Skip { .. }) => {
                self.pending_skips.push(change.rev());
                Ok(())
            }
            Err(e) => {
                if !std::mem::replace(&mut self.refusing, true) {
                    error!(
                        "cannot write to {}: {e}; refusing changes until space is available",
                        self.options.dir.display()
                    );
                }
                Err(e)
            }
        }
    }

    fn commit(&mut self) -> io::Result<()> {
        if let Some(e) = self.syncer.as_ref().and_then(Syncer::take_error) {
            return Err(io::Error::new(
                e.kind(),
                format!("background fsync failed: {e}"),
            ));
        }
        let had_data = self.log.pending() > 0;
        self.log.commit(false)?;
        if had_data && self.options.fsync == Fsync::Always {
            // Group commit: one sync for the step's changes, timed alone
            // (the write before it goes to the page cache).
            let synced = Instant::now();
            self.log.sync()?;
            self.metrics.fsync.observe(synced.elapsed());
        }
        if let Some(s) = &self.syncer
            && had_data
            && self.options.fsync == Fsync::EverySec
        {
            s.mark_dirty();
        }
        Ok(())
    }

    fn maintain(&mut self, store: &Store, rev: u64) {
        // Rotate as soon as the background sync asked for is done, while
        // little has been written since.
        if let Some(ticket) = self.presync {
            if self.syncer.as_ref().is_some_and(|s| !s.is_done(ticket)) {
                return;
            }
            self.presync = None;
            if let Err(e) = self.start_compaction(store, rev) {
                warn!("cannot start a compaction: {e}; retrying in {COMPACTION_RETRY:?}");
                self.metrics.compactions_failed += 1;
                self.retry_after = Some(Instant::now() + COMPACTION_RETRY);
            }
            return;
        }
        // Called every loop step: look no more often than needed.
        let now = Instant::now();
        if now < self.next_check {
            return;
        }
        self.next_check = now + CHECK_EVERY;
        if let Some(c) = &self.compaction {
            match c.poll() {
                None => return,
                Some(Ok(())) => {
                    info!("compaction done in {:?}", c.started.elapsed());
                    self.metrics.compactions_ok += 1;
                    self.older_logs = 0;
                }
                Some(Err(e)) => {
                    self.metrics.compactions_failed += 1;
                    // Either the snapshot was not renamed into place (the
                    // logs still hold everything) or it was and only some
                    // covered logs remain, which the next start removes.
                    warn!(
                        "compaction failed: {e}; no data is lost, retrying in {COMPACTION_RETRY:?}"
                    );
                    let _ = std::fs::remove_file(self.options.dir.join(SNAPSHOT_TMP));
                    self.retry_after = Some(now + COMPACTION_RETRY);
                }
            }
            self.compaction = None;
            return;
        }
        let logs = self.older_logs + self.log.len();
        let threshold = self.options.compact_min.max(
            self.options
                .compact_factor
                .saturating_mul(store.bytes() as u64),
        );
        if logs < threshold || self.retry_after.is_some_and(|t| now < t) {
            return;
        }
        self.retry_after = None;
        match &self.syncer {
            // Have the bulk of the log synced in the background first, so
            // that the rotation only syncs the last few milliseconds.
            Some(s) => self.presync = Some(s.request()),
            // With `always` every commit was synced already.
            None => {
                if let Err(e) = self.start_compaction(store, rev) {
                    warn!("cannot start a compaction: {e}; retrying in {COMPACTION_RETRY:?}");
                    self.metrics.compactions_failed += 1;
                    self.retry_after = Some(now + COMPACTION_RETRY);
                }
            }
        }
    }

    fn write_metrics(&self, out: &mut crate::metrics::Exposition) {
        self.write_wal_metrics(out);
    }

    fn close(&mut self) -> io::Result<()> {
        if let Some(c) = self.compaction.take() {
            c.abort();
            let _ = std::fs::remove_file(self.options.dir.join(SNAPSHOT_TMP));
        }
        self.log.finish(self.syncer.as_ref())
    }
}
