//! Compaction in a forked child: the child writes a snapshot of the store
//! as it was at the fork while the parent goes on serving.
//!
//! `fork` copies only page tables; the store's memory is shared copy-on-
//! write, so the pause a client sees is the `fork` itself (measured in the
//! README) rather than the time to write every key. This is how Redis
//! rewrites its AOF. The child closes every descriptor it inherited (so
//! that client sockets closed by the parent really close), writes, syncs,
//! and leaves with `_exit`, running no destructors of the parent's state.

use std::io;
use std::path::Path;
use std::time::Instant;

use super::snapshot;
use crate::store::Store;

/// A snapshot being written by a child process.
pub struct Compaction {
    pid: libc::pid_t,
    /// The log generation that the snapshot precedes.
    pub generation: u64,
    /// When the child started.
    pub started: Instant,
}

impl Compaction {
    /// Forks a child that writes `store` at revision `rev` to `tmp`.
    pub fn start(tmp: &Path, store: &Store, generation: u64, rev: u64) -> io::Result<Compaction> {
        let started = Instant::now();
        // SAFETY: after fork the child only writes a file and calls _exit;
        // it does not return into the server's code.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(io::Error::last_os_error());
        }
        if pid == 0 {
            // SAFETY: close_range and _exit are async-signal-safe.
            unsafe { libc::close_range(3, u32::MAX, 0) };
            let code = match snapshot::write(tmp, store, generation, rev) {
                Ok(_) => 0,
                Err(_) => 1,
            };
            unsafe { libc::_exit(code) };
        }
        Ok(Compaction {
            pid,
            generation,
            started,
        })
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
