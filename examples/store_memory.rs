//! What the store really occupies against what it counts for
//! `--max-memory`: resident memory per key, measured, beside
//! `Store::bytes` per key.
//!
//! ```sh
//! cargo run --release --example store_memory -- 1000000 100
//! ```

use kvws::store::{Entry, Store};

fn rss() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(0)
        * 1024
}

fn main() {
    let arg = |i: usize, default: usize| {
        std::env::args()
            .nth(i)
            .map_or(Ok(default), |a| a.parse())
            .unwrap_or_else(|e| {
                eprintln!("usage: store_memory [KEYS] [VALUE_BYTES]: {e}");
                std::process::exit(2);
            })
    };
    let (n, value_len) = (arg(1, 1_000_000), arg(2, 100));
    let value = format!("\"{}\"", "v".repeat(value_len));
    let before = rss();
    let mut store = Store::new();
    for i in 0..n {
        store.set(
            "app",
            &format!("key:{i:08}"),
            Entry::new(value.as_str(), i as u64),
        );
    }
    let grew = rss() - before;
    println!(
        "{n} keys of {} bytes: resident {:.1} B a key, counted {:.1} B a key",
        value.len(),
        grew as f64 / n as f64,
        store.bytes() as f64 / n as f64
    );
}
