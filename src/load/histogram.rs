//! A latency histogram with fixed memory and constant-time recording.
//!
//! Log-linear buckets, as in HdrHistogram: every power of two is split into
//! [`SUB_BUCKETS`] equal buckets, so a recorded value is known to within
//! 1/128 (0.8%) of itself whatever its magnitude, and values below 128 are
//! exact. Recording is a leading-zero count, a shift and an increment: no
//! allocation, no branch on the size of the data set, so it can sit on the
//! load generator's hot path for every reply.
//!
//! Values are nanoseconds; anything above [`MAX_VALUE`] (about 18 minutes)
//! is clamped to it, which bounds the table to a few thousand counters.

/// Bits of sub-bucket resolution: each power of two is split in 2^7 = 128.
const SUB_BITS: u32 = 7;
/// Buckets per power of two.
const SUB_BUCKETS: usize = 1 << SUB_BITS;
/// Largest power of two tracked: values are clamped below 2^40 ns.
const MAX_BITS: u32 = 40;
/// Largest recordable value; larger ones are recorded as this.
pub const MAX_VALUE: u64 = (1 << MAX_BITS) - 1;
/// Number of buckets: exact values below 2·SUB_BUCKETS, then one row of
/// SUB_BUCKETS per further power of two.
const BUCKETS: usize = (MAX_BITS - SUB_BITS + 1) as usize * SUB_BUCKETS;

/// A log-linear histogram of `u64` samples (nanoseconds, by convention).
#[derive(Clone)]
pub struct Histogram {
    counts: Box<[u64]>,
    count: u64,
    sum: u128,
    min: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; BUCKETS].into_boxed_slice(),
            count: 0,
            sum: 0,
            min: u64::MAX,
            max: 0,
        }
    }
}

impl std::fmt::Debug for Histogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Histogram")
            .field("count", &self.count)
            .field("min", &self.min())
            .field("max", &self.max)
            .finish()
    }
}

/// The bucket a value falls in.
fn index(v: u64) -> usize {
    let v = v.min(MAX_VALUE);
    if v < 2 * SUB_BUCKETS as u64 {
        return v as usize;
    }
    let magnitude = 63 - v.leading_zeros(); // ≥ SUB_BITS + 1
    let shift = magnitude - SUB_BITS;
    (shift as usize + 1) * SUB_BUCKETS + ((v >> shift) as usize - SUB_BUCKETS)
}

/// The smallest and largest value of a bucket.
fn bounds(i: usize) -> (u64, u64) {
    if i < 2 * SUB_BUCKETS {
        return (i as u64, i as u64);
    }
    let shift = (i / SUB_BUCKETS - 1) as u32;
    let sub = (i % SUB_BUCKETS + SUB_BUCKETS) as u64;
    (sub << shift, ((sub + 1) << shift) - 1)
}

impl Histogram {
    /// An empty histogram (about 35 KiB of counters, allocated once).
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one sample.
    #[inline]
    pub fn record(&mut self, v: u64) {
        self.counts[index(v)] += 1;
        self.count += 1;
        self.sum += u128::from(v);
        self.min = self.min.min(v);
        self.max = self.max.max(v);
    }

    /// Adds every sample of `other` to this one.
    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a += b;
        }
        self.count += other.count;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    /// Forgets every sample, keeping the memory.
    pub fn clear(&mut self) {
        self.counts.fill(0);
        self.count = 0;
        self.sum = 0;
        self.min = u64::MAX;
        self.max = 0;
    }

    /// Samples recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The smallest sample, exactly (0 when empty).
    pub fn min(&self) -> u64 {
        if self.count == 0 { 0 } else { self.min }
    }

    /// The largest sample, exactly (0 when empty).
    pub fn max(&self) -> u64 {
        self.max
    }

    /// The mean of the samples, exactly (0 when empty).
    pub fn mean(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum as f64 / self.count as f64
        }
    }

    /// The value below or at which a fraction `q` (0..=1) of the samples
    /// lie, to within the bucket precision (the middle of the bucket holding
    /// that sample, never outside the observed min and max; the smallest and
    /// largest sample exactly). 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).max(1);
        // The extremes are known exactly.
        if rank == 1 {
            return self.min;
        }
        if rank >= self.count {
            return self.max;
        }
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let (lo, hi) = bounds(i);
                return (lo + (hi - lo) / 2).clamp(self.min, self.max);
            }
        }
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_tile_the_range() {
        // Every bucket starts right after the previous one ends.
        let mut next = 0;
        for i in 0..BUCKETS {
            let (lo, hi) = bounds(i);
            assert_eq!(lo, next, "bucket {i}");
            assert!(hi >= lo);
            next = hi + 1;
        }
        assert_eq!(next, MAX_VALUE + 1);
        for v in [0, 1, 127, 128, 255, 256, 257, 1000, 123_456_789, MAX_VALUE] {
            let (lo, hi) = bounds(index(v));
            assert!(lo <= v && v <= hi, "{v} in [{lo}, {hi}]");
        }
    }

    #[test]
    fn precision_is_within_one_percent() {
        for v in (0..40).map(|s| (1u64 << s) + 12345 % (1 << s)) {
            let (lo, hi) = bounds(index(v));
            assert!(
                (hi - lo) as f64 <= v as f64 / 100.0 + 1.0,
                "{v}: [{lo}, {hi}]"
            );
        }
    }

    #[test]
    fn quantiles_of_a_uniform_spread() {
        let mut h = Histogram::new();
        for v in 1..=100_000u64 {
            h.record(v * 1000);
        }
        assert_eq!(h.count(), 100_000);
        assert_eq!(h.min(), 1000);
        assert_eq!(h.max(), 100_000_000);
        let close = |got: u64, want: f64| (got as f64 - want).abs() / want < 0.01;
        assert!(close(h.quantile(0.5), 50_000_000.0), "{}", h.quantile(0.5));
        assert!(close(h.quantile(0.99), 99_000_000.0));
        assert!(close(h.quantile(0.999), 99_900_000.0));
        assert_eq!(h.quantile(1.0), 100_000_000);
        assert_eq!(h.quantile(0.0), 1000);
        assert!((h.mean() - 50_000_500.0).abs() < 1.0);
    }

    #[test]
    fn small_values_are_exact_and_outliers_show() {
        let mut h = Histogram::new();
        for _ in 0..999 {
            h.record(42);
        }
        h.record(5_000_000_000);
        assert_eq!(h.quantile(0.5), 42);
        assert_eq!(h.quantile(0.999), 42);
        assert_eq!(h.quantile(1.0), 5_000_000_000);
        h.record(u64::MAX);
        assert_eq!(h.max(), u64::MAX);
        assert_eq!(index(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn merge_and_clear() {
        let mut a = Histogram::new();
        let mut b = Histogram::new();
        a.record(10);
        b.record(1_000_000);
        a.merge(&b);
        assert_eq!((a.count(), a.min(), a.max()), (2, 10, 1_000_000));
        a.clear();
        assert_eq!((a.count(), a.min(), a.max(), a.quantile(0.5)), (0, 0, 0, 0));
    }
}
