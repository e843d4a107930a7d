//! Scoring: how a config's p99 frame time compares with the kernel's own
//! scheduler, and whether the difference is beyond the noise. Pure
//! functions over frame times (µs, in order).
//!
//! The formula (also in the README):
//! - Each config trial is paired with the baseline trial of its block (the
//!   trials that ran back to back), so slow drift of the game's frame rate
//!   (scene changes) cancels: ratio = p99(config) ÷ p99(baseline).
//! - A config's ratio is the geometric mean over its pairs.
//! - Its 95 % confidence interval comes from a block bootstrap: frames are
//!   resampled in runs of consecutive frames (frame times are correlated,
//!   so single-frame resampling would understate the noise), independently
//!   in the config and in the baseline trial; with 3 or more pairs the
//!   pairs themselves are resampled too, which carries the between-block
//!   drift into the interval.
//! - Verdict, from `MIN_PAIRS` (3) pairs on (with fewer the interval cannot
//!   hold the drift between blocks): "better" when the whole interval is
//!   below 1, "worse" when it is above 1, else "no significant
//!   difference". A config only wins if
//!   it also keeps its average fps within `FPS_TOLERANCE` of the baseline
//!   (lowering p99 by halving the frame rate is not a win) and never had
//!   the scheduler ejected.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// A config may lose at most this fraction of the baseline's average fps.
pub const FPS_TOLERANCE: f64 = 0.03;
/// Bootstrap replicates.
pub const REPLICATES: usize = 1000;
// The bootstrap's random numbers: xoshiro (SmallRng), not ChaCha
// (StdRng): nothing here needs a cryptographic generator, and ChaCha's
// block function was a third of a ranking's time in a debug build (perf).
const SEED: u64 = 0x5c8_6a3e;

/// p99 of frame times (nearest-rank on a copy), µs. NaN when empty.
pub fn p99_us(frames: &[u32]) -> f64 {
    quantile_us(frames, 0.99)
}

pub fn quantile_us(frames: &[u32], q: f64) -> f64 {
    if frames.is_empty() {
        return f64::NAN;
    }
    let mut v = frames.to_vec();
    quantile_in_place(&mut v, q)
}

/// The one quantile definition of the crate (nearest rank): the index, in
/// `n` sorted values, of the value at quantile `q`: the smallest value with
/// at least a share `q` of the values at or below it. `n` > 0.
pub fn nearest_rank(n: usize, q: f64) -> usize {
    ((q * n as f64).ceil() as usize).clamp(1, n) - 1
}

/// The value at quantile `q` of `v` (nearest rank; `v` may be reordered).
fn quantile_in_place(v: &mut [u32], q: f64) -> f64 {
    let keep = v.len() - nearest_rank(v.len(), q);
    f64::from(kth_largest(v, keep))
}

/// The `k`-th largest value of `v` (1 ≤ `k` ≤ len; `v` may be reordered).
fn kth_largest(v: &mut [u32], k: usize) -> u32 {
    // A high quantile (the p99 the bootstrap takes of every resample) is
    // the smallest of the few largest values: one pass that keeps those.
    if k * 16 <= v.len() { smallest_of_largest(v, k) } else { *v.select_nth_unstable(v.len() - k).1 }
}

/// The smallest of the `keep` largest values of `v` (`keep` ≥ 1), in one
/// pass with a small sorted buffer: most values are below its smallest
/// and cost one comparison. select_nth_unstable reorders the whole slice;
/// in a debug build (the test suite's, under emulation) its pointer
/// checks were ~95 % of a ranking's time (perf, 2026-12-03).
fn smallest_of_largest(v: &[u32], keep: usize) -> u32 {
    let mut top: Vec<u32> = Vec::with_capacity(keep + 1);
    for &x in v {
        if top.len() < keep || x > top[0] {
            let at = top.partition_point(|&t| t < x);
            top.insert(at, x);
            if top.len() > keep {
                top.remove(0);
            }
        }
    }
    top[0]
}

/// Median (mean of the middle two for even lengths); NaN for none. The one
/// median of the crate: the report's and the benchmark's.
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
}

/// Average fps: frames ÷ total frame time.
pub fn avg_fps(frames: &[u32]) -> f64 {
    let total_us: u64 = frames.iter().map(|&f| u64::from(f)).sum();
    if total_us == 0 { 0.0 } else { frames.len() as f64 * 1e6 / total_us as f64 }
}

/// Length of the runs of consecutive frames the bootstrap resamples: about
/// √n, so a run covers a fraction of a second to a few seconds of play.
pub fn block_len(n: usize) -> usize {
    ((n as f64).sqrt().round() as usize).clamp(10, 500).min(n.max(1))
}

/// The block bootstrap of one trial's frames at one quantile: a resample
/// is `n` frames in runs of `block_len(n)` consecutive ones from random
/// starts, and its quantile is its `keep`-th largest value.
///
/// Made once per trial, it knows where the trial's high values are (those
/// at or above about the `4 × keep`-th largest): when a resample's runs
/// hold at least `keep` of them, which is nearly always, its quantile is
/// among them, found from those few instead of a copy of all `n` frames.
/// The same value as the copy's, from the same random draws (tested): a
/// ranking takes a thousand resamples of every trial, and it runs at the
/// end of every tune, on the player's machine and in the emulated test bed.
struct Resampler<'a> {
    frames: &'a [u32],
    block: usize,
    keep: usize,
    /// The frames at or above the threshold, in frame order.
    high: Vec<u32>,
    /// `before[i]`: how many of `frames[..i]` are high (`n` + 1 entries).
    before: Vec<u32>,
    /// A resample's runs (start, length), and its values.
    runs: Vec<(usize, usize)>,
    buf: Vec<u32>,
}

impl<'a> Resampler<'a> {
    /// `frames` not empty.
    fn new(frames: &'a [u32], q: f64) -> Self {
        let n = frames.len();
        let keep = n - nearest_rank(n, q);
        let threshold = kth_largest(&mut frames.to_vec(), (4 * keep).min(n));
        let mut before = Vec::with_capacity(n + 1);
        before.push(0u32);
        let mut high = Vec::new();
        for &f in frames {
            if f >= threshold {
                high.push(f);
            }
            before.push(high.len() as u32);
        }
        Resampler { frames, block: block_len(n), keep, high, before, runs: Vec::new(), buf: Vec::with_capacity(n) }
    }

    /// The quantile of one resample, drawn with `rng`.
    fn quantile(&mut self, rng: &mut SmallRng) -> f64 {
        let n = self.frames.len();
        self.runs.clear();
        let (mut filled, mut high) = (0, 0);
        while filled < n {
            let start = rng.random_range(0..=n - self.block);
            let take = self.block.min(n - filled);
            self.runs.push((start, take));
            high += (self.before[start + take] - self.before[start]) as usize;
            filled += take;
        }
        self.buf.clear();
        if high >= self.keep {
            for &(start, take) in &self.runs {
                self.buf.extend_from_slice(&self.high[self.before[start] as usize..self.before[start + take] as usize]);
            }
        } else {
            for &(start, take) in &self.runs {
                self.buf.extend_from_slice(&self.frames[start..start + take]);
            }
        }
        f64::from(kth_largest(&mut self.buf, self.keep))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub estimate: f64,
    pub low: f64,
    pub high: f64,
}

fn interval(estimate: f64, mut reps: Vec<f64>) -> Interval {
    reps.retain(|r| r.is_finite());
    if reps.is_empty() {
        return Interval { estimate, low: f64::NAN, high: f64::NAN };
    }
    reps.sort_by(f64::total_cmp);
    Interval { estimate, low: reps[nearest_rank(reps.len(), 0.025)], high: reps[nearest_rank(reps.len(), 0.975)] }
}

/// p99 of one trial, ms, with a 95 % block-bootstrap interval.
pub fn p99_interval_ms(frames: &[u32]) -> Interval {
    if frames.is_empty() {
        return Interval { estimate: f64::NAN, low: f64::NAN, high: f64::NAN };
    }
    let mut rng = SmallRng::seed_from_u64(SEED);
    let mut trial = Resampler::new(frames, 0.99);
    let reps = (0..REPLICATES).map(|_| trial.quantile(&mut rng) / 1e3).collect();
    interval(p99_us(frames) / 1e3, reps)
}

/// A config trial and the baseline trial of its block.
pub struct Pair<'a> {
    pub config: &'a [u32],
    pub baseline: &'a [u32],
}

fn geo_mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v.ln(), n + 1));
    if n == 0 { f64::NAN } else { (sum / n as f64).exp() }
}

/// p99 ratio config ÷ baseline over `pairs`, with its interval.
pub fn p99_ratio(pairs: &[Pair]) -> Interval {
    let pairs: Vec<&Pair> = pairs.iter().filter(|p| !p.config.is_empty() && !p.baseline.is_empty()).collect();
    if pairs.is_empty() {
        return Interval { estimate: f64::NAN, low: f64::NAN, high: f64::NAN };
    }
    // Each pair's p99s (a selection over its frames): the estimate's, and
    // the t-interval's below.
    let p99s: Vec<(f64, f64)> = pairs.iter().map(|p| (p99_us(p.config), p99_us(p.baseline))).collect();
    let estimate = geo_mean(p99s.iter().map(|&(c, b)| c / b));
    let mut rng = SmallRng::seed_from_u64(SEED);
    let mut trials: Vec<(Resampler, Resampler)> =
        pairs.iter().map(|p| (Resampler::new(p.config, 0.99), Resampler::new(p.baseline, 0.99))).collect();
    let resample_pairs = pairs.len() >= 3;
    let reps = (0..REPLICATES)
        .map(|_| {
            let ratios: Vec<f64> = (0..pairs.len())
                .map(|i| {
                    let (config, baseline) = &mut trials[if resample_pairs { rng.random_range(0..pairs.len()) } else { i }];
                    config.quantile(&mut rng) / baseline.quantile(&mut rng)
                })
                .collect();
            geo_mean(ratios.into_iter())
        })
        .collect();
    let boot = interval(estimate, reps);
    // From a few pairs, resampling them says too little about how far
    // their mean may be off: the bootstrap spreads the mean of n pairs over
    // √((n−1)/n) · 1.96 standard errors where Student's t takes t(n−1) —
    // 37 % of it for 3 pairs, 82 % for 10 — and 3 blocks called identical
    // configs better or worse in 16 % of simulated games with scenes. So
    // below `SMALL_SAMPLE` pairs the interval also spans the t-interval
    // over the pairs' ratios (3 blocks: 4 %). From there on the bootstrap
    // alone: it resamples the frames inside each pair as well, and a race's
    // rounds judged by it are not called wrong more often than allowed
    // (BENCHMARKS.md "Scene changes"), while spanning t there too cost the
    // race a tenth of the gains it finds.
    if !(MIN_PAIRS..SMALL_SAMPLE).contains(&pairs.len()) {
        return boot;
    }
    let t = paired_ratio(p99s, 0.95);
    if !t.low.is_finite() || !t.high.is_finite() {
        return boot;
    }
    Interval { estimate, low: boot.low.min(t.low), high: boot.high.max(t.high) }
}

/// ln Γ(x), x > 0 (Lanczos, g = 7, 9 terms: ~15 significant digits).
fn ln_gamma(x: f64) -> f64 {
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        return (std::f64::consts::PI / (std::f64::consts::PI * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let t = x + 7.5;
    let sum = C[1..].iter().enumerate().fold(C[0], |s, (i, c)| s + c / (x + i as f64 + 1.0));
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + sum.ln()
}

/// The regularized incomplete beta function I_x(a, b), by its continued
/// fraction (modified Lentz), on the side where it converges fast.
fn inc_beta(x: f64, a: f64, b: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    if x > (a + 1.0) / (a + b + 2.0) {
        return 1.0 - inc_beta(1.0 - x, b, a);
    }
    let front = (ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln()).exp() / a;
    let tiny = 1e-300;
    let (mut c, mut d) = (1.0, 1.0 - (a + b) * x / (a + 1.0));
    d = 1.0 / if d.abs() < tiny { tiny } else { d };
    let mut f = d;
    for m in 1..300 {
        let m = m as f64;
        for num in
            [m * (b - m) * x / ((a + 2.0 * m - 1.0) * (a + 2.0 * m)), -(a + m) * (a + b + m) * x / ((a + 2.0 * m) * (a + 2.0 * m + 1.0))]
        {
            d = 1.0 + num * d;
            d = 1.0 / if d.abs() < tiny { tiny } else { d };
            c = 1.0 + num / c;
            c = if c.abs() < tiny { tiny } else { c };
            f *= c * d;
        }
        if (c * d - 1.0).abs() < 1e-15 {
            break;
        }
    }
    front * f
}

/// P(T ≤ t) for Student's t with `df` degrees of freedom.
fn t_cdf(t: f64, df: f64) -> f64 {
    let tail = 0.5 * inc_beta(df / (df + t * t), df / 2.0, 0.5);
    if t > 0.0 { 1.0 - tail } else { tail }
}

/// The Student t quantile: the t with P(T ≤ t) = `p` (p in (0.5, 1)), by
/// bisection of the distribution function. NaN for `df` 0. Remembered per
/// (p, df) for the thread: a race asks for the same few after every round
/// of every config, and each bisection costs thousands of beta terms.
pub fn t_quantile(p: f64, df: usize) -> f64 {
    if df == 0 {
        return f64::NAN;
    }
    thread_local! {
        static KNOWN: std::cell::RefCell<std::collections::HashMap<(u64, usize), f64>> = Default::default();
    }
    KNOWN.with_borrow_mut(|known| {
        *known.entry((p.to_bits(), df)).or_insert_with(|| {
            // 64 halvings of 1e6: to within 1e-13.
            let (mut lo, mut hi) = (0.0, 1e6);
            for _ in 0..64 {
                let mid = 0.5 * (lo + hi);
                if t_cdf(mid, df as f64) < p { lo = mid } else { hi = mid }
            }
            0.5 * (lo + hi)
        })
    })
}

/// Ratio a ÷ b of values paired by round (a config's and a reference's p99
/// in the same round of an interleaved race): the geometric mean of the
/// per-round ratios, with a two-sided t-interval of confidence `level` on
/// their logarithms (0.95 for a verdict; a race's repeated looks need a
/// higher one, see `tune::race`). The round
/// is the unit of replication: a round's ratio carries the noise of both
/// segments' p99s and whatever the scene did between them, so the spread
/// of the ratios over rounds is the whole noise, with nothing resampled.
/// Pairs with a missing or non-positive value are skipped; fewer than two
/// pairs give a NaN interval.
pub fn paired_ratio(pairs: impl IntoIterator<Item = (f64, f64)>, level: f64) -> Interval {
    let logs: Vec<f64> =
        pairs.into_iter().filter(|&(a, b)| a > 0.0 && b > 0.0 && a.is_finite() && b.is_finite()).map(|(a, b)| (a / b).ln()).collect();
    let n = logs.len();
    if n == 0 {
        return Interval { estimate: f64::NAN, low: f64::NAN, high: f64::NAN };
    }
    let mean = logs.iter().sum::<f64>() / n as f64;
    if n < 2 {
        return Interval { estimate: mean.exp(), low: f64::NAN, high: f64::NAN };
    }
    let var = logs.iter().map(|l| (l - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    let half = t_quantile(0.5 + level / 2.0, n - 1) * (var / n as f64).sqrt();
    Interval { estimate: mean.exp(), low: (mean - half).exp(), high: (mean + half).exp() }
}

/// Average-fps ratio config ÷ baseline (geometric mean over pairs).
pub fn fps_ratio(pairs: &[Pair]) -> f64 {
    geo_mean(pairs.iter().filter(|p| !p.config.is_empty() && !p.baseline.is_empty()).map(|p| avg_fps(p.config) / avg_fps(p.baseline)))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Better,
    Worse,
    NoSignificantDifference,
    /// Lower p99 but too much lower average fps.
    FpsLoss,
    /// The scheduler was ejected or failed to load in some trial.
    Failed,
    /// No baseline to compare with.
    NoBaseline,
    /// Paired with the baseline in fewer than `MIN_PAIRS` blocks or rounds:
    /// too few to see how much the game itself moved between them.
    TooFewPairs,
}

impl Verdict {
    pub fn text(self) -> &'static str {
        match self {
            Verdict::Better => "better than baseline",
            Verdict::Worse => "worse than baseline",
            Verdict::NoSignificantDifference => "no significant difference",
            Verdict::FpsLoss => "lower p99 but loses avg fps",
            Verdict::Failed => "failed",
            Verdict::NoBaseline => "no baseline",
            Verdict::TooFewPairs => "too few blocks or rounds to judge",
        }
    }
}

/// The fewest pairs (blocks, or rounds of a race) a verdict stands on.
/// `p99_ratio` resamples the pairs themselves only from 3 on; with fewer,
/// its interval holds the noise of the frames within each trial but not
/// how much the game moved between a trial and its baseline (a scene
/// change), so it is far too narrow: two 130-s blocks called a config
/// identical to the kernel's scheduler better or worse in 56 % of
/// simulated games with scenes (BENCHMARKS.md "Scene changes").
pub const MIN_PAIRS: usize = 3;

/// Below this many pairs the interval spans Student's t too (`p99_ratio`).
pub const SMALL_SAMPLE: usize = 10;

/// The verdict for a config from its p99 ratio interval over `pairs`
/// pairs and its fps ratio.
pub fn verdict(ratio: &Interval, fps_ratio: f64, failures: usize, pairs: usize) -> Verdict {
    if failures > 0 {
        return Verdict::Failed;
    }
    if !ratio.high.is_finite() || !ratio.low.is_finite() {
        return Verdict::NoBaseline;
    }
    if pairs < MIN_PAIRS {
        return Verdict::TooFewPairs;
    }
    if ratio.high < 1.0 {
        if fps_ratio < 1.0 - FPS_TOLERANCE { Verdict::FpsLoss } else { Verdict::Better }
    } else if ratio.low > 1.0 {
        Verdict::Worse
    } else {
        Verdict::NoSignificantDifference
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frames with autocorrelated noise and rare spikes, deterministic.
    fn noisy_frames(n: usize, base_us: f64, spike_us: f64, seed: u64) -> Vec<u32> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut level = 0.0f64;
        (0..n)
            .map(|_| {
                level = 0.95 * level + rng.random_range(-0.05..0.05);
                let spike = if rng.random_range(0.0..1.0) < 0.02 { spike_us } else { 0.0 };
                (base_us * (1.0 + level) + spike) as u32
            })
            .collect()
    }

    #[test]
    fn p99_matches_a_sorted_reference() {
        let frames = noisy_frames(3000, 5000.0, 8000.0, 1);
        let mut sorted = frames.clone();
        sorted.sort_unstable();
        // Nearest rank: the ceil(0.99 n)-th smallest.
        assert_eq!(p99_us(&frames), sorted[2969] as f64);
        assert!((avg_fps(&[10_000, 10_000, 20_000]) - 75.0).abs() < 1e-9);
        assert!(p99_us(&[]).is_nan());
    }

    #[test]
    fn every_quantile_is_the_sorted_values_nearest_rank() {
        let mut x = 7u64;
        for n in [1usize, 2, 3, 15, 16, 17, 99, 100, 101, 640, 3001] {
            // Few distinct values (ties) and many.
            for spread in [3u64, 1 << 20] {
                let v: Vec<u32> = (0..n).map(|_| (crate::testing::xorshift(&mut x) % spread) as u32).collect();
                let mut sorted = v.clone();
                sorted.sort_unstable();
                for q in [0.0, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0] {
                    assert_eq!(quantile_us(&v, q), f64::from(sorted[nearest_rank(n, q)]), "n {n}, spread {spread}, q {q}");
                }
            }
        }
    }

    /// The resample the bootstrap takes, the plain way: a copy of its runs
    /// of frames, and the quantile of the copy.
    fn copied_resample_quantile(frames: &[u32], q: f64, rng: &mut SmallRng) -> f64 {
        let (n, len) = (frames.len(), block_len(frames.len()));
        let mut out = Vec::new();
        while out.len() < n {
            let start = rng.random_range(0..=n - len);
            let take = len.min(n - out.len());
            out.extend_from_slice(&frames[start..start + take]);
        }
        quantile_in_place(&mut out, q)
    }

    #[test]
    fn a_resamples_quantile_from_its_high_frames_is_the_copys() {
        let mut x = 3u64;
        let (mut gathered, mut fell_back) = (0, 0);
        for n in [1usize, 2, 9, 10, 11, 99, 100, 400, 1000, 4001] {
            let spread_out = noisy_frames(n, 5000.0, 9000.0, n as u64);
            // Every spike in one run of frames: most resamples miss it and
            // hold fewer high frames than the quantile needs.
            let clustered: Vec<u32> = (0..n).map(|i| if i >= n / 2 && i < n / 2 + n / 20 + 1 { 30_000 } else { 5000 }).collect();
            let ties: Vec<u32> = (0..n).map(|_| (crate::testing::xorshift(&mut x) % 3) as u32 * 1000).collect();
            for frames in [spread_out, clustered, ties] {
                for q in [0.5, 0.99, 0.999] {
                    let (mut a, mut b) = (SmallRng::seed_from_u64(7), SmallRng::seed_from_u64(7));
                    let mut r = Resampler::new(&frames, q);
                    for i in 0..200 {
                        let want = copied_resample_quantile(&frames, q, &mut b);
                        assert_eq!(r.quantile(&mut a), want, "n {n}, q {q}, resample {i}");
                        if r.buf.len() < n {
                            gathered += 1;
                        } else if r.high.len() < n {
                            fell_back += 1;
                        }
                    }
                }
            }
        }
        // Both ways were taken.
        assert!(gathered > 0 && fell_back > 0, "{gathered} {fell_back}");
    }

    #[test]
    fn same_distribution_is_no_significant_difference() {
        let pairs_data: Vec<(Vec<u32>, Vec<u32>)> =
            (0..3).map(|i| (noisy_frames(4000, 5000.0, 6000.0, 10 + i), noisy_frames(4000, 5000.0, 6000.0, 20 + i))).collect();
        let pairs: Vec<Pair> = pairs_data.iter().map(|(c, b)| Pair { config: c, baseline: b }).collect();
        let r = p99_ratio(&pairs);
        assert!(r.low < 1.0 && r.high > 1.0, "{r:?}");
        assert_eq!(verdict(&r, fps_ratio(&pairs), 0, pairs.len()), Verdict::NoSignificantDifference);
    }

    #[test]
    fn fewer_spikes_is_better_and_more_is_worse() {
        let base = noisy_frames(4000, 5000.0, 9000.0, 1);
        let calm = noisy_frames(4000, 5000.0, 2000.0, 2);
        let better = [Pair { config: &calm, baseline: &base }];
        let r = p99_ratio(&better);
        assert!(r.high < 1.0, "{r:?}");
        // (The interval of one pair, judged as if it came from enough.)
        assert_eq!(verdict(&r, fps_ratio(&better), 0, MIN_PAIRS), Verdict::Better);
        // From fewer pairs it is no verdict at all: the drift between
        // blocks is not in it.
        assert_eq!(verdict(&r, fps_ratio(&better), 0, MIN_PAIRS - 1), Verdict::TooFewPairs);
        let worse = [Pair { config: &base, baseline: &calm }];
        assert_eq!(verdict(&p99_ratio(&worse), fps_ratio(&worse), 0, MIN_PAIRS), Verdict::Worse);
        // Same p99 gain bought with a lower frame rate does not win.
        let slow: Vec<u32> = calm.iter().map(|&f| f + 1500).collect();
        let pairs = [Pair { config: &slow, baseline: &base }];
        let r = p99_ratio(&pairs);
        assert!(r.high < 1.0, "{r:?}");
        assert_eq!(verdict(&r, fps_ratio(&pairs), 0, MIN_PAIRS), Verdict::FpsLoss);
        assert_eq!(verdict(&r, 1.0, 1, MIN_PAIRS), Verdict::Failed);
    }

    #[test]
    fn drift_between_blocks_cancels_in_the_pairing() {
        // Block 2 runs 30 % slower (scene change) for config and baseline.
        let b1 = noisy_frames(3000, 5000.0, 9000.0, 1);
        let c1 = noisy_frames(3000, 5000.0, 3000.0, 2);
        let b2: Vec<u32> = noisy_frames(3000, 5000.0, 9000.0, 3).iter().map(|&f| f * 13 / 10).collect();
        let c2: Vec<u32> = noisy_frames(3000, 5000.0, 3000.0, 4).iter().map(|&f| f * 13 / 10).collect();
        let r = p99_ratio(&[Pair { config: &c1, baseline: &b1 }, Pair { config: &c2, baseline: &b2 }]);
        let r1 = p99_us(&c1) / p99_us(&b1);
        assert!((r.estimate - r1).abs() < 0.05, "{r:?} vs {r1}");
        assert!(r.high < 1.0, "{r:?}");
    }

    #[test]
    fn from_few_pairs_the_interval_spans_students_t_over_their_ratios() {
        // Steady frames inside each pair (resampling them changes nothing)
        // and ratios 0.80, 0.90 and 1.05 between them: the game moved
        // between blocks. Resampling 3 pairs puts the mean between 0.80
        // and 1.05 and mostly well below 1; Student's t over 3 ratios is
        // far wider, and the interval is at least that wide.
        let base = vec![10_000u32; 500];
        let scaled = |r: f64| vec![(10_000.0 * r) as u32; 500];
        let configs: Vec<Vec<u32>> = [0.80, 0.90, 1.05].map(scaled).to_vec();
        let pairs: Vec<Pair> = configs.iter().map(|c| Pair { config: c, baseline: &base }).collect();
        let r = p99_ratio(&pairs);
        let t = paired_ratio(pairs.iter().map(|p| (p99_us(p.config), p99_us(p.baseline))), 0.95);
        assert!(r.low <= t.low && r.high >= t.high && r.high > 1.0, "{r:?} vs t {t:?}");
        assert_eq!(verdict(&r, 1.0, 0, pairs.len()), Verdict::NoSignificantDifference);
        // From SMALL_SAMPLE pairs on, the bootstrap alone (here narrower
        // than t: nothing to resample inside the pairs).
        let many: Vec<Vec<u32>> = (0..SMALL_SAMPLE).map(|i| scaled([0.80, 0.90, 1.05][i % 3])).collect();
        let pairs: Vec<Pair> = many.iter().map(|c| Pair { config: c, baseline: &base }).collect();
        let r = p99_ratio(&pairs);
        let t = paired_ratio(pairs.iter().map(|p| (p99_us(p.config), p99_us(p.baseline))), 0.95);
        assert!(r.high < t.high, "{r:?} vs t {t:?}");
    }

    #[test]
    fn paired_ratio_is_the_geometric_mean_with_a_t_interval() {
        // Ratios 0.9, 1.0 and 1.1 around a scene that doubles: the scene
        // cancels in each pair.
        let r = paired_ratio([(900.0, 1000.0), (2000.0, 2000.0), (1100.0, 1000.0)], 0.95);
        let logs = [0.9f64.ln(), 0.0, 1.1f64.ln()];
        let mean = logs.iter().sum::<f64>() / 3.0;
        let sd = (logs.iter().map(|l| (l - mean).powi(2)).sum::<f64>() / 2.0).sqrt();
        assert!((r.estimate - mean.exp()).abs() < 1e-12, "{r:?}");
        assert!((r.high.ln() - mean - 4.303 * sd / 3f64.sqrt()).abs() < 1e-4, "{r:?}");
        assert!(r.low < 1.0 && r.high > 1.0, "{r:?}");
        // Consistently 20 % lower: beyond the noise.
        let r = paired_ratio([(800.0, 1000.0), (1650.0, 2000.0), (790.0, 1000.0), (1220.0, 1500.0)], 0.95);
        assert!(r.high < 1.0, "{r:?}");
        // One pair: an estimate, no interval; none or unusable: NaN.
        let one = paired_ratio([(1.0, 2.0), (f64::NAN, 1.0), (1.0, 0.0)], 0.95);
        assert!((one.estimate - 0.5).abs() < 1e-12 && one.low.is_nan(), "{one:?}");
        assert!(paired_ratio([], 0.95).estimate.is_nan());
        // Student's t against published quantiles.
        for (p, df, t) in [
            (0.975, 1, 12.706),
            (0.975, 2, 4.303),
            (0.975, 10, 2.228),
            (0.975, 40, 2.021),
            (0.995, 5, 4.032),
            (0.9995, 4, 8.610),
            (0.9995, 30, 3.646),
        ] {
            assert!((t_quantile(p, df) - t).abs() < 0.001, "t({p}, {df}) = {} not {t}", t_quantile(p, df));
        }
        assert!(t_quantile(0.975, 0).is_nan());
    }

    #[test]
    fn trial_interval_contains_the_estimate_and_empty_input_is_nan() {
        let f = noisy_frames(2000, 8000.0, 8000.0, 5);
        let i = p99_interval_ms(&f);
        assert!(i.low <= i.estimate && i.estimate <= i.high, "{i:?}");
        let none = p99_ratio(&[Pair { config: &[], baseline: &f }]);
        assert!(none.estimate.is_nan());
        assert_eq!(verdict(&none, 1.0, 0, 0), Verdict::NoBaseline);
        assert_eq!(block_len(100), 10);
        assert_eq!(block_len(5), 5);
        assert_eq!(block_len(1_000_000), 500);
    }
}
