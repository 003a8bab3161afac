//! Persistence with `--data-dir`: restarts keep everything acknowledged,
//! damage is detected (and repaired only when asked), and the directory is
//! locked to one server.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::TestServer;
use kvws::Config;
use kvws::persist::Fsync;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kvws-persist-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn config(dir: &Path) -> Config {
    Config::default()
        .data_dir(Some(dir.to_path_buf()))
        .fsync(Fsync::Always)
}

fn server(dir: &Path) -> TestServer {
    // Revisions continue from the data directory, whatever start_revision says.
    TestServer::exactly(config(dir))
}

/// The `rev` of a reply (values like 1e400 keep serde_json from parsing it whole).
fn rev_of(reply: &str) -> u64 {
    let at = reply.rfind(r#""rev":"#).expect("a rev") + 6;
    reply[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap()
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

const VALUES: [&str; 9] = [
    "null",
    "true",
    "-0.0",
    "123456789012345678901234567890",
    "1e400",
    r#""unicode é ✓ 😀 \u00e9 \n""#,
    "[]",
    r#"[1, "two", {"three": [3.0]}]"#,
    r#"{"z": 1, "a": {"nested": true}}"#,
];

#[test]
fn a_restart_keeps_every_value_every_delete_and_the_revision() {
    let dir = temp_dir("restart");
    let s = server(&dir);
    let mut c = s.client();
    let mut last = 0;
    for (i, v) in VALUES.iter().enumerate() {
        c.send(&format!(
            r#"{{"type":"set","id":"t","key":"k{i}","value":{v}}}"#
        ));
        last = rev_of(&c.recv());
    }
    c.send(r#"{"type":"set","id":"t","key":"gone","value":1}"#);
    c.recv();
    c.send(r#"{"type":"delete","id":"t","key":"gone"}"#);
    last = last.max(rev_of(&c.recv()));
    c.send(r#"{"type":"set","id":"t","key":"ttl","value":1,"ttl_ms":600000}"#);
    last = last.max(rev_of(&c.recv()));
    c.send(r#"{"type":"set","id":"t","key":"eph","value":1,"ephemeral":true}"#);
    let eph_rev = rev_of(&c.recv());
    drop(c);
    s.stop();

    let s = server(&dir);
    let mut c = s.client();
    for (i, v) in VALUES.iter().enumerate() {
        c.send(&format!(r#"{{"type":"get","id":"t","key":"k{i}"}}"#));
        let reply = c.recv();
        assert!(reply.contains(&format!(r#""value":{v},"#)), "{reply}");
    }
    c.call(
        r#"{"type":"get","id":"t","key":"gone"}"#,
        &[r#"{"type":"value","id":"t","key":"gone","value":null,"rev":0}"#],
    );
    c.call(
        r#"{"type":"get","id":"t","key":"eph"}"#,
        &[r#"{"type":"value","id":"t","key":"eph","value":null,"rev":0}"#],
    );
    c.send(r#"{"type":"get","id":"t","key":"ttl"}"#);
    assert!(
        c.recv().contains(r#""value":1"#),
        "a key with a distant deadline survives"
    );
    // Revisions carry on from the last change (the ephemeral key's deletion
    // when its connection closed included), and clients from before the
    // restart are told to resync.
    let stats = s.handle.stats();
    assert!(stats.rev > eph_rev && stats.rev > last, "{stats:?}");
    c.send(r#"{"type":"set","id":"t","key":"after","value":1}"#);
    assert_eq!(rev_of(&c.recv()), stats.rev + 1);
    c.send(&format!(
        r#"{{"type":"subscribe","id":"t","key":"k0","since":{last}}}"#
    ));
    assert!(c.recv().ends_with(r#""resync":true}"#));
}

#[test]
fn ttl_deadlines_are_absolute_across_a_restart() {
    let dir = temp_dir("ttl");
    let s = server(&dir);
    let mut c = s.client();
    c.send(r#"{"type":"set","id":"t","key":"short","value":1,"ttl_ms":300}"#);
    c.recv();
    drop(c);
    s.stop();
    std::thread::sleep(Duration::from_millis(400));
    // The deadline passed while the server was down: the key expires at once.
    let s = server(&dir);
    s.wait_for("the key to expire", |st| st.keys == 0);
}

/// Writes a few keys and stops, leaving a log behind.
fn write_some(dir: &Path, n: usize) -> u64 {
    let s = server(dir);
    let mut c = s.client();
    let mut rev = 0;
    for i in 0..n {
        c.send(&format!(
            r#"{{"type":"set","id":"a","key":"k{i}","value":"{}"}}"#,
            "v".repeat(40)
        ));
        rev = rev_of(&c.recv());
    }
    drop(c);
    s.stop();
    rev
}

/// The end of the records in a log (where its zero-filled tail starts).
fn end_of_data(path: &Path) -> usize {
    use kvws::persist::record::{HEADER_LEN, Read, read};
    let data = std::fs::read(path).unwrap();
    let mut at = HEADER_LEN;
    while let Read::Record(_, n) = read(&data[at..]) {
        at += n;
    }
    at
}

#[test]
fn a_torn_last_record_is_cut_off_and_everything_before_it_kept() {
    use kvws::persist::record::Record;
    use std::os::unix::fs::FileExt;
    let dir = temp_dir("torn");
    let rev = write_some(&dir, 20);
    let log = log_files(&dir).pop().unwrap();
    // A crash in the middle of writing a record: its last sector was never
    // written (it still holds the preallocated zeros).
    let end = end_of_data(&log);
    let value = format!("\"{}\"", "t".repeat(1500));
    let mut torn = Vec::new();
    Record::Set {
        rev: rev + 1,
        id: "a",
        key: "lost",
        value: &value,
        expires_at: None,
    }
    .encode(&mut torn);
    let last_sector = (end + torn.len() - 1) / 512 * 512;
    torn.truncate(last_sector - end);
    let f = std::fs::OpenOptions::new().write(true).open(&log).unwrap();
    f.write_all_at(&torn, end as u64).unwrap();
    drop(f);
    let s = server(&dir);
    let stats = s.wait_for("recovery", |st| st.keys == 20);
    assert_eq!(stats.rev, rev);
    // And the log is usable again.
    let mut c = s.client();
    c.send(r#"{"type":"set","id":"a","key":"new","value":1}"#);
    assert_eq!(rev_of(&c.recv()), rev + 1);
}

#[test]
fn damage_in_the_middle_stops_start_up_until_repair() {
    let dir = temp_dir("flip");
    write_some(&dir, 20);
    let log = log_files(&dir).pop().unwrap();
    let mut data = std::fs::read(&log).unwrap();
    let middle = end_of_data(&log) / 2;
    data[middle] ^= 0x40;
    std::fs::write(&log, &data).unwrap();

    let err = kvws::Server::bind(config(&dir).port(0))
        .err()
        .expect("refused");
    let message = err.to_string();
    assert!(
        message.contains(&log.display().to_string()) && message.contains("damaged at offset"),
        "{message}"
    );
    assert!(message.contains("--repair"), "{message}");

    // Repair cuts the log at the first bad record and starts.
    let s = TestServer::exactly(config(&dir).repair(true));
    let stats = s.handle.stats();
    assert!(stats.keys > 0 && stats.keys < 20, "{stats:?}");
}

#[test]
fn empty_and_missing_files_are_handled() {
    // A directory that does not exist yet is created.
    let dir = temp_dir("fresh").join("not-yet");
    let s = server(&dir);
    s.client().call(
        r#"{"type":"get","id":"a","key":"k"}"#,
        &[r#"{"type":"value","id":"a","key":"k","value":null,"rev":0}"#],
    );
    s.stop();
    // A log whose creation a crash interrupted never got its name: the
    // temporary file is removed.
    let dir = temp_dir("empty-log");
    write_some(&dir, 3);
    let next = dir.join("wal-0000000002.log.tmp");
    std::fs::write(&next, b"KVWS").unwrap();
    let s = server(&dir);
    assert_eq!(s.handle.stats().keys, 3);
    assert!(!next.exists());
    s.stop();
    // A missing log in the middle of the sequence is refused.
    let dir = temp_dir("missing-log");
    write_some(&dir, 3);
    std::fs::copy(
        dir.join("wal-0000000001.log"),
        dir.join("wal-0000000003.log"),
    )
    .unwrap();
    let err = kvws::Server::bind(config(&dir).port(0))
        .err()
        .expect("refused");
    assert!(
        err.to_string().contains("wal-0000000002.log is missing"),
        "{err}"
    );
}

#[test]
fn a_second_server_on_the_same_directory_is_refused() {
    let dir = temp_dir("lock");
    let first = server(&dir);
    let err = kvws::Server::bind(config(&dir).port(0))
        .err()
        .expect("refused");
    assert!(
        err.to_string().contains("in use by another kvws server"),
        "{err}"
    );
    first.stop();
    // Once the first is gone, the lock is free.
    server(&dir).stop();
}

#[test]
fn compaction_under_load_keeps_data_and_subscriptions() {
    compaction_under_load(Fsync::Always, "compact-always");
}

/// `everysec` and `never` rotate after a background sync they ask for.
#[test]
fn compaction_with_background_syncs_keeps_data_and_subscriptions() {
    compaction_under_load(Fsync::EverySec, "compact-everysec");
    compaction_under_load(Fsync::Never, "compact-never");
}

fn compaction_under_load(fsync: Fsync, name: &str) {
    let dir = temp_dir(name);
    let s = TestServer::exactly(
        config(&dir)
            .fsync(fsync)
            .compact_min(16 << 10)
            .compact_factor(1),
    );
    let mut watcher = s.client();
    watcher.call(
        r#"{"type":"subscribe","id":"a","key":"counter"}"#,
        &[r#"{"type":"value","id":"a","key":"counter","value":null,"rev":0}"#],
    );
    let mut writer = s.client();
    let writes = 3000;
    let mut last_rev = 0;
    for i in 1..=writes {
        writer.send(&format!(
            r#"{{"type":"set","id":"a","key":"counter","value":{i}}}"#
        ));
        writer.send(&format!(
            r#"{{"type":"set","id":"a","key":"k{}","value":"{}"}}"#,
            i % 50,
            "x".repeat(100)
        ));
        last_rev = rev_of(&writer.recv()).max(rev_of(&writer.recv()));
        if i % 500 == 0 {
            // Let a compaction finish while writes continue.
            std::thread::sleep(Duration::from_millis(300));
        }
    }
    for i in 1..=writes {
        let got: serde_json::Value = serde_json::from_str(&watcher.recv()).unwrap();
        assert_eq!(
            got["value"], i,
            "every change reached the subscriber, in order"
        );
    }
    assert!(dir.join("snapshot.kvws").exists(), "a snapshot was written");
    // The compaction removes the logs it covers while the server runs.
    let started = std::time::Instant::now();
    while log_files(&dir).len() > 2 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "old logs were not removed: {:?}",
            log_files(&dir)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    drop((watcher, writer));
    s.stop();
    let s = server(&dir);
    let stats = s.handle.stats();
    assert_eq!((stats.keys, stats.rev), (51, last_rev));
    let mut c = s.client();
    c.send(r#"{"type":"get","id":"a","key":"counter"}"#);
    assert!(c.recv().contains(&format!(r#""value":{writes},"#)));
}
