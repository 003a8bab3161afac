//! The real `kvws` binary as a child process: started on a free port with
//! the flags a test gives, its memory and CPU read from /proc, killed when
//! dropped so that a failing test leaves no server behind.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};

pub const KVWS: &str = env!("CARGO_BIN_EXE_kvws");

/// A running `kvws`.
pub struct Daemon {
    pub child: Child,
    pub addr: SocketAddr,
    /// Its log lines after the one that says where it listens.
    pub log: std::sync::mpsc::Receiver<String>,
}

impl Daemon {
    /// Starts `kvws --port 0 ARGS`; returns once it listens.
    pub fn start(args: &[&str]) -> Daemon {
        Daemon::start_with(args, None)
    }

    /// As [`Daemon::start`], with a limit on the size of the files it may
    /// write (a full disk, as far as it can tell).
    pub fn start_with(args: &[&str], fsize_limit: Option<u64>) -> Daemon {
        // KVWS_TEST_BIN runs the same attacks against another build (an
        // older release, to see them fail there).
        let bin = std::env::var("KVWS_TEST_BIN").unwrap_or_else(|_| KVWS.to_string());
        let mut cmd = Command::new(bin);
        cmd.args(["--port", "0"]).args(args);
        cmd.stderr(Stdio::piped()).stdout(Stdio::null());
        // SAFETY: prctl and setrlimit are async-signal-safe, as pre_exec requires.
        unsafe {
            cmd.pre_exec(move || {
                // If the test process itself dies, so does its server.
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if let Some(limit) = fsize_limit {
                    let lim = libc::rlimit {
                        rlim_cur: limit,
                        rlim_max: libc::RLIM_INFINITY,
                    };
                    if libc::setrlimit(libc::RLIMIT_FSIZE, &lim) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn().expect("spawn kvws");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let addr = loop {
            let line = lines.next().expect("kvws exited before listening").unwrap();
            let rest = line
                .split("listening on http://")
                .nth(1)
                .or_else(|| line.split("listening on https://").nth(1));
            if let Some(rest) = rest {
                break rest.trim_end_matches('/').parse().unwrap();
            }
        };
        // Keep draining the log so the server never blocks on a full pipe.
        let (tx, log) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Daemon { child, addr, log }
    }

    /// Waits (up to 10 s) for a log line containing `text`; returns it.
    pub fn wait_for_log(&self, text: &str) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.log.recv_timeout(left) {
                Ok(line) if line.contains(text) => return line,
                Ok(_) => continue,
                Err(e) => panic!("no log line with {text:?}: {e}"),
            }
        }
    }

    /// Sends the server a signal.
    pub fn signal(&self, signal: libc::c_int) {
        // SAFETY: kill has no memory-safety preconditions.
        let sent = unsafe { libc::kill(self.child.id() as libc::pid_t, signal) };
        assert_eq!(sent, 0, "kill");
    }

    /// A `/proc/PID/status` field in kB.
    fn status_kb(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find(|l| l.starts_with(field))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }

    /// Resident memory now, in bytes.
    pub fn rss(&self) -> u64 {
        self.status_kb("VmRSS:") * 1024
    }

    /// The most resident memory so far, in bytes.
    pub fn peak_rss(&self) -> u64 {
        self.status_kb("VmHWM:") * 1024
    }

    /// CPU time used so far (user and system), in seconds.
    pub fn cpu_secs(&self) -> f64 {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map_or(vec![], |(_, r)| r.split_whitespace().collect());
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
        (ticks(11) + ticks(12)) / hz
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A secret file (mode 600) for `--secret-file`, and a manager token
/// signed with it, valid for an hour.
pub fn secret(name: &str) -> (std::path::PathBuf, String) {
    use std::os::unix::fs::PermissionsExt;
    let secret = b"an attack test's secret, 32 bytes or more";
    let dir = std::env::temp_dir().join(format!("kvws-attack-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("secret");
    std::fs::write(&path, secret).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = kvws::auth::Claims {
        role: kvws::auth::Role::Manager,
        ids: vec![],
        access: kvws::auth::Access::ReadWrite,
        exp: now + 3600,
        nbf: None,
    };
    (path, kvws::auth::mint(secret, &claims))
}

/// A WebSocket over a raw socket (handshake done), for writing frames by hand.
pub fn raw(addr: SocketAddr) -> std::net::TcpStream {
    let s = super::raw_ws(addr);
    s.set_read_timeout(None).unwrap();
    s.set_write_timeout(Some(std::time::Duration::from_secs(2)))
        .unwrap();
    s
}

/// Reads and drops everything a socket receives until it closes; returns
/// the bytes read.
pub fn drain(mut s: std::net::TcpStream) -> std::thread::JoinHandle<u64> {
    use std::io::Read;
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0;
        while let Ok(n) = s.read(&mut buf) {
            if n == 0 {
                break;
            }
            total += n as u64;
        }
        total
    })
}

/// Writes `chunk` over and over for `secs` seconds (or until the server
/// stops taking it); returns the bytes written.
pub fn flood(s: &mut std::net::TcpStream, chunk: &[u8], secs: f64) -> u64 {
    use std::io::Write;
    let end = std::time::Instant::now() + std::time::Duration::from_secs_f64(secs);
    let mut sent = 0;
    while std::time::Instant::now() < end {
        if s.write_all(chunk).is_err() {
            break;
        }
        sent += chunk.len() as u64;
    }
    sent
}
