//! Replication lag between two cluster nodes: a writer on node A sets a key
//! once a millisecond, a subscriber on node B times each notification
//! against the moment A acknowledged the write. Both clients run in this
//! process, so their clocks are one clock.
//!
//! ```sh
//! redis-server --port 6379 --save '' &
//! kvws --port 8081 --redis redis://127.0.0.1:6379/ &
//! kvws --port 8082 --redis redis://127.0.0.1:6379/ &
//! cargo run --release --example cluster_lag -- ws://127.0.0.1:8081/ ws://127.0.0.1:8082/ 5000
//! ```
//!
//! Prints the write's round trip on A and the lag from A's acknowledgement
//! to B's notification (negative when B heard first), as percentiles.

use std::collections::HashMap;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use kvws::client::{Client, SetOptions, Topic};

fn percentiles(name: &str, mut us: Vec<i64>) {
    us.sort_unstable();
    let at = |p: f64| us[((us.len() - 1) as f64 * p) as usize];
    println!(
        "{name}: p50 {} µs, p90 {} µs, p99 {} µs, max {} µs ({} samples)",
        at(0.50),
        at(0.90),
        at(0.99),
        at(1.0),
        us.len()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(a), Some(b)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: cluster_lag WRITER_URL SUBSCRIBER_URL [WRITES]");
        std::process::exit(2);
    };
    let writes: u64 = args.get(3).and_then(|n| n.parse().ok()).unwrap_or(5000);
    let key = format!("lag-{}", std::process::id());
    let base = Instant::now();

    let mut sub = Client::connect(b).expect("connect to the subscriber's node");
    sub.subscribe("bench", &Topic::key(key.clone()), None)
        .expect("subscribe");
    let (tx, rx) = mpsc::channel();
    let listener = std::thread::spawn(move || {
        let mut seen = HashMap::new();
        while (seen.len() as u64) < writes {
            match sub.next_event(Some(Duration::from_secs(10))) {
                Ok(Some(e)) if e.kind == "value" => {
                    if let Some(rev) = e.rev {
                        seen.insert(rev, base.elapsed());
                    }
                }
                Ok(Some(_)) => {}
                Ok(None) => panic!("no notification for 10 s"),
                Err(e) => panic!("subscriber: {e}"),
            }
        }
        tx.send(seen).unwrap();
    });

    let mut writer = Client::connect(a).expect("connect to the writer's node");
    let mut acked = HashMap::new();
    let mut rtt = Vec::new();
    for i in 0..writes {
        let sent = base.elapsed();
        let entry = writer
            .set("bench", &key, &i.to_string(), &SetOptions::default())
            .expect("set");
        let ack = base.elapsed();
        rtt.push((ack - sent).as_micros() as i64);
        acked.insert(entry.rev, ack);
        std::thread::sleep(Duration::from_millis(1));
    }
    let seen = rx.recv().unwrap();
    listener.join().unwrap();
    let lag: Vec<i64> = acked
        .iter()
        .map(|(rev, ack)| seen[rev].as_micros() as i64 - ack.as_micros() as i64)
        .collect();
    percentiles("write round trip on the writer's node", rtt);
    percentiles("acknowledgement to notification on the other node", lag);
}
