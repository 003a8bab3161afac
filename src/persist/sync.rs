//! The once-a-second `fdatasync` of `--fsync everysec`, and syncs asked for
//! ahead of a log rotation, on a thread of their own.
//!
//! An `fdatasync` takes from a fraction of a millisecond (SSD) to a hundred
//! milliseconds or more (an SD card under load); made from the poll loop it
//! would stall every client that often. So, as Redis does, a background
//! thread syncs the current log file once a second when something was
//! written, and the loop only flips a flag. The thread touches nothing but
//! that file.
//!
//! Before a rotation the log must be on disk up to its end (see
//! `Log::finish`). Syncing all of it in the loop would stall it for as long
//! as the disk needs to take up to a second of writes (or, with `never`,
//! many); so the loop first asks this thread for a sync and rotates once it
//! is done, when only the last few milliseconds of writes remain.

use std::fs::File;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::metrics::Histogram;

/// How often written data is synced.
pub const INTERVAL: Duration = Duration::from_secs(1);

#[derive(Default)]
struct Shared {
    file: Mutex<Option<File>>,
    dirty: AtomicBool,
    /// Syncs asked for with [`Syncer::request`], and the last of them done.
    requested: AtomicU64,
    done: AtomicU64,
    stop: Mutex<bool>,
    wake: Condvar,
    error: Mutex<Option<io::Error>>,
    /// How long each sync took (for `/metrics`): taken once per sync
    /// here and once per scrape by the loop, never on a request's path.
    latency: Mutex<Histogram>,
}

/// The background syncer.
pub struct Syncer {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Syncer {
    /// Starts syncing `file`: every [`INTERVAL`] while it has unsynced
    /// writes if `periodic` (`everysec`), and whenever asked.
    pub fn start(file: File, periodic: bool) -> io::Result<Syncer> {
        let shared = Arc::new(Shared {
            file: Mutex::new(Some(file)),
            ..Shared::default()
        });
        let worker = shared.clone();
        let thread = std::thread::Builder::new()
            .name("kvws-fsync".into())
            .spawn(move || run(&worker, periodic))?;
        Ok(Syncer {
            shared,
            thread: Some(thread),
        })
    }

    /// Notes that data was written since the last sync.
    pub fn mark_dirty(&self) {
        self.shared.dirty.store(true, Ordering::Release);
    }

    /// Notes that everything written is already synced.
    pub fn clear(&self) {
        self.shared.dirty.store(false, Ordering::Release);
    }

    /// Asks for a sync now; returns a ticket for [`Syncer::is_done`].
    pub fn request(&self) -> u64 {
        let ticket = self.shared.requested.fetch_add(1, Ordering::AcqRel) + 1;
        // Taking the lock orders this with the thread's check before it
        // waits, so the notification cannot be missed.
        drop(self.shared.stop.lock().unwrap_or_else(|e| e.into_inner()));
        self.shared.wake.notify_all();
        ticket
    }

    /// Whether a sync that started after `ticket` was asked for has ended.
    pub fn is_done(&self, ticket: u64) -> bool {
        self.shared.done.load(Ordering::Acquire) >= ticket
    }

    /// Syncs `file` from now on (after a log rotation).
    pub fn switch(&self, file: File) {
        *self.shared.file.lock().unwrap_or_else(|e| e.into_inner()) = Some(file);
    }

    /// How long the syncs made by this thread took.
    pub fn latency(&self) -> Histogram {
        *self
            .shared
            .latency
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// A sync that failed since the last call: the data may not be on disk.
    pub fn take_error(&self) -> Option<io::Error> {
        self.shared
            .error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }
}

fn run(shared: &Shared, periodic: bool) {
    loop {
        let mut stop = shared.stop.lock().unwrap_or_else(|e| e.into_inner());
        let asked =
            |s: &Shared| s.requested.load(Ordering::Acquire) > s.done.load(Ordering::Acquire);
        if !*stop && !asked(shared) {
            stop = if periodic {
                let waited = shared.wake.wait_timeout(stop, INTERVAL);
                waited.unwrap_or_else(|e| e.into_inner()).0
            } else {
                shared.wake.wait(stop).unwrap_or_else(|e| e.into_inner())
            };
        }
        let stopping = *stop;
        drop(stop);
        let ticket = shared.requested.load(Ordering::Acquire);
        let wanted = ticket > shared.done.load(Ordering::Acquire);
        if shared.dirty.swap(false, Ordering::AcqRel) || wanted {
            // Sync a duplicate handle outside the lock, so that a rotation
            // (`switch`) never waits for a sync in progress.
            let file = shared.file.lock().unwrap_or_else(|e| e.into_inner());
            let dup = file.as_ref().map(File::try_clone);
            drop(file);
            let started = Instant::now();
            let synced = dup.map(|f| f.and_then(|f| f.sync_data()));
            if let Some(Err(e)) = synced {
                *shared.error.lock().unwrap_or_else(|e| e.into_inner()) = Some(e);
            } else if synced.is_some() {
                let took = started.elapsed();
                let mut latency = shared.latency.lock().unwrap_or_else(|e| e.into_inner());
                latency.observe(took);
            }
        }
        shared.done.store(ticket, Ordering::Release);
        if stopping {
            return;
        }
    }
}

impl Drop for Syncer {
    fn drop(&mut self) {
        *self.shared.stop.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.shared.wake.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn file(name: &str) -> File {
        let path = std::env::temp_dir().join(format!("kvws-sync-{}-{name}", std::process::id()));
        let file = File::create(&path).unwrap();
        // The open handle keeps working; nothing is left behind.
        std::fs::remove_file(&path).unwrap();
        file
    }

    fn wait_done(s: &Syncer, ticket: u64) {
        let started = Instant::now();
        while !s.is_done(ticket) {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "sync {ticket} never done"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn a_requested_sync_happens_without_the_periodic_one() {
        let s = Syncer::start(file("requested"), false).unwrap();
        let first = s.request();
        wait_done(&s, first);
        // A later request gets a later ticket, not satisfied by the first sync.
        let second = s.request();
        assert!(second > first);
        wait_done(&s, second);
    }

    #[test]
    fn a_request_is_served_before_the_interval_ends() {
        let s = Syncer::start(file("periodic"), true).unwrap();
        let started = Instant::now();
        let ticket = s.request();
        wait_done(&s, ticket);
        assert!(started.elapsed() < INTERVAL, "waited for the periodic sync");
    }
}
