//! The engine without sockets: the cost of a write when many prefix
//! subscriptions exist, and of expiring many keys.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use kvws::engine::{Engine, Outbound};
use kvws::protocol::frame::FrameRef;
use kvws::{Config, ConnId};

/// The connection that writes in the benches.
const WRITER: ConnId = ConnId::from_raw(u64::MAX);

/// Counts deliveries; the engine's cost is what is measured.
#[derive(Default)]
struct Count(usize);

impl Outbound for Count {
    fn send(&mut self, _: ConnId, json: &[u8]) {
        self.0 += black_box(json.len()).min(1);
    }
    fn send_frame(&mut self, _: ConnId, frame: FrameRef<'_>) {
        self.0 += black_box(frame.bytes.len()).min(1);
    }
}

fn engine_with(prefixes: impl Iterator<Item = String>) -> Engine {
    let config = Config::default()
        .max_subscriptions(100_000)
        .history_len(1000);
    let mut e = Engine::new(&config, 0);
    let mut out = Count::default();
    for (conn, prefix) in prefixes.enumerate() {
        let conn = ConnId::from(conn as u64);
        e.open(conn, None);
        let msg = format!(r#"{{"type":"subscribe","id":"app","prefix":"{prefix}"}}"#);
        e.handle(conn, &msg, 0, &mut out);
    }
    e.open(WRITER, None);
    e
}

fn prefix_writes(c: &mut Criterion) {
    let mut group = c.benchmark_group("write with prefix subscriptions");
    let set = r#"{"type":"set","id":"app","key":"room/4242/topic","value":"hello"}"#.to_string();
    let long_set = format!(
        r#"{{"type":"set","id":"app","key":"{}","value":"hello"}}"#,
        "x".repeat(1000)
    );
    let cases: Vec<(&str, Vec<String>, &String)> = vec![
        ("no subscriptions", vec![], &set),
        // 10,000 rooms, one subscriber each: one matches the key.
        (
            "10k prefixes, 1 matching",
            (0..10_000).map(|i| format!("room/{i}/")).collect(),
            &set,
        ),
        // The worst shape: every prefix a different length (none matching).
        (
            "1k prefixes of 1k distinct lengths",
            (1..=1000).map(|n| "y".repeat(n)).collect(),
            &set,
        ),
        // ... and a 1,000-byte key, so that every length must be looked up.
        (
            "1k prefixes of 1k distinct lengths, 1 KB key",
            (1..=1000).map(|n| "y".repeat(n)).collect(),
            &long_set,
        ),
    ];
    for (name, prefixes, msg) in cases {
        let mut e = engine_with(prefixes.into_iter());
        let mut out = Count::default();
        group.bench_function(name, |b| {
            b.iter(|| e.handle(WRITER, black_box(msg), 0, &mut out))
        });
    }
    group.finish();
}

fn expiry(c: &mut Criterion) {
    let mut group = c.benchmark_group("expiry");
    group.sample_size(10);
    group.bench_function("expire 100k keys", |b| {
        b.iter_batched(
            || {
                let mut e = Engine::new(&Config::default().history_len(0), 0);
                e.open(WRITER, None);
                let mut out = Count::default();
                for i in 0..100_000 {
                    let msg = format!(
                        r#"{{"type":"set","id":"app","key":"k{i}","value":1,"ttl_ms":{}}}"#,
                        1 + i % 1000
                    );
                    e.handle(WRITER, &msg, 0, &mut out);
                }
                e
            },
            |mut e| {
                let mut out = Count::default();
                while e.expire(10_000, &mut out) > 0 {}
                assert!(e.store().is_empty());
                e
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, prefix_writes, expiry);
criterion_main!(benches);
