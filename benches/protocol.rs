//! The protocol alone: parsing each kind of request and encoding each kind
//! of reply, with small and 100 KB values.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use kvws::protocol::{ParseLimits, encode, frame, parse};

const LIMITS: ParseLimits = ParseLimits {
    max_name_length: 1024,
};

fn big_value() -> String {
    let items: Vec<String> = (0..6000)
        .map(|i| format!(r#"{{"n":{i},"s":"item"}}"#))
        .collect();
    let v = format!("[{}]", items.join(","));
    assert!(v.len() > 100_000);
    v
}

fn parsing(c: &mut Criterion) {
    let big = big_value();
    let mut group = c.benchmark_group("parse");
    let messages = [
        (
            "set small",
            r#"{"type":"set","id":"app1","key":"user:42","value":{"name":"Ada","age":36},"req":7}"#
                .to_string(),
        ),
        (
            "set 100 KB",
            format!(r#"{{"type":"set","id":"app1","key":"doc","value":{big}}}"#),
        ),
        (
            "get",
            r#"{"type":"get","id":"app1","key":"user:42","req":8}"#.to_string(),
        ),
        (
            "delete",
            r#"{"type":"delete","id":"app1","key":"user:42","if_rev":12}"#.to_string(),
        ),
        (
            "subscribe",
            r#"{"type":"subscribe","id":"app1","key":"user:42","since":1234}"#.to_string(),
        ),
        (
            "subscribe prefix",
            r#"{"type":"subscribe","id":"app1","prefix":"user:"}"#.to_string(),
        ),
        (
            "unsubscribe",
            r#"{"type":"unsubscribe","id":"app1","key":"user:42"}"#.to_string(),
        ),
        (
            "list",
            r#"{"type":"list","id":"app1","prefix":"user:","after":"user:41","limit":100}"#
                .to_string(),
        ),
        (
            "escaped names",
            r#"{"type":"get","id":"app\u0031","key":"caf\u00e9"}"#.to_string(),
        ),
        (
            "invalid",
            r#"{"type":"set","id":"app1","key":}"#.to_string(),
        ),
    ];
    for (name, text) in &messages {
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_function(*name, |b| {
            b.iter(|| black_box(parse(black_box(text), LIMITS)).is_ok())
        });
    }
    group.finish();
}

fn encoding(c: &mut Criterion) {
    let big = big_value();
    let mut group = c.benchmark_group("encode");
    let mut out = Vec::with_capacity(256 * 1024);
    let mut framed = Vec::with_capacity(256 * 1024);
    for (size, value) in [
        ("small", r#"{"name":"Ada","age":36}"#),
        ("100 KB", big.as_str()),
    ] {
        group.bench_function(BenchmarkId::new("value", size), |b| {
            b.iter(|| {
                out.clear();
                encode::value(
                    &mut out,
                    "app1",
                    "user:42",
                    Some(black_box(value)),
                    1_795_000_000_000_001,
                    None,
                );
                black_box(&out);
            })
        });
        group.bench_function(BenchmarkId::new("value framed for fan-out", size), |b| {
            b.iter(|| {
                out.clear();
                encode::value(
                    &mut out,
                    "app1",
                    "user:42",
                    Some(black_box(value)),
                    1_795_000_000_000_001,
                    None,
                );
                frame::text_frame_into(&mut framed, &out);
                black_box(&framed);
            })
        });
    }
    group.bench_function("deleted", |b| {
        b.iter(|| {
            out.clear();
            encode::deleted(&mut out, "app1", "user:42", 17, Some("expired"), None);
            black_box(&out);
        })
    });
    group.bench_function("error", |b| {
        b.iter(|| {
            out.clear();
            encode::error(
                &mut out,
                kvws::ErrorCode::BadRequest,
                "'key' must be a non-empty string",
                None,
            );
            black_box(&out);
        })
    });
    let keys: Vec<String> = (0..100).map(|i| format!("user:{i}")).collect();
    group.bench_function("keys (100)", |b| {
        b.iter(|| {
            out.clear();
            encode::Obj::new(&mut out, "keys")
                .str("id", "app1")
                .strs("keys", keys.iter().map(String::as_str))
                .bool("more", true)
                .end();
            black_box(&out);
        })
    });
    group.bench_function("escaping names", |b| {
        b.iter(|| {
            out.clear();
            encode::write_str(&mut out, black_box("a \"quoted\"\tname\nwith\\escapes"));
            black_box(&out);
        })
    });
    group.finish();
}

criterion_group!(benches, parsing, encoding);
criterion_main!(benches);
