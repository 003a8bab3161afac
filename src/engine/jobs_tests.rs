//! Requests answered in slices, driven step by step with a client whose
//! queue has little room, while other clients change the data.

use std::collections::{BTreeMap, HashMap};

use super::{Engine, Outbound, REAP_BATCH};
use crate::change::Change;
use crate::change::Journal;
use crate::config::Config;
use crate::conn_id::ConnId;
use crate::protocol::frame::FrameRef;
use crate::store::Store;

/// What connections receive, with room for a few kilobytes each until the
/// test drains them, as a client that reads slowly.
struct Slow {
    got: HashMap<ConnId, Vec<String>>,
    queued: HashMap<ConnId, usize>,
    room: usize,
    closed: Vec<ConnId>,
}

impl Slow {
    fn new(room: usize) -> Slow {
        Slow {
            got: HashMap::new(),
            queued: HashMap::new(),
            room,
            closed: Vec::new(),
        }
    }

    /// The client reads everything queued.
    fn drain(&mut self) {
        self.queued.clear();
    }

    fn take(&mut self, conn: u64) -> Vec<String> {
        self.got.remove(&ConnId::from(conn)).unwrap_or_default()
    }
}

impl Outbound for Slow {
    fn send(&mut self, to: ConnId, json: &[u8]) {
        *self.queued.entry(to).or_default() += json.len();
        self.got
            .entry(to)
            .or_default()
            .push(String::from_utf8(json.to_vec()).unwrap());
    }
    fn send_frame(&mut self, to: ConnId, frame: FrameRef<'_>) {
        self.send(to, frame.payload());
    }
    fn close(&mut self, to: ConnId, _code: u16, _reason: &'static str) {
        self.closed.push(to);
    }
    fn room(&self, to: ConnId) -> Option<usize> {
        Some(
            self.room
                .saturating_sub(self.queued.get(&to).copied().unwrap_or(0)),
        )
    }
}

const READER: u64 = 1;
const WRITER: u64 = 2;

fn engine(config: Config) -> Engine {
    let mut e = Engine::new(&config, 0);
    for conn in [READER, WRITER] {
        e.open(ConnId::from(conn), None);
    }
    e
}

fn send(e: &mut Engine, out: &mut Slow, conn: u64, msg: &str) {
    e.handle(ConnId::from(conn), msg, 1000, out);
}

fn set(e: &mut Engine, out: &mut Slow, key: &str, value: u64) {
    send(
        e,
        out,
        WRITER,
        &format!(r#"{{"type":"set","id":"a","key":"{key}","value":{value}}}"#),
    );
}

/// The client's view: key → (value, rev), from the messages it got.
fn apply(view: &mut BTreeMap<String, (String, u64)>, messages: &[String]) -> Option<u64> {
    let mut subscribed = None;
    for m in messages {
        let v: serde_json::Value = serde_json::from_str(m).unwrap();
        let rev = v["rev"].as_u64().unwrap_or(0);
        match v["type"].as_str().unwrap() {
            "value" => {
                let key = v["key"].as_str().unwrap().to_string();
                if let Some((_, old)) = view.get(&key) {
                    assert!(rev > *old, "{key}: revision {rev} after {old}");
                }
                view.insert(key, (v["value"].to_string(), rev));
            }
            "deleted" => {
                view.remove(v["key"].as_str().unwrap());
            }
            "subscribed" => subscribed = Some(rev),
            other => panic!("unexpected {other}: {m}"),
        }
    }
    subscribed
}

/// The store's state under `prefix` as the client should see it.
fn truth(e: &Engine, prefix: &str) -> BTreeMap<String, (String, u64)> {
    e.store()
        .iter()
        .filter(|(id, k, _)| *id == "a" && k.starts_with(prefix))
        .map(|(_, k, entry)| (k.to_string(), (entry.value.to_string(), entry.rev)))
        .collect()
}

#[test]
fn a_large_snapshot_in_slices_shows_every_change_made_meanwhile_once() {
    let mut e = engine(Config::default().max_prefix_snapshot(5000));
    let mut out = Slow::new(usize::MAX);
    for i in 0..3000 {
        set(&mut e, &mut out, &format!("p/{i:05}"), i);
    }
    out.take(WRITER);
    out.room = 8 * 1024;
    send(
        &mut e,
        &mut out,
        READER,
        r#"{"type":"subscribe","id":"a","prefix":"p/"}"#,
    );
    assert!(
        e.busy(ConnId::from(READER)),
        "a snapshot this large is sliced"
    );
    let mut view = BTreeMap::new();
    let mut steps = 0;
    let subscribed = loop {
        if let Some(rev) = apply(&mut view, &out.take(READER)) {
            break rev;
        }
        // Writes between slices: keys already sent, keys not sent yet,
        // deletions, new keys, and keys outside the prefix.
        set(
            &mut e,
            &mut out,
            &format!("p/{:05}", steps * 11 % 3000),
            100_000 + steps,
        );
        set(
            &mut e,
            &mut out,
            &format!("p/{:05}", 2999 - steps % 3000),
            200_000 + steps,
        );
        send(
            &mut e,
            &mut out,
            WRITER,
            &format!(
                r#"{{"type":"delete","id":"a","key":"p/{:05}"}}"#,
                steps * 7 % 3000
            ),
        );
        set(&mut e, &mut out, &format!("p/new{steps}"), steps);
        set(&mut e, &mut out, &format!("q/{steps}"), steps);
        out.take(WRITER);
        out.drain();
        e.background(1000, &mut out);
        steps += 1;
        assert!(steps < 10_000, "the snapshot never ended");
    };
    assert!(steps > 5, "sent in {steps} slices");
    assert!(!e.busy(ConnId::from(READER)));
    assert_eq!(subscribed, e.rev());
    assert_eq!(view, truth(&e, "p/"));
    // From now on, live.
    set(&mut e, &mut out, "p/00001", 7);
    apply(&mut view, &out.take(READER));
    assert_eq!(view, truth(&e, "p/"));
}

#[test]
fn a_replay_larger_than_the_queue_goes_out_in_slices() {
    let mut e = engine(Config::default().history_len(100_000));
    let mut out = Slow::new(usize::MAX);
    set(&mut e, &mut out, "k", 0);
    let since = e.rev();
    for i in 1..=5000 {
        set(&mut e, &mut out, "k", i);
    }
    out.take(WRITER);
    out.room = 4 * 1024;
    send(
        &mut e,
        &mut out,
        READER,
        &format!(r#"{{"type":"subscribe","id":"a","key":"k","since":{since}}}"#),
    );
    let mut got = Vec::new();
    while !got
        .last()
        .is_some_and(|m: &String| m.contains("subscribed"))
    {
        got.extend(out.take(READER));
        out.drain();
        e.background(1000, &mut out);
    }
    assert_eq!(got.len(), 5001, "every change, then subscribed");
    for (i, m) in got[..5000].iter().enumerate() {
        assert!(m.contains(&format!(r#""value":{}"#, i + 1)), "{m}");
    }
    assert!(out.closed.is_empty());
}

#[test]
fn a_replay_the_history_outruns_closes_the_client() {
    let mut e = engine(Config::default().history_len(200));
    let mut out = Slow::new(usize::MAX);
    set(&mut e, &mut out, "k", 0);
    let since = e.rev();
    for i in 1..=150 {
        set(&mut e, &mut out, "k", i);
    }
    out.take(WRITER);
    out.room = 200;
    send(
        &mut e,
        &mut out,
        READER,
        &format!(r#"{{"type":"subscribe","id":"a","key":"k","since":{since}}}"#),
    );
    assert!(e.busy(ConnId::from(READER)));
    // The client reads nothing while 300 more changes push the history on.
    for i in 0..300 {
        set(&mut e, &mut out, "other", i);
        e.background(1000, &mut out);
    }
    out.drain();
    e.background(1000, &mut out);
    assert_eq!(out.closed, [ConnId::from(READER)]);
    assert!(!e.busy(ConnId::from(READER)));
    assert_eq!(e.subscription_count(), 0);
}

#[test]
fn a_list_waits_for_the_index_and_the_clients_next_requests_wait_too() {
    let mut e = engine(Config::default());
    let mut out = Slow::new(usize::MAX);
    let n = super::jobs::INLINE_WORK * 3;
    for i in 0..n {
        set(&mut e, &mut out, &format!("k{i:06}"), 1);
    }
    out.take(WRITER);
    send(
        &mut e,
        &mut out,
        READER,
        r#"{"type":"list","id":"a","limit":2,"req":1}"#,
    );
    assert!(out.take(READER).is_empty());
    assert!(e.busy(ConnId::from(READER)));
    let mut steps = 0;
    while e.busy(ConnId::from(READER)) {
        e.background(1000, &mut out);
        steps += 1;
    }
    assert!(steps >= 1);
    assert_eq!(
        out.take(READER),
        [
            r#"{"type":"keys","id":"a","prefix":"","keys":["k000000","k000001"],"more":true,"req":1}"#
        ]
    );
    // A second list is answered at once.
    send(
        &mut e,
        &mut out,
        READER,
        r#"{"type":"list","id":"a","after":"k000001","limit":1}"#,
    );
    assert_eq!(
        out.take(READER),
        [r#"{"type":"keys","id":"a","prefix":"","keys":["k000002"],"more":true}"#]
    );
}

#[test]
fn a_closed_connections_ephemeral_keys_go_in_batches() {
    let mut e = engine(Config::default());
    let mut out = Slow::new(usize::MAX);
    send(
        &mut e,
        &mut out,
        READER,
        r#"{"type":"subscribe","id":"a","prefix":"e/"}"#,
    );
    let n = REAP_BATCH * 3 + 5;
    for i in 0..n {
        send(
            &mut e,
            &mut out,
            WRITER,
            &format!(r#"{{"type":"set","id":"a","key":"e/{i:05}","value":1,"ephemeral":true}}"#),
        );
    }
    out.take(READER);
    e.close(ConnId::from(WRITER), &mut out);
    assert_eq!(out.take(READER).len(), REAP_BATCH, "one batch at once");
    assert_eq!(e.store().len(), n - REAP_BATCH);
    let mut deleted = REAP_BATCH;
    while !e.store().is_empty() {
        e.background(1000, &mut out);
        let got = out.take(READER);
        assert!(got.len() <= REAP_BATCH);
        assert!(got.iter().all(|m| m.contains(r#""reason":"disconnected""#)));
        deleted += got.len();
    }
    assert_eq!(deleted, n);
    // A key another connection took over is not deleted.
    e.open(ConnId::from(3), None);
    send(
        &mut e,
        &mut out,
        3,
        r#"{"type":"set","id":"a","key":"mine","value":1,"ephemeral":true}"#,
    );
    send(
        &mut e,
        &mut out,
        READER,
        r#"{"type":"set","id":"a","key":"mine","value":2,"ephemeral":true}"#,
    );
    e.close(ConnId::from(3), &mut out);
    assert!(e.store().get("a", "mine").is_some());
}

/// A journal whose disk is full.
struct Full;

impl Journal for Full {
    fn record(&mut self, _: &Change, _: bool) -> Result<(), String> {
        Err("No space left on device".into())
    }
    fn commit(&mut self) -> std::io::Result<()> {
        Ok(())
    }
    fn maintain(&mut self, _: &Store, _: u64) {}
    fn close(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn expiry_on_a_full_disk_waits_before_trying_again() {
    let mut e = engine(Config::default());
    let mut out = Slow::new(usize::MAX);
    send(
        &mut e,
        &mut out,
        WRITER,
        r#"{"type":"set","id":"a","key":"t","value":1,"ttl_ms":10}"#,
    );
    e.set_journal(Box::new(Full));
    let due = 1000 + 11;
    assert_eq!(e.expire(due, &mut out), 0);
    assert!(
        e.store().get("a", "t").is_some(),
        "kept until it can be deleted"
    );
    // The loop sleeps until the retry, not until the (past) deadline.
    assert_eq!(
        e.next_deadline(),
        Some(due + super::background::EXPIRY_RETRY_MS)
    );
    assert_eq!(e.expire(due + 10, &mut out), 0);
}
