//! The once-a-second `fdatasync` of `--fsync everysec`, on a thread of its
//! own.
//!
//! An `fdatasync` takes from a fraction of a millisecond (SSD) to a hundred
//! milliseconds or more (an SD card under load); made from the poll loop it
//! would stall every client that often. So, as Redis does, a background
//! thread syncs the current log file once a second when something was
//! written, and the loop only flips a flag. The thread touches nothing but
//! that file.

use std::fs::File;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// How often written data is synced.
pub const INTERVAL: Duration = Duration::from_secs(1);

#[derive(Default)]
struct Shared {
    file: Mutex<Option<File>>,
    dirty: AtomicBool,
    stop: Mutex<bool>,
    wake: Condvar,
    error: Mutex<Option<io::Error>>,
}

/// The background syncer.
pub struct Syncer {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Syncer {
    /// Starts syncing `file` every [`INTERVAL`] while it has unsynced writes.
    pub fn start(file: File) -> io::Result<Syncer> {
        let shared = Arc::new(Shared {
            file: Mutex::new(Some(file)),
            ..Shared::default()
        });
        let worker = shared.clone();
        let thread = std::thread::Builder::new()
            .name("kvws-fsync".into())
            .spawn(move || run(&worker))?;
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

    /// Syncs `file` from now on (after a log rotation).
    pub fn switch(&self, file: File) {
        *self.shared.file.lock().unwrap_or_else(|e| e.into_inner()) = Some(file);
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

fn run(shared: &Shared) {
    loop {
        let stop = shared.stop.lock().unwrap_or_else(|e| e.into_inner());
        let (stop, _) = shared
            .wake
            .wait_timeout(stop, INTERVAL)
            .unwrap_or_else(|e| e.into_inner());
        let stopping = *stop;
        drop(stop);
        if shared.dirty.swap(false, Ordering::AcqRel) {
            let file = shared.file.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(Err(e)) = file.as_ref().map(File::sync_data) {
                *shared.error.lock().unwrap_or_else(|e| e.into_inner()) = Some(e);
            }
        }
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
