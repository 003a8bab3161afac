//! A latency histogram of plain integers, for the poll loop's own thread.
//!
//! Observing is a search in a short, fixed table of bucket bounds and two
//! additions: no atomics, no allocation, no lock, so that it can sit on
//! the loop's path once per step. A histogram filled on another thread
//! (the background `fsync`) is kept behind that thread's own lock instead,
//! taken once per sync.

use std::time::Duration;

/// Upper bounds of the latency buckets, in nanoseconds: from 25 µs (a
/// quiet loop step, a fast `fdatasync`) to 10 s (a stall that matters to
/// everyone), about three buckets per decade as Prometheus's own defaults.
pub const LATENCY_BOUNDS_NS: [u64; 18] = [
    25_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
    10_000_000_000,
];

const BUCKETS: usize = LATENCY_BOUNDS_NS.len() + 1;

/// Counts of durations by bucket, their number and their sum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Histogram {
    /// Observations per bucket (not cumulative); the last is above every
    /// bound.
    counts: [u64; BUCKETS],
    count: u64,
    sum_ns: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: [0; BUCKETS],
            count: 0,
            sum_ns: 0,
        }
    }
}

impl Histogram {
    /// An empty histogram over [`LATENCY_BOUNDS_NS`].
    pub fn new() -> Self {
        Histogram::default()
    }

    /// Records one duration.
    #[inline]
    pub fn observe(&mut self, d: Duration) {
        self.observe_ns(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    }

    /// Records one duration given in nanoseconds.
    #[inline]
    pub fn observe_ns(&mut self, ns: u64) {
        let i = LATENCY_BOUNDS_NS.partition_point(|&bound| bound < ns);
        self.counts[i] += 1;
        self.count += 1;
        self.sum_ns = self.sum_ns.saturating_add(ns);
    }

    /// Adds every observation of `other` (the same quantity measured in
    /// another place).
    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(other.counts) {
            *a += b;
        }
        self.count += other.count;
        self.sum_ns = self.sum_ns.saturating_add(other.sum_ns);
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Sum of the observations, in seconds.
    pub fn sum_seconds(&self) -> f64 {
        self.sum_ns as f64 / 1e9
    }

    /// `(upper bound in seconds, observations at or below it)` for every
    /// bound, cumulative as the exposition format wants them; the `+Inf`
    /// bucket is [`Histogram::count`].
    pub fn cumulative(&self) -> impl Iterator<Item = (f64, u64)> + '_ {
        let mut below = 0;
        LATENCY_BOUNDS_NS
            .iter()
            .zip(self.counts)
            .map(move |(&bound, n)| {
                below += n;
                (bound as f64 / 1e9, below)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_the_first_bucket_that_holds_them() {
        let mut h = Histogram::new();
        h.observe(Duration::from_micros(10));
        h.observe(Duration::from_micros(25)); // a bound is inclusive
        h.observe(Duration::from_micros(26));
        h.observe(Duration::from_secs(60)); // above every bound
        let buckets: Vec<(f64, u64)> = h.cumulative().collect();
        assert_eq!(buckets[0], (0.000025, 2));
        assert_eq!(buckets[1], (0.00005, 3));
        assert_eq!(buckets.last(), Some(&(10.0, 3)));
        assert_eq!(h.count(), 4);
        assert!((h.sum_seconds() - 60.000061).abs() < 1e-9);
        let mut merged = h;
        merged.merge(&h);
        assert_eq!(merged.count(), 8);
        assert_eq!(merged.cumulative().next(), Some((0.000025, 4)));
    }
}
