//! Damage to the write-ahead log: a flipped bit, a truncated or missing
//! file stops start-up with the file and offset, loses nothing until
//! `--repair` is asked for, and is never taken for the torn write a crash
//! leaves, which is cut off with a warning only. (Format version 1:
//! `tests/log_damage_v1.rs`.)

mod common;

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use common::TestServer;
use common::logdir::{
    assert_names, config, get, log_files, records, refused, rev_of, temp_dir, write_keys,
};
use kvws::persist::record::{HEADER_LEN, Record};

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
