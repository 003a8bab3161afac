//! What the load generator asks of the operating system: enough file
//! descriptors, and the memory and CPU time of processes (Linux `/proc`).

use std::io;
use std::time::Duration;

/// Makes sure this process may open `more` descriptors beyond those open
/// now: raises the soft RLIMIT_NOFILE when it is too low. It raises it all
/// the way to the hard limit, because the process may hold other sockets
/// too (the in-process server of the benchmarks shares the limit). Fails,
/// saying so, when the hard limit itself is too low.
pub fn ensure_open_files(more: usize) -> io::Result<()> {
    let open = std::fs::read_dir("/proc/self/fd").map_or(16, |d| d.count());
    let wanted = (open + more + 64) as libc::rlim_t;
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return Err(io::Error::last_os_error());
        }
        if lim.rlim_cur >= wanted {
            return Ok(());
        }
        if lim.rlim_max < wanted {
            return Err(io::Error::other(format!(
                "{more} connections need about {wanted} open files, but the hard limit is {} \
                 (raise it, e.g. ulimit -Hn {wanted} as root)",
                lim.rlim_max
            )));
        }
        lim.rlim_cur = lim.rlim_max;
        if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    log::info!("raised the open-file limit to {}", lim.rlim_cur);
    Ok(())
}

/// The resident memory of process `pid` in bytes (VmRSS in
/// `/proc/PID/status`), or `None` if it cannot be read.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_vmrss(&status)
}

fn parse_vmrss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line["VmRSS:".len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// The CPU time (user + system) process `pid` has used, from
/// `/proc/PID/stat`, or `None` if it cannot be read.
pub fn cpu_time_of(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    parse_stat_ticks(&stat).map(|t| Duration::from_secs_f64(t as f64 / ticks.max(1) as f64))
}

fn parse_stat_ticks(stat: &str) -> Option<u64> {
    // The command name (field 2) may hold spaces and parentheses: count
    // fields after the last ')'. utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// The CPU time (user + system) this process has used.
pub fn own_cpu_time() -> Duration {
    // SAFETY: getrusage only writes the struct we pass.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_files() {
        let status = "Name:\tkvws\nVmPeak:\t  9000 kB\nVmRSS:\t    5120 kB\nThreads: 1\n";
        assert_eq!(parse_vmrss(status), Some(5120 * 1024));
        assert_eq!(parse_vmrss("Name: x\n"), None);
        let stat = "42 (a) b) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0";
        assert_eq!(parse_stat_ticks(stat), Some(300));
    }

    #[test]
    fn reads_this_process() {
        let me = std::process::id();
        assert!(rss_bytes(me).is_some_and(|b| b > 0));
        assert!(cpu_time_of(me).is_some());
        assert!(rss_bytes(u32::MAX).is_none());
        ensure_open_files(10).unwrap();
    }
}
