//! A program with its own main loop that embeds kvws: it calls
//! `Server::service` between its own work and publishes a live reading every
//! second, the host's load average and the time, into the store.
//!
//! Run it, open the printed URL, and on the test page subscribe to key
//! `loadavg` (or prefix "") in app id `demo`: the values update every second.
//!
//! ```sh
//! cargo run --example clock -- 8080
//! ```

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kvws::{Config, Server};

fn load_average() -> String {
    // "0.12 0.34 0.56 1/234 5678": the first three are the 1, 5, 15 minute averages.
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let fields: Vec<&str> = text.split_whitespace().take(3).collect();
    match fields.as_slice() {
        [one, five, fifteen] => format!(r#"{{"1m":{one},"5m":{five},"15m":{fifteen}}}"#),
        _ => "null".to_string(),
    }
}

fn main() -> std::io::Result<()> {
    let port = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(8080);
    let mut server = Server::bind(Config::default().port(port))?;
    server.shutdown_on_signals()?;
    println!(
        "open http://{}/ and subscribe to app id 'demo', key 'loadavg'",
        server.local_addr()
    );

    let mut next = Instant::now();
    while !server.is_stopped() {
        let now = Instant::now();
        if now >= next {
            let unix = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            // Writes made here notify subscribers exactly like a client's set.
            server
                .set("demo", "loadavg", &load_average())
                .expect("valid JSON");
            server
                .set("demo", "clock", &unix.to_string())
                .expect("valid JSON");
            next += Duration::from_secs(1);
        }
        // Serve clients until the next reading is due (or something happens).
        server.service(Some(next.saturating_duration_since(Instant::now())))?;
    }
    Ok(())
}
