use kvws::store::{Entry, Store};
fn rss() -> usize {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    let l = s.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    l.split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<usize>()
        .unwrap()
        * 1024
}
fn main() {
    let n: usize = std::env::args().nth(1).unwrap().parse().unwrap();
    let vlen: usize = std::env::args().nth(2).unwrap().parse().unwrap();
    let value = format!("\"{}\"", "v".repeat(vlen));
    let r0 = rss();
    let mut store = Store::new();
    for i in 0..n {
        store.set(
            "app",
            &format!("key:{i:08}"),
            Entry::new(value.as_str(), i as u64),
        );
    }
    let r1 = rss();
    println!(
        "n={n} value={} : rss/key = {:.1} B, accounted/key = {:.1} B",
        value.len(),
        (r1 - r0) as f64 / n as f64,
        store.bytes() as f64 / n as f64
    );
}
