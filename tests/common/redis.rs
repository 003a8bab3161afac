//! A real `redis-server` for the cluster tests: started on a free loopback
//! port with its files in a directory of its own, stopped, restarted and
//! killed on demand, and killed when dropped.
//!
//! Without `redis-server` on the PATH the cluster tests are skipped with a
//! notice, unless `KVWS_REQUIRE_REDIS=1` (as in CI): then they fail.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::daemon::Daemon;

/// A running Redis.
pub struct Redis {
    child: Option<Child>,
    pub port: u16,
    dir: PathBuf,
    args: Vec<String>,
}

fn required() -> bool {
    std::env::var("KVWS_REQUIRE_REDIS").is_ok_and(|v| !v.is_empty() && v != "0")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Redis {
    /// A Redis without persistence, or `None` (the test skips) when there
    /// is no `redis-server` and CI does not require one.
    pub fn start() -> Option<Redis> {
        Redis::start_with(&["--save", "", "--appendonly", "no"])
    }

    /// As [`Redis::start`], with these arguments (persistence, say).
    pub fn start_with(args: &[&str]) -> Option<Redis> {
        if Command::new("redis-server")
            .arg("--version")
            .output()
            .is_err()
        {
            assert!(
                !required(),
                "KVWS_REQUIRE_REDIS is set but redis-server is not installed"
            );
            eprintln!("skipped: redis-server is not installed (apt-get install redis-server)");
            return None;
        }
        let dir =
            std::env::temp_dir().join(format!("kvws-redis-{}-{}", std::process::id(), free_port()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut redis = Redis {
            child: None,
            port: free_port(),
            dir,
            args: args.iter().map(|a| a.to_string()).collect(),
        };
        redis.run();
        Some(redis)
    }

    fn run(&mut self) {
        let mut cmd = Command::new("redis-server");
        cmd.args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--dir", self.dir.to_str().unwrap()])
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: prctl is async-signal-safe, as pre_exec requires.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        self.child = Some(cmd.spawn().expect("spawn redis-server"));
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.cmd(&["PING"]) != "PONG" {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The URL nodes are given.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Runs one command (by `redis-cli`); its output, trimmed.
    pub fn cmd(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Stops it as an operator would (`SHUTDOWN`, which saves if
    /// persistence is on) and waits for the process to end.
    pub fn stop(&mut self) {
        self.cmd(&["SHUTDOWN"]);
        if let Some(mut child) = self.child.take() {
            let _ = child.wait();
        }
    }

    /// Freezes (`SIGSTOP`) or thaws (`SIGCONT`) the process: a Redis that
    /// hangs without closing its connections.
    pub fn freeze(&self, frozen: bool) {
        let pid = self.child.as_ref().expect("running").id() as i32;
        let sig = if frozen { libc::SIGSTOP } else { libc::SIGCONT };
        // SAFETY: a signal to our own child process.
        assert_eq!(unsafe { libc::kill(pid, sig) }, 0);
    }

    /// Starts it again on the same port and files.
    pub fn restart(&mut self) {
        self.stop();
        self.run();
    }

    /// Starts it again after [`Redis::stop`].
    pub fn start_again(&mut self) {
        self.run();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A kvws node in cluster mode (the real binary), once it serves.
pub fn node(redis: &Redis, prefix: &str, extra: &[&str]) -> Daemon {
    let url = redis.url();
    let mut args = vec!["--redis", &url, "--redis-prefix", prefix];
    args.extend_from_slice(extra);
    let daemon = Daemon::start(&args);
    wait_serving(daemon.addr);
    daemon
}

/// Waits until `addr` takes WebSockets (a node answers 503 while it
/// loads the store).
pub fn wait_serving(addr: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(s) = TcpStream::connect(addr)
            && tungstenite::client(format!("ws://{addr}/"), s).is_ok()
        {
            return;
        }
        assert!(Instant::now() < deadline, "{addr} did not start serving");
        std::thread::sleep(Duration::from_millis(20));
    }
}
