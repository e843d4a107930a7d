//! Frame-time statistics: a streaming accumulator (`FrameSeries`) and the
//! numbers it yields (`FrameStats`). Pure: frames in, numbers out.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use super::histogram::{BucketCounts, FrameHistogram};

/// A frame is a stutter when it takes more than this many times the median
/// of the frames before it…
pub const STUTTER_FACTOR: f64 = 2.0;
/// …and more than this (a 2× blip at 500 fps is not something a player sees).
pub const STUTTER_FLOOR_MS: f64 = 10.0;
/// Frames the rolling median looks back over.
pub const STUTTER_WINDOW: usize = 30;
/// Frames needed before the rolling median is trusted.
const STUTTER_MIN_HISTORY: usize = 5;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FrameStats {
    pub frames: u64,
    /// Sum of the frame times, s.
    pub duration_s: f64,
    /// frames ÷ total frame time.
    pub avg_fps: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    /// 1 % low as MangoHud ≥ 0.8 defines it: 1000 / p99 frame time.
    pub low1_fps: f64,
    /// 0.1 % low, same definition: 1000 / p99.9 frame time.
    pub low01_fps: f64,
    /// 1 % low as older tools define it: 1000 / mean of the slowest 1 %.
    pub low1_avg_fps: f64,
    /// 0.1 % low, older definition.
    pub low01_avg_fps: f64,
    /// Frames > STUTTER_FACTOR × rolling median and > STUTTER_FLOOR_MS.
    pub stutters: u64,
    pub stddev_ms: f64,
    /// p99 of |frame time − previous frame time|, ms: pacing jitter.
    pub p99_delta_ms: f64,
}

/// Accumulates frames in order; `stats()` at any point.
#[derive(Clone, Debug, Default)]
pub struct FrameSeries {
    /// Frame times and frame-to-frame changes, counted per histogram
    /// bucket; the histograms are made from them when asked for (and kept
    /// until the next frame).
    hist: BucketCounts,
    deltas: BucketCounts,
    built: OnceLock<Histograms>,
    total_ns: u128,
    // Welford's running mean and sum of squares, in ms.
    mean_ms: f64,
    m2: f64,
    prev_ns: Option<u64>,
    window: StutterWindow,
    stutters: u64,
}

#[derive(Clone, Debug)]
struct Histograms {
    hist: FrameHistogram,
    deltas: FrameHistogram,
}

/// The stutter test against the last `STUTTER_WINDOW` frames, without
/// keeping them sorted: the window holds `STUTTER_FACTOR × ms` of each frame
/// (a ring; empty slots are +∞). With m the median (the `len / 2`-th
/// smallest, 0-based) and f(x) = STUTTER_FACTOR × x, f monotone,
/// `ms > f(m)` ⇔ at least `len / 2 + 1` slots hold f(x) < ms. So the
/// median is never computed: a frame is one branch-free pass of 30 compares
/// and an O(1) ring write, the same verdict bit for bit.
#[derive(Clone, Debug)]
struct StutterWindow {
    limit_ms: [f64; STUTTER_WINDOW],
    /// Next slot to fill (the oldest once full).
    head: usize,
    len: usize,
}

impl Default for StutterWindow {
    fn default() -> Self {
        Self { limit_ms: [f64::INFINITY; STUTTER_WINDOW], head: 0, len: 0 }
    }
}

impl StutterWindow {
    /// `ms > STUTTER_FACTOR × median of the window`.
    fn above_factor_times_median(&self, ms: f64) -> bool {
        let below = self.limit_ms.iter().map(|&l| u32::from(l < ms)).sum::<u32>();
        below as usize > self.len / 2
    }

    fn push(&mut self, ms: f64) {
        self.limit_ms[self.head] = STUTTER_FACTOR * ms;
        self.head = if self.head + 1 == STUTTER_WINDOW { 0 } else { self.head + 1 };
        self.len = (self.len + 1).min(STUTTER_WINDOW);
    }
}

fn fps_from_ms(ms: f64) -> f64 {
    if ms > 0.0 { 1000.0 / ms } else { 0.0 }
}

impl FrameSeries {
    pub fn push(&mut self, frametime_ns: u64) {
        if self.built.get().is_some() {
            self.built = OnceLock::new();
        }
        self.hist.record_ns(frametime_ns);
        self.total_ns += u128::from(frametime_ns);

        let ms = frametime_ns as f64 / 1e6;
        let n = self.hist.frames() as f64;
        let d = ms - self.mean_ms;
        self.mean_ms += d / n;
        self.m2 += d * (ms - self.mean_ms);

        if let Some(prev) = self.prev_ns {
            self.deltas.record_ns(prev.abs_diff(frametime_ns));
        }
        self.prev_ns = Some(frametime_ns);

        // `ms > floor` first: it is cheaper and decides most frames.
        if self.window.len >= STUTTER_MIN_HISTORY && ms > STUTTER_FLOOR_MS && self.window.above_factor_times_median(ms) {
            self.stutters += 1;
        }
        self.window.push(ms);
    }

    fn built(&self) -> &Histograms {
        self.built.get_or_init(|| Histograms { hist: self.hist.to_histogram(), deltas: self.deltas.to_histogram() })
    }

    pub fn histogram(&self) -> &FrameHistogram {
        &self.built().hist
    }

    pub fn frames(&self) -> u64 {
        self.hist.frames()
    }

    pub fn stats(&self) -> FrameStats {
        let frames = self.hist.frames();
        if frames == 0 {
            return FrameStats::default();
        }
        let Histograms { hist, deltas } = self.built();
        let duration_s = self.total_ns as f64 / 1e9;
        let q = |p| hist.quantile_ms(p);
        let (p99, p999) = (q(0.99), q(0.999));
        FrameStats {
            frames,
            duration_s,
            avg_fps: frames as f64 / duration_s,
            p50_ms: q(0.50),
            p90_ms: q(0.90),
            p95_ms: q(0.95),
            p99_ms: p99,
            p999_ms: p999,
            max_ms: hist.max_ms(),
            low1_fps: fps_from_ms(p99),
            low01_fps: fps_from_ms(p999),
            low1_avg_fps: fps_from_ms(hist.worst_mean_ms(0.01)),
            low01_avg_fps: fps_from_ms(hist.worst_mean_ms(0.001)),
            stutters: self.stutters,
            stddev_ms: if frames > 1 { (self.m2 / (frames - 1) as f64).sqrt() } else { 0.0 },
            p99_delta_ms: if deltas.frames() > 0 { deltas.quantile_ms(0.99) } else { 0.0 },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic pseudo-random frame times: mostly 8–12 ms, some spikes.
    fn synthetic(n: usize, seed: u64) -> Vec<u64> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                crate::testing::xorshift(&mut x);
                let base = 8_000_000 + x % 4_000_000;
                if x.is_multiple_of(97) { base * 4 } else { base }
            })
            .collect()
    }

    /// Nearest-rank quantile of sorted values (ms): the independent check.
    fn nearest_rank(sorted: &[u64], q: f64) -> f64 {
        let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        sorted[rank - 1] as f64 / 1e6
    }

    fn close(a: f64, b: f64) -> bool {
        // 3 significant digits (0.1 %) plus the 1 µs recording resolution.
        (a - b).abs() <= b.abs() * 1e-3 + 1e-3
    }

    #[test]
    fn matches_an_independent_sort_based_computation() {
        let frames = synthetic(20_000, 0x9e3779b97f4a7c15);
        let mut s = FrameSeries::default();
        frames.iter().for_each(|&f| s.push(f));
        let st = s.stats();

        let mut sorted = frames.clone();
        sorted.sort_unstable();
        let total: u64 = frames.iter().sum();
        assert_eq!(st.frames, 20_000);
        assert!(close(st.duration_s, total as f64 / 1e9));
        assert!(close(st.avg_fps, 20_000.0 / (total as f64 / 1e9)));
        for (got, q) in [(st.p50_ms, 0.5), (st.p90_ms, 0.9), (st.p95_ms, 0.95), (st.p99_ms, 0.99), (st.p999_ms, 0.999)] {
            let want = nearest_rank(&sorted, q);
            assert!(close(got, want), "q{q}: {got} vs {want}");
        }
        assert!(close(st.max_ms, *sorted.last().unwrap() as f64 / 1e6));
        assert!(close(st.low1_fps, 1000.0 / nearest_rank(&sorted, 0.99)));

        let worst = &sorted[sorted.len() - 200..];
        let worst_mean_ms = worst.iter().sum::<u64>() as f64 / 200.0 / 1e6;
        assert!(close(st.low1_avg_fps, 1000.0 / worst_mean_ms), "{} vs {}", st.low1_avg_fps, 1000.0 / worst_mean_ms);

        let mean = total as f64 / 20_000.0 / 1e6;
        let var = frames.iter().map(|&f| (f as f64 / 1e6 - mean).powi(2)).sum::<f64>() / 19_999.0;
        assert!((st.stddev_ms - var.sqrt()).abs() < 1e-9);

        let mut deltas: Vec<u64> = frames.windows(2).map(|w| w[0].abs_diff(w[1])).collect();
        deltas.sort_unstable();
        assert!(close(st.p99_delta_ms, nearest_rank(&deltas, 0.99)));
    }

    /// Stutters counted straight from the rule's words (sort the window
    /// before each frame), independent of `FrameSeries`' ring.
    fn stutters_by_the_rule(frames: &[u64]) -> u64 {
        let mut want = 0;
        for i in STUTTER_MIN_HISTORY..frames.len() {
            let mut prev: Vec<u64> = frames[i.saturating_sub(STUTTER_WINDOW)..i].to_vec();
            prev.sort_unstable();
            let med = prev[prev.len() / 2] as f64 / 1e6;
            let ms = frames[i] as f64 / 1e6;
            if ms > STUTTER_FACTOR * med && ms > STUTTER_FLOOR_MS {
                want += 1;
            }
        }
        want
    }

    #[test]
    fn stutters_follow_the_documented_rule() {
        let mut frames = vec![5_000_000u64; 40];
        frames.push(9_000_000); // > 2× median but under the 10 ms floor
        frames.extend([5_000_000; 10]);
        frames.push(12_000_000); // a stutter
        frames.extend([5_000_000; 10]);
        frames.extend([30_000_000; 40]); // a scene change: only its start stutters
        let mut s = FrameSeries::default();
        frames.iter().for_each(|&f| s.push(f));

        // Independent count, straight from the rule.
        let want = stutters_by_the_rule(&frames);
        assert_eq!(s.stats().stutters, want);
        assert!((2..20).contains(&want), "{want}");
    }

    #[test]
    fn stutters_match_the_rule_on_random_series_with_ties() {
        // Few distinct values (many ties at the median), spikes, and runs
        // shorter than the window; the rule computed straight from its words.
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || crate::testing::xorshift(&mut x);
        for round in 0..300 {
            let n = (next() % 400) as usize;
            let distinct = 1 + next() % 6;
            let frames: Vec<u64> = (0..n)
                .map(|_| {
                    let r = next();
                    let base = match round % 3 {
                        0 => 4_000_000 + (r % distinct) * 3_000_000,
                        1 => 1 + r % 40_000_000,
                        _ => [5_000_000, 10_000_000, 10_000_001, 20_000_000, 20_000_002][(r % 5) as usize],
                    };
                    if r % 23 == 0 { base * 3 } else { base }
                })
                .collect();
            let mut s = FrameSeries::default();
            frames.iter().for_each(|&f| s.push(f));
            let want = stutters_by_the_rule(&frames);
            assert_eq!(s.stats().stutters, want, "round {round}");
        }
    }

    #[test]
    fn the_histogram_follows_every_frame() {
        // Asked for between frames, it is the one recording each frame makes.
        let frames = synthetic(5_000, 42);
        let mut s = FrameSeries::default();
        let mut recorded = FrameHistogram::default();
        for (i, &f) in frames.iter().enumerate() {
            s.push(f);
            recorded.record_ns(f);
            if i % 1_237 == 0 {
                assert!(*s.histogram() == recorded, "after {} frames", i + 1);
                assert_eq!(s.stats().frames, i as u64 + 1);
            }
        }
        assert!(*s.histogram() == recorded);
        let clone = s.clone();
        assert_eq!(clone.stats(), s.stats());
    }

    #[test]
    fn empty_and_single_frame_series() {
        assert_eq!(FrameSeries::default().stats(), FrameStats::default());
        let mut s = FrameSeries::default();
        s.push(16_000_000);
        let st = s.stats();
        assert_eq!(st.frames, 1);
        assert_eq!(st.stddev_ms, 0.0);
        assert_eq!(st.p99_delta_ms, 0.0);
        assert!(close(st.avg_fps, 62.5));
    }
}
