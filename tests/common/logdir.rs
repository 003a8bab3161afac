//! A data directory for the log damage tests (`tests/log_damage*.rs`):
//! made fresh, written to by a real server, its logs and records found,
//! and a start-up on it that must be refused.

use std::path::{Path, PathBuf};

use kvws::Config;
use kvws::persist::Fsync;
use kvws::persist::record::{HEADER_LEN, Read, read};

use super::TestServer;

/// A fresh, empty directory for the test `name`.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kvws-damage-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `--data-dir DIR --fsync always`.
pub fn config(dir: &Path) -> Config {
    Config::default()
        .data_dir(Some(dir.to_path_buf()))
        .fsync(Fsync::Always)
}

/// The `rev` of a reply.
pub fn rev_of(reply: &str) -> u64 {
    let v: serde_json::Value = serde_json::from_str(reply).unwrap();
    v["rev"]
        .as_u64()
        .unwrap_or_else(|| panic!("no rev in {reply}"))
}

/// The log files of `dir`, oldest first.
pub fn log_files(dir: &Path) -> Vec<PathBuf> {
    let mut logs: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    logs.sort();
    logs
}

/// Sets `k0`..`k{n-1}` on a server with `--fsync always` and stops it
/// cleanly; returns the last revision.
pub fn write_keys(dir: &Path, n: usize) -> u64 {
    let s = TestServer::exactly(config(dir));
    let mut c = s.client();
    let mut rev = 0;
    for i in 0..n {
        c.send(&format!(
            r#"{{"type":"set","id":"a","key":"k{i}","value":"{}"}}"#,
            "v".repeat(40 + i)
        ));
        rev = rev_of(&c.recv());
    }
    drop(c);
    s.stop();
    rev
}

/// The offsets and lengths of the records of a log.
pub fn records(path: &Path) -> Vec<(usize, usize)> {
    let data = std::fs::read(path).unwrap();
    let mut at = HEADER_LEN;
    let mut out = Vec::new();
    while let Read::Record(_, n) = read(&data[at..]) {
        out.push((at, n));
        at += n;
    }
    out
}

/// Starts a server on `dir` that must be refused; returns why.
pub fn refused(dir: &Path) -> String {
    match kvws::Server::bind(config(dir).port(0)) {
        Ok(_) => panic!("a server started on a damaged {}", dir.display()),
        Err(e) => e.to_string(),
    }
}

/// Asserts that a refusal names the file, the offset and `--repair`.
pub fn assert_names(message: &str, path: &Path, offset: usize) {
    assert!(
        message.contains(&path.display().to_string())
            && message.contains(&format!("damaged at offset {offset} ")),
        "{message}"
    );
    assert!(message.contains("--repair"), "{message}");
}

/// The value of `key` in application `a`.
pub fn get(s: &TestServer, key: &str) -> serde_json::Value {
    let mut c = s.client();
    c.send(&format!(r#"{{"type":"get","id":"a","key":"{key}"}}"#));
    let reply: serde_json::Value = serde_json::from_str(&c.recv()).unwrap();
    reply["value"].clone()
}
