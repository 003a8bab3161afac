//! Running out of file descriptors must not spin the loop: `accept` failing
//! with EMFILE backs off, and service resumes once descriptors free up.
//!
//! This test lowers the process's open-file limit, so it lives in a file
//! of its own (its own process) with a single test.

mod common;

use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::TestServer;

fn cpu_time() -> Duration {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage fills the struct we pass.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

fn open_fds() -> u64 {
    std::fs::read_dir("/proc/self/fd").unwrap().count() as u64
}

fn set_fd_limit(n: u64) -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain getrlimit/setrlimit on a struct we own.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        let old = lim.rlim_cur;
        lim.rlim_cur = n;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
        old
    }
}

#[test]
fn accept_failing_with_emfile_neither_spins_nor_stops_the_server() {
    let server = TestServer::start();
    let mut served = server.client();
    served.expect_nothing_before_marker();

    // Leave a handful of descriptors, then use them all up with connections
    // the server cannot accept: each one waits in the listen backlog.
    let old_limit = set_fd_limit(open_fds() + 8);
    let mut pending = Vec::new();
    while let Ok(s) = TcpStream::connect(server.addr) {
        pending.push(s);
        if pending.len() > 100 {
            break;
        }
    }
    assert!(!pending.is_empty());

    // The listener stays readable while accept fails; a loop that retried at
    // once would burn a whole core here.
    let (wall, cpu) = (Instant::now(), cpu_time());
    std::thread::sleep(Duration::from_millis(600));
    let busy = (cpu_time() - cpu).as_secs_f64() / wall.elapsed().as_secs_f64();
    assert!(
        busy < 0.25,
        "the process used {:.0}% of a core while accept failed",
        busy * 100.0
    );

    // The connection that was already open is still served meanwhile.
    served.expect_nothing_before_marker();

    // Free the descriptors: the waiting connections are accepted and new
    // clients are served again.
    drop(pending);
    set_fd_limit(old_limit);
    let mut fresh = server.client();
    fresh.expect_nothing_before_marker();
}
