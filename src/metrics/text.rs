//! The Prometheus text exposition format (version 0.0.4), written by hand.
//!
//! The format is a few lines per family: `# HELP`, `# TYPE`, then one
//! sample per line, `name{label="value",...} number`. Writing it takes a
//! `String` and `write!`; the one subtle part is escaping, done here for
//! label values and help texts even though every label value kvws uses
//! comes from a fixed set (no client-supplied string ever becomes a label).

use std::fmt::Write as _;

use super::Histogram;

/// The `Content-Type` of the format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What a family is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up (resets when the process restarts); named `..._total`.
    Counter,
    /// Goes up and down.
    Gauge,
    /// Buckets, a count and a sum.
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// A number as the format writes it: integers exactly, other values as
/// Rust's shortest round-tripping decimal (never an exponent).
#[derive(Clone, Copy, Debug)]
pub enum Value {
    /// An exact count.
    Int(u64),
    /// Seconds, ratios.
    Float(f64),
}

impl From<u64> for Value {
    fn from(n: u64) -> Value {
        Value::Int(n)
    }
}

impl From<usize> for Value {
    fn from(n: usize) -> Value {
        Value::Int(n as u64)
    }
}

impl From<f64> for Value {
    fn from(x: f64) -> Value {
        Value::Float(x)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Int(u64::from(b))
    }
}

/// A page of metrics being written.
#[derive(Debug, Default)]
pub struct Exposition {
    out: String,
}

impl Exposition {
    /// An empty page.
    pub fn new() -> Self {
        Exposition {
            out: String::with_capacity(16 << 10),
        }
    }

    /// Starts a family: its `HELP` and `TYPE` lines. Its samples follow.
    pub fn family(&mut self, name: &str, kind: Kind, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.out, "# TYPE {name} {}", kind.as_str());
    }

    /// One sample of the current family.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl Into<Value>) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (label, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{label}=\"{}\"", escape_label(v));
            }
            self.out.push('}');
        }
        match value.into() {
            Value::Int(n) => {
                let _ = writeln!(self.out, " {n}");
            }
            Value::Float(x) if x.is_finite() => {
                let _ = writeln!(self.out, " {x}");
            }
            Value::Float(x) if x.is_nan() => self.out.push_str(" NaN\n"),
            Value::Float(x) if x > 0.0 => self.out.push_str(" +Inf\n"),
            Value::Float(_) => self.out.push_str(" -Inf\n"),
        }
    }

    /// A family of one unlabelled counter.
    pub fn counter(&mut self, name: &str, help: &str, value: impl Into<Value>) {
        self.family(name, Kind::Counter, help);
        self.sample(name, &[], value);
    }

    /// A family of one unlabelled gauge.
    pub fn gauge(&mut self, name: &str, help: &str, value: impl Into<Value>) {
        self.family(name, Kind::Gauge, help);
        self.sample(name, &[], value);
    }

    /// A family of counters, one per label value (every value is written,
    /// zeros included, so that a series exists before its first event and
    /// `rate()` sees it start).
    pub fn counters<'a>(
        &mut self,
        name: &str,
        help: &str,
        label: &str,
        values: impl IntoIterator<Item = (&'a str, u64)>,
    ) {
        self.family(name, Kind::Counter, help);
        for (v, n) in values {
            self.sample(name, &[(label, v)], n);
        }
    }

    /// A family of one histogram of durations in seconds.
    pub fn histogram(&mut self, name: &str, help: &str, h: &Histogram) {
        self.family(name, Kind::Histogram, help);
        self.histogram_samples(name, &[], h);
    }

    /// The samples of one histogram (with `labels`) of the current family.
    pub fn histogram_samples(&mut self, name: &str, labels: &[(&str, &str)], h: &Histogram) {
        let bucket = format!("{name}_bucket");
        let bounds: Vec<(String, u64)> = h
            .cumulative()
            .map(|(bound, below)| (bound.to_string(), below))
            .chain([("+Inf".to_string(), h.count())])
            .collect();
        for (le, below) in &bounds {
            let mut with_le: Vec<(&str, &str)> = labels.to_vec();
            with_le.push(("le", le));
            self.sample(&bucket, &with_le, *below);
        }
        self.sample(&format!("{name}_sum"), labels, h.sum_seconds());
        self.sample(&format!("{name}_count"), labels, h.count());
    }

    /// The page.
    pub fn finish(self) -> String {
        self.out
    }
}

fn escape_help(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\n', "\\n")
}

fn escape_label(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn writes_families_samples_and_histograms() {
        let mut e = Exposition::new();
        e.counter("kvws_x_total", "Things.\nTwo lines \\ one slash.", 3u64);
        e.counters(
            "kvws_y_total",
            "By kind.",
            "kind",
            [("a", 1), ("quo\"te", 2)],
        );
        e.gauge("kvws_z_seconds", "A float.", 0.25);
        let mut h = Histogram::new();
        h.observe(Duration::from_millis(3));
        e.histogram("kvws_h_seconds", "A histogram.", &h);
        let page = e.finish();
        assert!(page.starts_with(
            "# HELP kvws_x_total Things.\\nTwo lines \\\\ one slash.\n# TYPE kvws_x_total counter\nkvws_x_total 3\n"
        ));
        assert!(page.contains("kvws_y_total{kind=\"a\"} 1\nkvws_y_total{kind=\"quo\\\"te\"} 2\n"));
        assert!(page.contains("kvws_z_seconds 0.25\n"));
        assert!(page.contains("kvws_h_seconds_bucket{le=\"0.0025\"} 0\n"));
        assert!(page.contains("kvws_h_seconds_bucket{le=\"0.005\"} 1\n"));
        assert!(page.contains("kvws_h_seconds_bucket{le=\"+Inf\"} 1\n"));
        assert!(page.contains("kvws_h_seconds_sum 0.003\nkvws_h_seconds_count 1\n"));
    }
}
