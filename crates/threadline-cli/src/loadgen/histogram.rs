//! A log-linear latency histogram: 64 sub-buckets per power of two, so any recorded value is
//! reported within 1/64 (about 1.6%) of itself, in a fixed 30 KiB array and no allocation per
//! record.

/// Sub-buckets per power of two, as a number of bits.
const SUB_BITS: u32 = 6;
const SUB: u64 = 1 << SUB_BITS;
/// Values below `2 * SUB` have a bucket each; above, each power of two gets `SUB` buckets.
const BUCKETS: usize = (SUB as usize) * (64 - SUB_BITS as usize) + 2 * SUB as usize;

/// Counts of values (nanoseconds) by bucket, with the exact largest value.
#[derive(Clone)]
pub struct Histogram {
    counts: Box<[u64]>,
    total: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; BUCKETS].into_boxed_slice(),
            total: 0,
            max: 0,
        }
    }
}

/// The bucket of a value: the value itself below `2 * SUB`, else its top `SUB_BITS + 1` bits
/// and how far they were shifted.
fn bucket_of(value: u64) -> usize {
    let bits = 64 - value.leading_zeros();
    if bits <= SUB_BITS + 1 {
        return value as usize;
    }
    let shift = bits - SUB_BITS - 1;
    (SUB as usize) * shift as usize + (value >> shift) as usize
}

/// The largest value that falls in a bucket.
fn highest_in(bucket: usize) -> u64 {
    if bucket < 2 * SUB as usize {
        return bucket as u64;
    }
    let shift = (bucket as u64 / SUB) - 1;
    let mantissa = bucket as u64 - SUB * shift;
    // the top bucket's upper end is u64::MAX itself
    ((mantissa + 1) << shift).wrapping_sub(1)
}

impl Histogram {
    /// Counts one value.
    pub fn record(&mut self, value: u64) {
        self.counts[bucket_of(value)] += 1;
        self.total += 1;
        self.max = self.max.max(value);
    }

    /// Adds every count of `other`.
    pub fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(other.counts.iter()) {
            *mine += theirs;
        }
        self.total += other.total;
        self.max = self.max.max(other.max);
    }

    /// How many values were recorded.
    #[cfg(test)]
    pub fn count(&self) -> u64 {
        self.total
    }

    /// The largest value recorded (0 when none was).
    pub fn max(&self) -> u64 {
        self.max
    }

    /// The value at quantile `q` (0.5 for the median): the upper end of the bucket holding
    /// the value of that rank, never above the largest value recorded; 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (bucket, count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return highest_in(bucket).min(self.max);
            }
        }
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_lands_in_a_bucket_whose_range_holds_it() {
        let mut values: Vec<u64> = (0..1000).collect();
        values.extend((0..64).map(|shift| 1u64 << shift));
        values.extend((1..64).map(|shift| (1u64 << shift) - 1));
        values.extend([u64::MAX, 123_456_789, 987_654_321_012]);
        for value in values {
            let bucket = bucket_of(value);
            assert!(bucket < BUCKETS, "{value}");
            assert!(highest_in(bucket) >= value, "{value}");
            if bucket > 0 {
                assert!(highest_in(bucket - 1) < value, "{value}");
            }
            // within 1/64 of the value
            assert!(highest_in(bucket) - value <= value / SUB, "{value}");
        }
    }

    #[test]
    fn quantiles_of_a_uniform_run() {
        let mut histogram = Histogram::default();
        for value in 1..=10_000u64 {
            histogram.record(value * 1000);
        }
        let p50 = histogram.quantile(0.5);
        let p99 = histogram.quantile(0.99);
        assert!(
            (5_000_000..=5_000_000 + 5_000_000 / 64).contains(&p50),
            "{p50}"
        );
        assert!(
            (9_900_000..=9_900_000 + 9_900_000 / 64).contains(&p99),
            "{p99}"
        );
        assert_eq!(histogram.quantile(1.0), 10_000_000);
        assert_eq!(histogram.max(), 10_000_000);
        assert_eq!(histogram.count(), 10_000);
    }

    #[test]
    fn merged_histograms_count_both() {
        let mut a = Histogram::default();
        let mut b = Histogram::default();
        a.record(10);
        b.record(1_000_000);
        b.record(20);
        a.merge(&b);
        assert_eq!(a.count(), 3);
        assert_eq!(a.quantile(0.5), 20);
        assert_eq!(a.max(), 1_000_000);
        assert_eq!(Histogram::default().quantile(0.99), 0);
    }
}
