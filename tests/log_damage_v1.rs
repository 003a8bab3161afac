//! A data directory of format version 1 (before records carried their own
//! length and checksum over the header) still opens, keeps its data and
//! goes on in version 2; damage at the end of a version 1 log is not taken
//! for a torn write.

mod common;

use common::TestServer;
use common::logdir::{assert_names, config, get, refused, rev_of, temp_dir};

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
