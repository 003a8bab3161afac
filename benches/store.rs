//! The store alone: set, get and delete with 1,000 and 1,000,000 keys.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use kvws::store::{Entry, Store};

fn filled(n: usize) -> (Store, Vec<String>) {
    let keys: Vec<String> = (0..n).map(|i| format!("key:{i:07}")).collect();
    let mut store = Store::new();
    for (i, k) in keys.iter().enumerate() {
        store.set(
            "app",
            k,
            Entry::new(r#""a value of about thirty bytes""#, i as u64),
        );
    }
    (store, keys)
}

fn store(c: &mut Criterion) {
    let mut group = c.benchmark_group("store");
    for n in [1_000, 1_000_000] {
        let (mut store, keys) = filled(n);
        let mut i = 0;
        let mut next = || {
            i = (i + 7919) % n; // a stride that visits every key, out of order
            &keys[i]
        };
        group.bench_function(BenchmarkId::new("get", n), |b| {
            b.iter(|| black_box(store.get("app", black_box(next()))))
        });
        group.bench_function(BenchmarkId::new("set (overwrite)", n), |b| {
            b.iter(|| store.set("app", next(), Entry::new(r#""another value""#, 1)))
        });
        group.bench_function(BenchmarkId::new("delete + set", n), |b| {
            b.iter(|| {
                let k = next();
                let old = store.remove("app", k).expect("present");
                store.set("app", k, old);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, store);
criterion_main!(benches);
