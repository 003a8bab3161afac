//! The real binary with `--data-dir`: killed with SIGKILL at random moments
//! it loses no acknowledged write, and a full disk refuses writes instead of
//! losing them, then recovers.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::Client;
use common::daemon::{Daemon, KVWS};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kvws-durable-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Starts `kvws` on a free port with `--fsync always` on `dir`; returns it
/// and its address once it listens.
fn start(dir: &Path, fsize_limit: Option<u64>) -> (Daemon, SocketAddr) {
    let dir = dir.to_str().unwrap();
    let daemon = Daemon::start_with(&["--fsync", "always", "--data-dir", dir], fsize_limit);
    let addr = daemon.addr;
    (daemon, addr)
}

/// Stops the server the way an operator does (SIGTERM) and waits for it.
fn stop(mut daemon: Daemon) {
    daemon.signal(libc::SIGTERM);
    daemon.child.wait().unwrap();
}

/// A small deterministic random sequence (the seed is printed on failure).
struct Rng(u64);

impl Rng {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % below
    }
}

#[test]
fn sigkill_at_random_moments_loses_no_acknowledged_write() {
    let dir = temp_dir("crash");
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let mut rng = Rng(seed);
    let writers = 4;
    let keys = 8;
    // key → (last acknowledged value, last value sent)
    let mut expected: HashMap<String, (u64, u64)> = HashMap::new();
    // Twelve kills, and more (up to 40) until hundreds of writes were
    // acknowledged: a slow disk must not leave the check with nothing to
    // check.
    let acknowledged = |e: &HashMap<String, (u64, u64)>| e.values().map(|e| e.0).sum::<u64>();
    for round in 0..40 {
        if round >= 12 && acknowledged(&expected) > 200 {
            break;
        }
        let (child, addr) = start(&dir, None);
        // Everything acknowledged before is there.
        let mut check = Client::connect(addr);
        for (key, &(acked, sent)) in &expected {
            let (w, k) = key.split_once('/').unwrap();
            check.send(&format!(r#"{{"type":"get","id":"{w}","key":"{k}"}}"#));
            let reply: serde_json::Value = serde_json::from_str(&check.recv()).unwrap();
            let value = reply["value"]
                .as_u64()
                .unwrap_or_else(|| panic!("seed {seed}: {key} lost: {reply}"));
            assert!(
                value >= acked && value <= sent,
                "seed {seed} round {round}: {key} = {value}, acked {acked}, sent {sent}"
            );
        }
        drop(check);
        let handles: Vec<_> = (0..writers)
            .map(|w| {
                let start_at: Vec<u64> = (0..keys)
                    .map(|k| expected.get(&format!("w{w}/k{k}")).map_or(0, |e| e.1))
                    .collect();
                std::thread::spawn(move || {
                    let mut out = HashMap::new();
                    let Ok(mut c) = std::panic::catch_unwind(|| Client::connect(addr)) else {
                        return out;
                    };
                    let mut n = 0u64;
                    loop {
                        let k = n as usize % keys;
                        let value = start_at[k] + n / keys as u64 + 1;
                        let key = format!("w{w}/k{k}");
                        let sent = out.get(&key).map_or(0, |e: &(u64, u64)| e.0);
                        out.insert(key.clone(), (sent, value));
                        if c.inner
                            .send(&format!(
                                r#"{{"type":"set","id":"w{w}","key":"k{k}","value":{value}}}"#
                            ))
                            .is_err()
                        {
                            return out;
                        }
                        match c.inner.next_event(Some(Duration::from_secs(5))) {
                            Ok(Some(e)) if e.kind == "value" => {
                                out.insert(key, (value, value));
                            }
                            _ => return out,
                        }
                        n += 1;
                    }
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(30 + rng.next(300)));
        let mut child = child;
        child.child.kill().unwrap(); // SIGKILL
        child.child.wait().unwrap();
        for h in handles {
            for (key, (acked, sent)) in h.join().unwrap() {
                let e = expected.entry(key).or_insert((0, 0));
                e.0 = e.0.max(acked);
                e.1 = e.1.max(sent);
            }
        }
    }
    // Values count the writes to each key: hundreds were acknowledged.
    let acknowledged = acknowledged(&expected);
    assert!(
        acknowledged > 200,
        "only {acknowledged} writes were acknowledged"
    );
    // A last check after the final kill.
    let (child, addr) = start(&dir, None);
    let mut check = Client::connect(addr);
    for (key, &(acked, sent)) in &expected {
        let (w, k) = key.split_once('/').unwrap();
        check.send(&format!(r#"{{"type":"get","id":"{w}","key":"{k}"}}"#));
        let reply: serde_json::Value = serde_json::from_str(&check.recv()).unwrap();
        let value = reply["value"].as_u64().unwrap_or(0);
        assert!(
            value >= acked && value <= sent,
            "seed {seed}: {key} = {value}, acked {acked}, sent {sent}"
        );
    }
    drop(check);
    stop(child);
}

#[test]
fn a_full_disk_refuses_writes_keeps_reads_and_recovers() {
    let dir = temp_dir("full");
    let (child, addr) = start(&dir, Some(256 << 10));
    let mut c = Client::connect(addr);
    let value = format!("\"{}\"", "v".repeat(1000));
    let mut stored = 0;
    let refused = loop {
        c.send(&format!(
            r#"{{"type":"set","id":"a","key":"k{stored}","value":{value}}}"#
        ));
        let reply = c.recv();
        if reply.contains("error") {
            break reply;
        }
        stored += 1;
        assert!(stored < 1000, "the file size limit never bit");
    };
    assert!(refused.starts_with(r#"{"type":"error","code":"storage_failed","message":"the change could not be written to disk"#), "{refused}");
    assert!(stored > 100, "{stored} writes fit in 256 KiB");
    // The refused change was not applied, and reads still work.
    c.call(
        &format!(r#"{{"type":"get","id":"a","key":"k{stored}"}}"#),
        &[&format!(
            r#"{{"type":"value","id":"a","key":"k{stored}","value":null,"rev":0}}"#
        )],
    );
    c.send(r#"{"type":"get","id":"a","key":"k0"}"#);
    assert!(c.recv().contains("vvvv"));
    // Space comes back: writes succeed again, without a restart.
    let unlimited = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: prlimit on our own child with a struct we own.
    let r = unsafe {
        libc::prlimit(
            child.child.id() as i32,
            libc::RLIMIT_FSIZE,
            &unlimited,
            std::ptr::null_mut(),
        )
    };
    assert_eq!(r, 0);
    c.send(&format!(
        r#"{{"type":"set","id":"a","key":"after","value":{value}}}"#
    ));
    assert!(c.recv().starts_with(r#"{"type":"value""#));
    drop(c);
    stop(child);
    // Everything acknowledged is there after a restart; the refused write is not.
    let (child, addr) = start(&dir, None);
    let mut c = Client::connect(addr);
    for key in ["k0", &format!("k{}", stored - 1), "after"] {
        c.send(&format!(r#"{{"type":"get","id":"a","key":"{key}"}}"#));
        assert!(c.recv().contains("vvvv"), "{key}");
    }
    c.call(
        &format!(r#"{{"type":"get","id":"a","key":"k{stored}"}}"#),
        &[&format!(
            r#"{{"type":"value","id":"a","key":"k{stored}","value":null,"rev":0}}"#
        )],
    );
    drop(c);
    stop(child);
}

#[test]
fn a_second_binary_on_the_same_directory_exits_with_a_reason() {
    let dir = temp_dir("second");
    let (first, _) = start(&dir, None);
    let out = Command::new(KVWS)
        .args(["--port", "0", "--data-dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("in use by another kvws server"), "{stderr}");
    stop(first);
    let started = Instant::now();
    let (again, _) = start(&dir, None);
    assert!(started.elapsed() < Duration::from_secs(5));
    stop(again);
}
