//! Damage to the write-ahead log: a flipped bit, a truncated or missing
//! file stops start-up with the file and offset, loses nothing until
//! `--repair` is asked for, and is never taken for the torn write a crash
//! leaves, which is cut off with a warning only. A data directory of format
//! version 1 still opens.

mod common;

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use common::TestServer;
use kvws::Config;
use kvws::persist::Fsync;
use kvws::persist::record::{HEADER_LEN, Read, Record, read};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kvws-damage-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn config(dir: &Path) -> Config {
    Config::default()
        .data_dir(Some(dir.to_path_buf()))
        .fsync(Fsync::Always)
}

/// The `rev` of a reply.
fn rev_of(reply: &str) -> u64 {
    let v: serde_json::Value = serde_json::from_str(reply).unwrap();
    v["rev"]
        .as_u64()
        .unwrap_or_else(|| panic!("no rev in {reply}"))
}

fn log_files(dir: &Path) -> Vec<PathBuf> {
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
fn write_keys(dir: &Path, n: usize) -> u64 {
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
fn records(path: &Path) -> Vec<(usize, usize)> {
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
fn refused(dir: &Path) -> String {
    match kvws::Server::bind(config(dir).port(0)) {
        Ok(_) => panic!("a server started on a damaged {}", dir.display()),
        Err(e) => e.to_string(),
    }
}

fn assert_names(message: &str, path: &Path, offset: usize) {
    assert!(
        message.contains(&path.display().to_string())
            && message.contains(&format!("damaged at offset {offset} ")),
        "{message}"
    );
    assert!(message.contains("--repair"), "{message}");
}

fn get(s: &TestServer, key: &str) -> serde_json::Value {
    let mut c = s.client();
    c.send(&format!(r#"{{"type":"get","id":"a","key":"{key}"}}"#));
    let reply: serde_json::Value = serde_json::from_str(&c.recv()).unwrap();
    reply["value"].clone()
}

/// Flips a bit at `offset`, checks that start-up refuses naming `record_at`
/// and leaves the file alone, and undoes the flip.
fn flip_is_refused(log: &Path, offset: usize, record_at: usize) {
    let good = std::fs::read(log).unwrap();
    let mut bad = good.clone();
    bad[offset] ^= 0x08;
    std::fs::write(log, &bad).unwrap();
    let message = refused(log.parent().unwrap());
    assert_names(&message, log, record_at);
    assert_eq!(std::fs::read(log).unwrap(), bad, "nothing was cut");
    std::fs::write(log, &good).unwrap();
}

#[test]
fn a_flipped_bit_in_the_second_to_last_record_stops_start_up_until_repair() {
    let dir = temp_dir("second-to-last");
    let rev = write_keys(&dir, 20);
    let log = log_files(&dir).pop().unwrap();
    let recs = records(&log);
    assert_eq!(recs.len(), 20);
    let (at, len) = recs[18];
    // A Set record ends in its expiry: in version 1, eight zero bytes that
    // made the last record look cut short.
    for offset in [at + 2, at + len / 2, at + len - 2] {
        flip_is_refused(&log, offset, at);
    }
    // Undamaged, everything is there.
    let s = TestServer::exactly(config(&dir));
    assert_eq!((s.handle.stats().keys, s.handle.stats().rev), (20, rev));
    s.stop();

    let mut data = std::fs::read(&log).unwrap();
    data[at + len / 2] ^= 0x08;
    std::fs::write(&log, &data).unwrap();
    let s = TestServer::exactly(config(&dir).repair(true));
    let stats = s.handle.stats();
    assert_eq!((stats.keys, stats.rev), (18, rev - 2));
    assert_eq!(get(&s, "k17"), format!("{}", "v".repeat(57)));
    assert_eq!(get(&s, "k18"), serde_json::Value::Null);
    s.stop();
    // The cut log is sound again.
    let s = TestServer::exactly(config(&dir));
    assert_eq!(s.handle.stats().keys, 18);
}

#[test]
fn a_flipped_bit_in_the_last_record_stops_start_up_until_repair() {
    let dir = temp_dir("last");
    let rev = write_keys(&dir, 20);
    let log = log_files(&dir).pop().unwrap();
    let (at, len) = *records(&log).last().unwrap();
    // Its length, checksum, frame check, body and trailer byte.
    for offset in [at, at + 5, at + 9, at + len / 2, at + len - 1] {
        flip_is_refused(&log, offset, at);
    }
    let mut data = std::fs::read(&log).unwrap();
    data[at + 1] ^= 0x01;
    std::fs::write(&log, &data).unwrap();
    let s = TestServer::exactly(config(&dir).repair(true));
    let stats = s.handle.stats();
    assert_eq!((stats.keys, stats.rev), (19, rev - 1));
    // Revisions go on from what is kept.
    let mut c = s.client();
    c.send(r#"{"type":"set","id":"a","key":"after","value":1}"#);
    assert_eq!(rev_of(&c.recv()), rev);
}

#[test]
fn a_truncated_log_stops_start_up() {
    let dir = temp_dir("truncated");
    let rev = write_keys(&dir, 10);
    let log = log_files(&dir).pop().unwrap();
    let good = std::fs::read(&log).unwrap();
    let (at, len) = *records(&log).last().unwrap();
    for (cut, offset, what) in [
        (0, 0, "no complete header"),
        (HEADER_LEN / 2, 0, "half its header"),
        (at + len / 2, at, "the middle of its last record"),
        (at + len, at + len, "right after its data"),
        (
            at + len + 5,
            at + len,
            "inside the frame of zeros after its data",
        ),
    ] {
        std::fs::write(&log, &good[..cut]).unwrap();
        let message = refused(&dir);
        assert!(
            message.contains(&log.display().to_string())
                && message.contains(&format!("damaged at offset {offset} ")),
            "{what}: {message}"
        );
        assert_eq!(std::fs::read(&log).unwrap().len(), cut, "{what}: untouched");
    }
    // Repair keeps what is complete.
    std::fs::write(&log, &good[..at + len / 2]).unwrap();
    let s = TestServer::exactly(config(&dir).repair(true));
    assert_eq!((s.handle.stats().keys, s.handle.stats().rev), (9, rev - 1));
    s.stop();
    let s = TestServer::exactly(config(&dir));
    assert_eq!(s.handle.stats().keys, 9);
}

#[test]
fn a_missing_log_named_by_the_snapshot_stops_start_up() {
    let dir = temp_dir("missing");
    // Enough changes (147 bytes each) for one compaction at 16 KiB, too
    // few for a second.
    let s = TestServer::exactly(config(&dir).compact_min(16 << 10).compact_factor(1));
    let mut c = s.client();
    for i in 0..130 {
        c.send(&format!(
            r#"{{"type":"set","id":"a","key":"k{}","value":"{}"}}"#,
            i % 10,
            "x".repeat(100)
        ));
        c.recv();
    }
    let started = std::time::Instant::now();
    while !dir.join("snapshot.kvws").exists() || log_files(&dir).len() > 1 {
        assert!(started.elapsed() < common::PATIENCE, "no compaction");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    drop(c);
    s.stop();
    let logs = log_files(&dir);
    let snapshot = std::fs::read(dir.join("snapshot.kvws")).unwrap();
    let generation = u64::from_le_bytes(snapshot[16..24].try_into().unwrap());
    let named = dir.join(format!("wal-{generation:010}.log"));
    assert_eq!(logs, std::slice::from_ref(&named));
    std::fs::remove_file(&named).unwrap();

    let message = refused(&dir);
    assert!(
        message.contains(&format!("wal-{generation:010}.log is missing")),
        "{message}"
    );
    assert!(message.contains("--repair"), "{message}");
    // Repair goes on from the snapshot.
    let s = TestServer::exactly(config(&dir).repair(true));
    assert_eq!(s.handle.stats().keys, 10);
    assert!(named.exists());
}

/// Writes `n` keys, then the start of one more change (`rev + 1`, a value
/// of 2,000 bytes) as a crash leaves it: the sectors `unwritten` (indexes
/// of the 512-byte sectors it overlaps) still hold what was there before.
fn torn_after(name: &str, n: usize, unwritten: impl Fn(usize) -> Vec<usize>) -> (PathBuf, u64) {
    let dir = temp_dir(name);
    let rev = write_keys(&dir, n);
    let log = log_files(&dir).pop().unwrap();
    let (at, len) = *records(&log).last().unwrap();
    let end = at + len;
    let value = format!("\"{}\"", "t".repeat(2000));
    let mut bytes = Vec::new();
    Record::Set {
        rev: rev + 1,
        id: "a",
        key: "torn",
        value: &value,
        expires_at: None,
    }
    .encode(&mut bytes);
    let first = end / 512;
    let sectors = (end + bytes.len()).div_ceil(512) - first;
    let skipped = unwritten(sectors);
    let f = std::fs::OpenOptions::new().write(true).open(&log).unwrap();
    for i in 0..sectors {
        if skipped.contains(&i) {
            continue;
        }
        let lo = ((first + i) * 512).max(end);
        let hi = ((first + i + 1) * 512).min(end + bytes.len());
        f.write_all_at(&bytes[lo - end..hi - end], lo as u64)
            .unwrap();
    }
    (dir, rev)
}

fn recovers_everything_acknowledged(dir: &Path, n: u64, rev: u64) {
    let s = TestServer::exactly(config(dir));
    let stats = s.handle.stats();
    assert_eq!((stats.keys, stats.rev), (n, rev));
    assert_eq!(get(&s, "torn"), serde_json::Value::Null);
    let mut c = s.client();
    c.send(r#"{"type":"set","id":"a","key":"after","value":1}"#);
    assert_eq!(rev_of(&c.recv()), rev + 1);
    drop(c);
    s.stop();
    let s = TestServer::exactly(config(dir));
    assert_eq!(s.handle.stats().keys, n + 1);
}

#[test]
fn a_torn_last_write_is_cut_off_and_everything_acknowledged_kept() {
    // Its last sector never written.
    let (dir, rev) = torn_after("torn-end", 12, |sectors| vec![sectors - 1]);
    recovers_everything_acknowledged(&dir, 12, rev);
    // A sector in its middle never written, the ones after it written.
    let (dir, rev) = torn_after("torn-middle", 12, |sectors| vec![sectors / 2]);
    recovers_everything_acknowledged(&dir, 12, rev);
    // Its first sector (shared with acknowledged data) never rewritten.
    let (dir, rev) = torn_after("torn-start", 12, |_| vec![0]);
    recovers_everything_acknowledged(&dir, 12, rev);
    // Nothing after its first sector written.
    let (dir, rev) = torn_after("torn-all", 12, |sectors| (1..sectors).collect());
    recovers_everything_acknowledged(&dir, 12, rev);
}

/// A small encoder of format version 1, as the previous release wrote it.
mod v1 {
    pub fn header(magic: &[u8; 8], generation: u64, rev: u64) -> Vec<u8> {
        let mut h = magic.to_vec();
        h.extend_from_slice(&1u32.to_le_bytes());
        h.extend_from_slice(&0u32.to_le_bytes());
        h.extend_from_slice(&generation.to_le_bytes());
        h.extend_from_slice(&rev.to_le_bytes());
        h
    }

    fn record(out: &mut Vec<u8>, body: Vec<u8>) {
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        out.extend_from_slice(&crc32c::crc32c(&body).to_le_bytes());
        out.extend_from_slice(&body);
    }

    fn str(body: &mut Vec<u8>, s: &str) {
        body.extend_from_slice(&(s.len() as u32).to_le_bytes());
        body.extend_from_slice(s.as_bytes());
    }

    pub fn set(out: &mut Vec<u8>, rev: u64, key: &str, value: &str, expires_at: u64) {
        let mut body = vec![1];
        body.extend_from_slice(&rev.to_le_bytes());
        str(&mut body, "a");
        str(&mut body, key);
        str(&mut body, value);
        body.extend_from_slice(&expires_at.to_le_bytes());
        record(out, body);
    }

    pub fn delete(out: &mut Vec<u8>, rev: u64, key: &str) {
        let mut body = vec![2];
        body.extend_from_slice(&rev.to_le_bytes());
        str(&mut body, "a");
        str(&mut body, key);
        record(out, body);
    }

    pub fn skip(out: &mut Vec<u8>, rev: u64) {
        let mut body = vec![3];
        body.extend_from_slice(&rev.to_le_bytes());
        record(out, body);
    }

    pub fn end(out: &mut Vec<u8>, rev: u64, count: u64) {
        let mut body = vec![4];
        body.extend_from_slice(&rev.to_le_bytes());
        body.extend_from_slice(&count.to_le_bytes());
        record(out, body);
    }
}

#[test]
fn a_version_1_directory_opens_keeps_its_data_and_goes_on_in_version_2() {
    let dir = temp_dir("v1");
    // A snapshot at revision 5 preceding log generation 2...
    let mut snapshot = v1::header(b"KVWSSNP\0", 2, 5);
    v1::set(&mut snapshot, 2, "s1", "1", 0);
    v1::set(&mut snapshot, 4, "s2", r#"{"x":[1,2]}"#, 0);
    v1::set(&mut snapshot, 5, "gone", "true", 0);
    v1::end(&mut snapshot, 5, 3);
    std::fs::write(dir.join("snapshot.kvws"), &snapshot).unwrap();
    // ...and that log, preallocated, its last record a Set ending in zeros.
    let deadline = 4_000_000_000_000u64;
    let mut log = v1::header(b"KVWSLOG\0", 2, 5);
    v1::delete(&mut log, 6, "gone");
    v1::set(&mut log, 7, "ttl", "\"later\"", deadline);
    v1::skip(&mut log, 8);
    v1::set(&mut log, 9, "l1", "[true]", 0);
    log.resize(log.len() + 65536, 0);
    let wal2 = dir.join("wal-0000000002.log");
    std::fs::write(&wal2, &log).unwrap();

    let s = TestServer::exactly(config(&dir));
    let stats = s.handle.stats();
    assert_eq!((stats.keys, stats.rev), (4, 9));
    assert_eq!(get(&s, "s2"), serde_json::json!({"x": [1, 2]}));
    assert_eq!(get(&s, "ttl"), "later");
    assert_eq!(get(&s, "l1"), serde_json::json!([true]));
    assert_eq!(get(&s, "gone"), serde_json::Value::Null);
    let mut c = s.client();
    c.send(r#"{"type":"set","id":"a","key":"new","value":2}"#);
    assert_eq!(rev_of(&c.recv()), 10);
    drop(c);
    s.stop();

    // The version 1 log was not appended to; a new generation holds the
    // change, in version 2.
    assert_eq!(std::fs::read(&wal2).unwrap(), log);
    let wal3 = std::fs::read(dir.join("wal-0000000003.log")).unwrap();
    assert_eq!(&wal3[8..12], &2u32.to_le_bytes());
    let s = TestServer::exactly(config(&dir));
    let stats = s.handle.stats();
    assert_eq!((stats.keys, stats.rev), (5, 10));
    assert_eq!(get(&s, "new"), 2);
    assert_eq!(get(&s, "s1"), 1);
}

#[test]
fn damage_at_the_end_of_a_version_1_log_is_not_taken_for_a_torn_write() {
    // The previous release's own defect: a flipped bit in the record before
    // a last Set record (which ends in zeros).
    let dir = temp_dir("v1-flip");
    let mut log = v1::header(b"KVWSLOG\0", 1, 0);
    let mut second_to_last = 0;
    for rev in 1..=5 {
        if rev == 4 {
            second_to_last = log.len();
        }
        v1::set(&mut log, rev, &format!("k{rev}"), "\"value\"", 0);
    }
    log.resize(log.len() + 4096, 0);
    log[second_to_last + 20] ^= 0x04;
    let wal = dir.join("wal-0000000001.log");
    std::fs::write(&wal, &log).unwrap();
    let message = refused(&dir);
    assert_names(&message, &wal, second_to_last);
    let s = TestServer::exactly(config(&dir).repair(true));
    assert_eq!((s.handle.stats().keys, s.handle.stats().rev), (3, 3));
}
