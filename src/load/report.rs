//! What a run measured and what went wrong, for people ([`Display`]) and
//! for scripts ([`Report::to_json`]).

use std::fmt;
use std::time::Duration;

use serde_json::json;

use super::config::Mode;
use super::histogram::Histogram;

/// Error examples kept; later errors are only counted.
const EXAMPLES: usize = 5;

/// Latency percentiles, in nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Latency {
    /// Samples (replies, or deliveries in fan-out).
    pub count: u64,
    /// Median.
    pub p50: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Largest sample.
    pub max: u64,
    /// Mean.
    pub mean: f64,
}

impl Latency {
    /// The percentiles of a histogram.
    pub fn of(h: &Histogram) -> Self {
        Latency {
            count: h.count(),
            p50: h.quantile(0.5),
            p99: h.quantile(0.99),
            p999: h.quantile(0.999),
            max: h.max(),
            mean: h.mean(),
        }
    }
}

/// Errors counted during a run, with the first few described.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ErrorLog {
    /// How many.
    pub count: u64,
    /// The first few, as text.
    pub examples: Vec<String>,
}

impl ErrorLog {
    /// Counts an error, keeping its text if it is one of the first few.
    pub fn record(&mut self, what: String) {
        self.count += 1;
        if self.examples.len() < EXAMPLES {
            log::debug!("error: {what}");
            self.examples.push(what);
        }
    }

    /// Adds the errors of another log.
    pub fn absorb(&mut self, other: &ErrorLog) {
        self.count += other.count;
        let room = EXAMPLES.saturating_sub(self.examples.len());
        self.examples
            .extend(other.examples.iter().take(room).cloned());
    }
}

/// The result of one run.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Report {
    /// The mode run.
    pub mode: Mode,
    /// The target URL.
    pub target: String,
    /// Connections (clients, subscribers, or connections held).
    pub connections: usize,
    /// Requests in flight per connection, or sets in flight in fan-out.
    pub depth: usize,
    /// Keys the requests cycled through (reqresp, pipeline).
    pub keys: usize,
    /// Bytes of each value set.
    pub value_size: usize,
    /// Replies to set/get received (reqresp, pipeline) or values published
    /// and fully delivered (fan-out).
    pub ops: u64,
    /// Notifications received by fan-out subscribers.
    pub deliveries: u64,
    /// Time from the first request to the last reply of the run.
    pub elapsed: Duration,
    /// Request-to-reply latency, or publish-to-delivery latency in fan-out.
    pub latency: Latency,
    /// Time it took to open every connection (and subscribe).
    pub connect_time: Duration,
    /// The server's resident memory before the connections were opened
    /// (in conns mode: with the first one open and the keys to subscribe to
    /// created, so that the difference is connections and subscriptions).
    pub server_rss_before: Option<u64>,
    /// The server's resident memory at the end of the run.
    pub server_rss_after: Option<u64>,
    /// CPU time this process used during the run.
    pub tool_cpu: Duration,
    /// CPU time the server used during the run (with its pid).
    pub server_cpu: Option<Duration>,
    /// Bad replies, lost or reordered values, lost connections.
    pub errors: ErrorLog,
    /// Why the run stopped early (a stalled server, a lost connection).
    pub failure: Option<String>,
}

impl Report {
    /// An empty report of `mode` against `target`.
    pub fn new(mode: Mode, target: String, connections: usize, depth: usize) -> Self {
        Report {
            mode,
            target,
            connections,
            depth,
            keys: 0,
            value_size: 0,
            ops: 0,
            deliveries: 0,
            elapsed: Duration::ZERO,
            latency: Latency::default(),
            connect_time: Duration::ZERO,
            server_rss_before: None,
            server_rss_after: None,
            tool_cpu: Duration::ZERO,
            server_cpu: None,
            errors: ErrorLog::default(),
            failure: None,
        }
    }

    /// Whether the run finished with no error at all.
    pub fn is_ok(&self) -> bool {
        self.errors.count == 0 && self.failure.is_none()
    }

    fn rate(&self, n: u64) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 { n as f64 / secs } else { 0.0 }
    }

    /// Operations per second.
    pub fn ops_per_sec(&self) -> f64 {
        self.rate(self.ops)
    }

    /// Fan-out deliveries per second.
    pub fn deliveries_per_sec(&self) -> f64 {
        self.rate(self.deliveries)
    }

    /// The server's memory growth per connection, in bytes (conns mode,
    /// with the server's pid; in other modes the growth is mostly buffers
    /// and stored values, so no per-connection figure is given).
    pub fn rss_per_connection(&self) -> Option<f64> {
        if self.mode != Mode::Conns {
            return None;
        }
        let (before, after) = (self.server_rss_before?, self.server_rss_after?);
        Some((after as f64 - before as f64) / self.connections.max(1) as f64)
    }

    /// CPU use as a fraction of one core over the run.
    fn share(&self, cpu: Duration) -> f64 {
        cpu.as_secs_f64() / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The report as one JSON object (durations in seconds, latencies in
    /// microseconds, memory in bytes, CPU as a fraction of one core).
    pub fn to_json(&self) -> serde_json::Value {
        let us = |ns: u64| ns as f64 / 1000.0;
        let l = &self.latency;
        json!({
            "mode": self.mode.name(),
            "target": self.target,
            "connections": self.connections,
            "depth": self.depth,
            "keys": self.keys,
            "value_size": self.value_size,
            "ops": self.ops,
            "ops_per_sec": self.ops_per_sec(),
            "deliveries": self.deliveries,
            "deliveries_per_sec": self.deliveries_per_sec(),
            "elapsed_s": self.elapsed.as_secs_f64(),
            "latency_us": {
                "count": l.count, "p50": us(l.p50), "p99": us(l.p99),
                "p999": us(l.p999), "max": us(l.max), "mean": l.mean / 1000.0,
            },
            "connect_s": self.connect_time.as_secs_f64(),
            "server_rss_before": self.server_rss_before,
            "server_rss_after": self.server_rss_after,
            "server_rss_per_connection": self.rss_per_connection(),
            "cpu": {
                "tool": self.share(self.tool_cpu),
                "server": self.server_cpu.map(|c| self.share(c)),
            },
            "errors": self.errors.count,
            "error_examples": self.errors.examples,
            "failure": self.failure,
            "ok": self.is_ok(),
        })
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1 << 20) as f64
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.elapsed.as_secs_f64();
        write!(f, "{} against {}: ", self.mode, self.target)?;
        match self.mode {
            Mode::ReqResp | Mode::Pipeline => writeln!(
                f,
                "{} connections × {} in flight, {} keys, {}-byte values",
                self.connections, self.depth, self.keys, self.value_size
            )?,
            Mode::Fanout => writeln!(
                f,
                "{} subscribers, {} sets in flight, {}-byte values",
                self.connections, self.depth, self.value_size
            )?,
            Mode::Conns => writeln!(f, "{} connections, one subscription each", self.connections)?,
        }
        let connect = self.connect_time.as_secs_f64();
        match self.mode {
            Mode::ReqResp | Mode::Pipeline => writeln!(
                f,
                "  ops          {} in {secs:.2} s = {:.0} ops/s",
                self.ops,
                self.ops_per_sec()
            )?,
            Mode::Fanout => writeln!(
                f,
                "  deliveries   {} ({} values) in {secs:.2} s = {:.0} deliveries/s",
                self.deliveries,
                self.ops,
                self.deliveries_per_sec()
            )?,
            Mode::Conns => writeln!(f, "  held         {secs:.2} s (opened in {connect:.2} s)")?,
        }
        if self.latency.count > 0 {
            let us = |ns: u64| ns as f64 / 1000.0;
            let l = &self.latency;
            writeln!(
                f,
                "  latency µs   p50 {:.1}  p99 {:.1}  p99.9 {:.1}  max {:.1}  (mean {:.1})",
                us(l.p50),
                us(l.p99),
                us(l.p999),
                us(l.max),
                l.mean / 1000.0
            )?;
        }
        if let (Some(before), Some(after)) = (self.server_rss_before, self.server_rss_after) {
            write!(
                f,
                "  server RSS   {:.1} MiB before, {:.1} MiB after",
                mib(before),
                mib(after)
            )?;
            match self.rss_per_connection() {
                Some(each) => writeln!(f, ": {each:.0} bytes per connection")?,
                None => writeln!(f)?,
            }
        }
        write!(
            f,
            "  cpu          load tool {:.0}%",
            100.0 * self.share(self.tool_cpu)
        )?;
        match self.server_cpu {
            Some(c) => writeln!(f, ", server {:.0}% of a core", 100.0 * self.share(c))?,
            None => writeln!(f, " of a core")?,
        }
        if self.mode == Mode::Fanout && self.errors.count == 0 && self.failure.is_none() {
            writeln!(
                f,
                "  order        every subscriber got every value, in order"
            )?;
        }
        match self.errors.count {
            0 => writeln!(f, "  errors       none")?,
            n => {
                writeln!(f, "  ERRORS       {n}; the first:")?;
                for e in &self.errors.examples {
                    writeln!(f, "    {e}")?;
                }
            }
        }
        if let Some(why) = &self.failure {
            writeln!(f, "  FAILED       {why}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_json() {
        let mut r = Report::new(Mode::Pipeline, "ws://127.0.0.1:1/".into(), 50, 64);
        r.ops = 1000;
        r.elapsed = Duration::from_millis(500);
        let mut h = Histogram::new();
        h.record(20_000);
        r.latency = Latency::of(&h);
        assert!(r.is_ok());
        let text = r.to_string();
        assert!(text.contains("2000 ops/s"), "{text}");
        assert!(text.contains("p50 20.0"), "{text}");
        assert!(text.contains("errors       none"), "{text}");
        let j = r.to_json();
        assert_eq!(j["ops_per_sec"], 2000.0);
        assert_eq!(j["latency_us"]["p99"], 20.0);
        assert_eq!(j["ok"], true);
        for i in 0..7 {
            r.errors.record(format!("bad {i}"));
        }
        r.failure = Some("the server stalled".into());
        let text = r.to_string();
        assert!(
            text.contains("ERRORS       7") && text.contains("bad 4") && !text.contains("bad 5")
        );
        assert!(text.contains("FAILED       the server stalled"));
        assert_eq!(r.to_json()["errors"], 7);
        assert!(!r.is_ok());
    }

    #[test]
    fn memory_per_connection() {
        let mut r = Report::new(Mode::Conns, "ws://127.0.0.1:1/".into(), 1000, 1);
        r.server_rss_before = Some(1 << 20);
        r.server_rss_after = Some((1 << 20) + 4_000_000);
        assert_eq!(r.rss_per_connection(), Some(4000.0));
        assert!(r.to_string().contains("4000 bytes per connection"));
    }
}
