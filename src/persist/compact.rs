//! Compaction in a forked child: the child writes a snapshot of the store
//! as it was at the fork while the parent goes on serving.
//!
//! `fork` copies only page tables; the store's memory is shared copy-on-
//! write, so the pause a client sees is the `fork` itself (measured in the
//! README) rather than the time to write every key. This is how Redis
//! rewrites its AOF. The child closes every descriptor it inherited (so
//! that client sockets closed by the parent really close), writes, syncs,
//! and leaves with `_exit`, running no destructors of the parent's state.
//!
//! The child also puts the snapshot in place and removes the logs it
//! covers. Those are slow file-system calls that would otherwise stall
//! the loop: on ext4, unlinking a 400 MB log took 180 ms and the rename
//! over the old snapshot (which frees it) 32 ms. If the child dies between
//! the rename and the removals, recovery removes the covered logs at the
//! next start.

use std::io;
use std::path::Path;
use std::time::Instant;

use super::log::{file_name, sync_dir};
use super::recover::{SNAPSHOT, SNAPSHOT_TMP};
use super::snapshot;
use crate::store::Store;

/// A snapshot being written by a child process.
pub struct Compaction {
    pid: libc::pid_t,
    /// When the child started.
    pub started: Instant,
}

impl Compaction {
    /// Forks a child that writes `store` at revision `rev` as the snapshot
    /// of `dir` preceding log `generation`, then removes the older logs.
    pub fn start(dir: &Path, store: &Store, generation: u64, rev: u64) -> io::Result<Compaction> {
        let started = Instant::now();
        // SAFETY: getpid has no preconditions.
        let parent = unsafe { libc::getpid() };
        // SAFETY: the server has other threads (the background syncer), and
        // after `fork` the child has only this one, so it must not take a
        // lock another thread might have held at the fork. What it does:
        // - it allocates (the snapshot's buffers, path conversions). glibc's
        //   `fork` takes every malloc arena lock before forking and resets
        //   them in the child (as musl's does), so the allocator is never
        //   left locked by the syncer;
        // - it takes no other lock: no logging, no stdio, none of the
        //   syncer's mutexes (it only reads `store`, writes files, and makes
        //   the system calls below);
        // - it never returns into the server's code: it leaves with `_exit`,
        //   running no destructor and no exit handler of the parent's state.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(io::Error::last_os_error());
        }
        if pid == 0 {
            close_inherited();
            die_with(parent);
            let code = match replace_snapshot(dir, store, generation, rev) {
                Ok(()) => 0,
                Err(_) => 1,
            };
            // SAFETY: _exit ends the child without running anything else.
            unsafe { libc::_exit(code) };
        }
        Ok(Compaction { pid, started })
    }

    /// `None` while the child runs; then whether it succeeded.
    pub fn poll(&self) -> Option<Result<(), String>> {
        let mut status = 0;
        // SAFETY: waiting for our own child without blocking.
        let r = unsafe { libc::waitpid(self.pid, &mut status, libc::WNOHANG) };
        match r {
            0 => None,
            r if r < 0 => Some(Err(format!("waitpid: {}", io::Error::last_os_error()))),
            _ if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 => Some(Ok(())),
            _ if libc::WIFEXITED(status) => Some(Err(format!(
                "snapshot writer exited with code {}",
                libc::WEXITSTATUS(status)
            ))),
            _ => Some(Err(format!(
                "snapshot writer killed by signal {}",
                libc::WTERMSIG(status)
            ))),
        }
    }

    /// Stops the child (shutdown) and reaps it.
    pub fn abort(self) {
        // SAFETY: signalling and reaping our own child.
        unsafe {
            libc::kill(self.pid, libc::SIGKILL);
            libc::waitpid(self.pid, std::ptr::null_mut(), 0);
        }
    }
}

/// Closes, in the child, every descriptor it inherited (client sockets
/// above all: a socket the parent closes must really close, not linger in
/// the child until it exits).
fn close_inherited() {
    #[cfg(target_os = "linux")]
    // SAFETY: close_range only closes descriptors; it is async-signal-safe.
    unsafe {
        libc::close_range(3, u32::MAX, 0);
    }
    #[cfg(not(target_os = "linux"))]
    {
        // SAFETY: sysconf has no preconditions; closing descriptors (used
        // or not) is always sound in the child, which uses none of them.
        let max = unsafe { libc::sysconf(libc::_SC_OPEN_MAX) }.clamp(3, 65_536);
        for fd in 3..max as libc::c_int {
            unsafe { libc::close(fd) };
        }
    }
}

/// Makes the child die with the server: a server started on the directory
/// after a crash would race the child's rename and removals. (Checking the
/// parent after arming the signal covers a parent that died before it was
/// armed.) Linux sends it when the forking *thread* ends; a server whose
/// loop moves to another thread mid-compaction loses the snapshot, which
/// is retried, never its data. Elsewhere the child outlives a crashed
/// server by the time it takes to finish the snapshot.
fn die_with(parent: libc::pid_t) {
    #[cfg(target_os = "linux")]
    // SAFETY: prctl, getppid and _exit are async-signal-safe.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        if libc::getppid() != parent {
            libc::_exit(1);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = parent;
}

/// The child's work: the snapshot written, synced and renamed into place,
/// the directory synced, then the logs it covers removed (newest first, so
/// an interrupted removal never leaves a gap before a remaining log).
fn replace_snapshot(dir: &Path, store: &Store, generation: u64, rev: u64) -> io::Result<()> {
    let tmp = dir.join(SNAPSHOT_TMP);
    snapshot::write(&tmp, store, generation, rev)?;
    std::fs::rename(&tmp, dir.join(SNAPSHOT))?;
    sync_dir(dir)?;
    for covered in (0..generation).rev() {
        match std::fs::remove_file(dir.join(file_name(covered))) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => break,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
