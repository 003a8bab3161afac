//! The process's own figures under the names every Prometheus client
//! library uses (`process_*`), so that stock dashboards and alerts apply:
//! CPU time, resident memory, open descriptors and their limit, start time.
//! Read from `/proc/self` when the page is asked for (Linux only; elsewhere
//! the families are left out).

use super::Exposition;

/// Writes the `process_*` families.
pub fn write(out: &mut Exposition) {
    #[cfg(target_os = "linux")]
    linux::write(out);
    #[cfg(not(target_os = "linux"))]
    let _ = out;
}

#[cfg(target_os = "linux")]
mod linux {
    use super::Exposition;

    pub fn write(out: &mut Exposition) {
        // SAFETY: sysconf has no preconditions.
        let (ticks, page) = unsafe {
            (
                libc::sysconf(libc::_SC_CLK_TCK).max(1) as f64,
                libc::sysconf(libc::_SC_PAGESIZE).max(1) as u64,
            )
        };
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
        // Fields after the command name, which may hold spaces: state is
        // field 3, utime 14, stime 15, starttime 22, rss 24 (proc(5)).
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map_or(vec![], |(_, rest)| rest.split_whitespace().collect());
        let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
        if let (Some(user), Some(system)) = (field(14), field(15)) {
            out.counter(
                "process_cpu_seconds_total",
                "CPU time the process used, user and system, in seconds.",
                (user + system) as f64 / ticks,
            );
        }
        if let Some(pages) = field(24) {
            out.gauge(
                "process_resident_memory_bytes",
                "Resident memory of the process in bytes.",
                pages * page,
            );
        }
        if let (Some(start), Some(boot)) = (field(22), boot_time()) {
            out.gauge(
                "process_start_time_seconds",
                "When the process started, in seconds since the Unix epoch.",
                boot as f64 + start as f64 / ticks,
            );
        }
        if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
            out.gauge(
                "process_open_fds",
                "File descriptors the process holds open.",
                dir.count(),
            );
        }
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit only writes the struct we pass.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 {
            out.gauge(
                "process_max_fds",
                "The process's limit on open file descriptors.",
                lim.rlim_cur,
            );
        }
    }

    /// The system's boot time in seconds since the epoch (`btime`).
    fn boot_time() -> Option<u64> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        stat.lines()
            .find_map(|l| l.strip_prefix("btime "))
            .and_then(|v| v.trim().parse().ok())
    }
}
