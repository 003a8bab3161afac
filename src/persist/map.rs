//! A read-only memory map of a file, for recovery: the log and snapshot
//! are read in place from the page cache instead of being copied onto the
//! heap (a log can be several times the size of the data it holds).

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;

/// A file mapped read-only; unmapped on drop.
pub struct Map {
    ptr: *mut libc::c_void,
    len: usize,
}

impl Map {
    /// Maps all of `file` (an empty file maps to an empty slice).
    pub fn new(file: &File) -> io::Result<Map> {
        let len = usize::try_from(file.metadata()?.len()).map_err(io::Error::other)?;
        if len == 0 {
            return Ok(Map {
                ptr: std::ptr::null_mut(),
                len: 0,
            });
        }
        // SAFETY: a fresh read-only, private mapping of a file we opened;
        // the data directory is locked, so nobody truncates it meanwhile.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_PRIVATE,
                file.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Map { ptr, len })
    }

    /// The file's bytes.
    pub fn bytes(&self) -> &[u8] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: `ptr` maps `len` readable bytes for as long as `self` lives.
        unsafe { std::slice::from_raw_parts(self.ptr as *const u8, self.len) }
    }
}

impl Drop for Map {
    fn drop(&mut self) {
        if self.len > 0 {
            // SAFETY: unmapping exactly what `new` mapped.
            unsafe { libc::munmap(self.ptr, self.len) };
        }
    }
}
