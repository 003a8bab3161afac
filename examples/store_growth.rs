//! The slowest single `set` while one namespace grows to N keys (default
//! 2,000,000): the pause a growing hash table puts on the loop.
//!
//! ```sh
//! cargo run --release --example store_growth -- 2000000
//! ```
//!
//! A criterion bench reports typical times, not the one slow call among
//! millions, so this measures that call directly.

use std::time::{Duration, Instant};

use kvws::store::{Entry, Store};

fn main() {
    let n: usize = match std::env::args().nth(1).map(|a| a.parse()) {
        None => 2_000_000,
        Some(Ok(n)) => n,
        Some(Err(e)) => {
            eprintln!("usage: store_growth [KEYS]: {e}");
            std::process::exit(2);
        }
    };
    let value = format!("\"{}\"", "v".repeat(98));
    let mut store = Store::new();
    let (mut worst, mut worst_at, mut over_1ms) = (Duration::ZERO, 0, 0);
    let started = Instant::now();
    for i in 0..n {
        let key = format!("key:{i:08}");
        let t = Instant::now();
        store.set("app", &key, Entry::new(value.as_str(), i as u64));
        let took = t.elapsed();
        over_1ms += usize::from(took > Duration::from_millis(1));
        if took > worst {
            (worst, worst_at) = (took, i);
        }
    }
    println!(
        "{n} sets in {:.2?}; the slowest took {worst:.2?} (key {worst_at}); {over_1ms} took over 1 ms",
        started.elapsed()
    );
}
