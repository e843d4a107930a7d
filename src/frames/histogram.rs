//! `FrameHistogram`: frame times in µs on an HDR histogram (3 significant
//! digits, 1 µs .. 10 s). Merges and serializes, so the tuner can store one
//! per trial and pool them later.

use anyhow::{Context, Result};
use base64::Engine;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};

use crate::mangohud::log::MAX_FRAME_NS;

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
        let buckets: Vec<(u64, u64)> = self
            .0
            .iter_recorded()
            .map(|v| (self.0.median_equivalent(v.value_iterated_to()), v.count_at_value()))
            .collect();
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

    /// Compact text form (V2 deflate, base64), for JSON stores.
    pub fn to_base64(&self) -> Result<String> {
        let mut bytes = Vec::new();
        V2DeflateSerializer::new()
            .serialize(&self.0, &mut bytes)
            .map_err(|e| anyhow::anyhow!("serializing a frame histogram: {e:?}"))?;
        Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
    }

    pub fn from_base64(text: &str) -> Result<Self> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .context("frame histogram is not base64")?;
        let h: Histogram<u64> = Deserializer::new()
            .deserialize(&mut bytes.as_slice())
            .map_err(|e| anyhow::anyhow!("frame histogram does not deserialize: {e:?}"))?;
        Ok(Self(h))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_and_round_trip() {
        let mut a = FrameHistogram::default();
        let mut b = FrameHistogram::default();
        for i in 1..=1000u64 {
            a.record_ns(i * 10_000);
            b.record_ns(i * 20_000);
        }
        let text = a.to_base64().unwrap();
        assert_eq!(FrameHistogram::from_base64(&text).unwrap(), a);
        a.merge(&b).unwrap();
        assert_eq!(a.frames(), 2000);
        assert!(FrameHistogram::from_base64("not base64!").is_err());
        assert!(FrameHistogram::from_base64("AAAA").is_err());
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
