//! `FrameHistogram`: frame times in µs on an HDR histogram (3 significant
//! digits, 1 µs .. 10 s), for the statistics a player reads (FrameStats).
//! Not stored: a trial keeps its exact frame times (`sequence`), from which
//! any histogram can be rebuilt.

use anyhow::{Context, Result};
use hdrhistogram::Histogram;

use super::MAX_FRAME_NS;

pub const SIGNIFICANT_DIGITS: u8 = 3;
const MAX_US: u64 = MAX_FRAME_NS / 1_000;

#[derive(Clone, Debug)]
pub struct FrameHistogram(pub(crate) Histogram<u64>);

impl Default for FrameHistogram {
    fn default() -> Self {
        Self(Histogram::new_with_bounds(1, MAX_US, SIGNIFICANT_DIGITS).expect("valid static bounds"))
    }
}

impl PartialEq for FrameHistogram {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl FrameHistogram {
    pub fn record_ns(&mut self, frametime_ns: u64) {
        self.0.saturating_record((frametime_ns / 1_000).clamp(1, MAX_US));
    }

    pub fn frames(&self) -> u64 {
        self.0.len()
    }

    /// Frame time at quantile `q` (0..=1), ms.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        self.0.value_at_quantile(q) as f64 / 1e3
    }

    /// Share (0..=1) of frames longer than `ms`: frames that missed a
    /// target period.
    pub fn share_over_ms(&self, ms: f64) -> f64 {
        let n = self.0.len();
        if n == 0 {
            return 0.0;
        }
        let limit_us = (ms * 1e3) as u64;
        let over: u64 = self.0.iter_recorded().filter(|v| v.value_iterated_to() > limit_us).map(|v| v.count_at_value()).sum();
        over as f64 / n as f64
    }

    pub fn max_ms(&self) -> f64 {
        self.0.max() as f64 / 1e3
    }

    /// Mean of the slowest `fraction` of frames (at least one frame), ms:
    /// the "average of the worst frames" that older tools call 1 % low.
    pub fn worst_mean_ms(&self, fraction: f64) -> f64 {
        let n = self.0.len();
        if n == 0 {
            return 0.0;
        }
        let mut want = ((n as f64 * fraction).ceil() as u64).max(1);
        let (mut sum, mut taken) = (0.0, 0u64);
        let buckets: Vec<(u64, u64)> =
            self.0.iter_recorded().map(|v| (self.0.median_equivalent(v.value_iterated_to()), v.count_at_value())).collect();
        for (value, count) in buckets.into_iter().rev() {
            let take = count.min(want);
            sum += value as f64 * take as f64;
            taken += take;
            want -= take;
            if want == 0 {
                break;
            }
        }
        sum / taken as f64 / 1e3
    }

    pub fn merge(&mut self, other: &FrameHistogram) -> Result<()> {
        self.0.add(&other.0).context("merging frame histograms")
    }
}

/// Frames per bucket of `FrameHistogram`, counted at the cost of an index
/// and an add (an HDR record also keeps min, max and a checked index: a
/// good part of the statistics' time per frame). `to_histogram` gives the
/// `FrameHistogram` that recording the same frames one by one gives: the
/// same counts in the same buckets, hence the same quantiles, max, min,
/// equality and serialized form.
#[derive(Clone)]
pub(crate) struct BucketCounts {
    counts: Box<[u64]>,
    frames: u64,
}

/// The HDR bucket layout of `FrameHistogram` (lowest value 1, so the unit
/// magnitude is 0), as `hdrhistogram` computes it: 2 × 10^digits values at
/// unit resolution, a power of two of sub-buckets.
const SUB_BUCKET_COUNT_MAGNITUDE: u32 = 64 - (2 * 10u64.pow(SIGNIFICANT_DIGITS as u32) - 1).leading_zeros();
const SUB_BUCKET_HALF_COUNT_MAGNITUDE: u32 = SUB_BUCKET_COUNT_MAGNITUDE - 1;
const SUB_BUCKET_MASK: u64 = (1 << SUB_BUCKET_COUNT_MAGNITUDE) - 1;
const BUCKETS: usize = bucket_index(MAX_US) + 1;

/// `hdrhistogram`'s `index_for` for this layout.
const fn bucket_index(us: u64) -> usize {
    let bucket = (64 - SUB_BUCKET_COUNT_MAGNITUDE) - (us | SUB_BUCKET_MASK).leading_zeros();
    let sub_bucket = us >> bucket;
    (((bucket + 1) as usize) << SUB_BUCKET_HALF_COUNT_MAGNITUDE) + sub_bucket as usize - (1 << SUB_BUCKET_HALF_COUNT_MAGNITUDE)
}

/// A value in bucket `index` (its lowest), as `hdrhistogram`'s `value_for`.
fn bucket_value(index: usize) -> u64 {
    let half = 1usize << SUB_BUCKET_HALF_COUNT_MAGNITUDE;
    let (bucket, sub_bucket) = match (index >> SUB_BUCKET_HALF_COUNT_MAGNITUDE).checked_sub(1) {
        Some(bucket) => (bucket, (index & (half - 1)) + half),
        None => (0, index & (half - 1)),
    };
    (sub_bucket as u64) << bucket
}

impl Default for BucketCounts {
    fn default() -> Self {
        Self { counts: vec![0; BUCKETS].into_boxed_slice(), frames: 0 }
    }
}

impl std::fmt::Debug for BucketCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let buckets = self.counts.iter().filter(|&&c| c > 0).count();
        write!(f, "BucketCounts {{ frames: {}, buckets: {buckets} }}", self.frames)
    }
}

impl BucketCounts {
    /// As `FrameHistogram::record_ns`.
    #[inline]
    pub(crate) fn record_ns(&mut self, frametime_ns: u64) {
        if let Some(c) = self.counts.get_mut(bucket_index((frametime_ns / 1_000).clamp(1, MAX_US))) {
            *c += 1;
        }
        self.frames += 1;
    }

    pub(crate) fn frames(&self) -> u64 {
        self.frames
    }

    pub(crate) fn to_histogram(&self) -> FrameHistogram {
        let mut h = FrameHistogram::default();
        for (i, &count) in self.counts.iter().enumerate().filter(|&(_, &c)| c > 0) {
            h.0.saturating_record_n(bucket_value(i), count);
        }
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn share_over_counts_only_frames_past_the_limit() {
        let mut h = FrameHistogram::default();
        assert_eq!(h.share_over_ms(16.7), 0.0);
        for _ in 0..95 {
            h.record_ns(16_600_000);
        }
        for _ in 0..5 {
            h.record_ns(16_900_000);
        }
        assert!((h.share_over_ms(16.7) - 0.05).abs() < 1e-12, "{}", h.share_over_ms(16.7));
        assert_eq!(h.share_over_ms(20.0), 0.0);
        assert_eq!(h.share_over_ms(1.0), 1.0);
    }

    #[test]
    fn merge_adds_the_frames() {
        let mut a = FrameHistogram::default();
        let mut b = FrameHistogram::default();
        for i in 1..=1000u64 {
            a.record_ns(i * 10_000);
            b.record_ns(i * 20_000);
        }
        a.merge(&b).unwrap();
        assert_eq!(a.frames(), 2000);
        assert_eq!(a.max_ms(), b.max_ms());
    }

    #[test]
    fn out_of_range_values_saturate_instead_of_failing() {
        let mut h = FrameHistogram::default();
        h.record_ns(1); // below 1 µs
        h.record_ns(u64::MAX);
        assert_eq!(h.frames(), 2);
        assert!(h.max_ms() >= 9_990.0);
    }

    #[test]
    fn bucket_layout_is_the_hdr_one() {
        // Every value 1 µs .. 10 s: its bucket's value is HDR-equivalent to it,
        // so buckets are one to one.
        let h = FrameHistogram::default();
        assert!(BUCKETS <= h.0.distinct_values());
        let mut last = 0;
        for us in 1..=MAX_US {
            let i = bucket_index(us);
            assert!(i < BUCKETS && i >= last, "{us}");
            last = i;
            assert_eq!(h.0.lowest_equivalent(bucket_value(i)), h.0.lowest_equivalent(us), "{us}");
        }
        assert_eq!(bucket_index(MAX_US), BUCKETS - 1);
    }

    #[test]
    fn bucket_counts_make_the_histogram_recording_makes() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for round in 0..50 {
            let (mut counts, mut recorded) = (BucketCounts::default(), FrameHistogram::default());
            for _ in 0..(round * 997) % 20_000 {
                crate::testing::xorshift(&mut x);
                let ns = match x % 7 {
                    0 => x % 2_000,            // under 1 µs: clamped up
                    1 => u64::MAX - x % 1_000, // over 10 s: clamped down
                    2 => x % 20_000_000_000,
                    _ => 5_000_000 + x % 30_000_000, // frames
                };
                counts.record_ns(ns);
                recorded.record_ns(ns);
            }
            let built = counts.to_histogram();
            assert!(built == recorded, "round {round}");
            assert_eq!(built.frames(), recorded.frames());
            assert_eq!(built.0.max(), recorded.0.max());
            assert_eq!(built.0.min(), recorded.0.min());
            assert_eq!(built.0.min_nz(), recorded.0.min_nz());
            for q in [0.0, 0.5, 0.9, 0.99, 0.999, 1.0] {
                assert_eq!(built.quantile_ms(q).to_bits(), recorded.quantile_ms(q).to_bits());
            }
            assert_eq!(built.worst_mean_ms(0.01).to_bits(), recorded.worst_mean_ms(0.01).to_bits());
        }
    }

    #[test]
    fn worst_mean_takes_the_slowest_frames() {
        let mut h = FrameHistogram::default();
        for _ in 0..99 {
            h.record_ns(10_000_000);
        }
        h.record_ns(50_000_000);
        assert!((h.worst_mean_ms(0.01) - 50.0).abs() < 0.05);
        // 2 % of 100 frames: one 50 ms and one 10 ms frame.
        assert!((h.worst_mean_ms(0.02) - 30.0).abs() < 0.05);
    }
}
