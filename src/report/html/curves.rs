//! The shapes the charts draw, computed from frame times: percentile
//! curves and histograms. Pure, so the numbers are tested apart from the
//! drawing.

/// The percentile axis stops at p99.9: three "nines".
pub const MAX_NINES: f64 = 3.0;

/// "Nines" of quantile `q`: 0 → 0, 0.9 → 1, 0.99 → 2, 0.999 → 3. The tail
/// a player feels gets as much room on the axis as the bulk of the frames.
pub fn nines(q: f64) -> f64 {
    -(1.0 - q).log10()
}

/// Quantile at `x` nines (inverse of `nines`).
pub fn quantile_of_nines(x: f64) -> f64 {
    1.0 - 10f64.powf(-x)
}

/// "p99.9" for the label at `x` nines.
pub fn percentile_label(x: f64) -> String {
    let p = quantile_of_nines(x) * 100.0;
    let text = format!("{p:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("p{text}")
}

/// Quantile `q` of sorted values (the crate's one definition,
/// `verdict::score::nearest_rank`).
fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    sorted[crate::verdict::score::nearest_rank(sorted.len(), q)]
}

/// The percentile curve of `sorted_ms` (ascending): `points` points (x in
/// nines, frame time ms) from the fastest frame to p99.9, or to the deepest
/// percentile the frame count supports (p99.9 of 100 frames is just the
/// slowest one, so the curve stops at the nines it can show).
pub fn percentile_curve(sorted_ms: &[f64], points: usize) -> Vec<(f64, f64)> {
    if sorted_ms.is_empty() || points < 2 {
        return Vec::new();
    }
    let max_x = (sorted_ms.len() as f64).log10().clamp(0.0, MAX_NINES);
    (0..points)
        .map(|i| {
            let x = max_x * i as f64 / (points - 1) as f64;
            (x, quantile_sorted(sorted_ms, quantile_of_nines(x)))
        })
        .collect()
}

/// Share of frames (0..=1) in each of `bins` equal bins over `lo..hi` ms.
/// Frames outside the range are counted in the first or last bin, so no
/// frame silently disappears from the chart.
pub fn histogram(frames_ms: &[f64], lo: f64, hi: f64, bins: usize) -> Vec<f64> {
    let mut counts = vec![0u64; bins];
    if bins == 0 || frames_ms.is_empty() || hi <= lo {
        return vec![0.0; bins];
    }
    let width = (hi - lo) / bins as f64;
    for &f in frames_ms {
        let b = ((f - lo) / width).floor();
        let b = if b.is_finite() && b > 0.0 { (b as usize).min(bins - 1) } else { 0 };
        counts[b] += 1;
    }
    let n = frames_ms.len() as f64;
    counts.into_iter().map(|c| c as f64 / n).collect()
}

/// The range a histogram of several series shows: from the fastest 0.1 %
/// to the slowest 0.1 % of any of them, in whole ms, so one 500 ms hitch
/// does not squash every bar into the first pixels (it is still counted,
/// in the last bar).
pub fn histogram_range(sorted_series: &[&[f64]]) -> Option<(f64, f64)> {
    let mut lo = f64::MAX;
    let mut hi = f64::MIN;
    for s in sorted_series.iter().filter(|s| !s.is_empty()) {
        lo = lo.min(quantile_sorted(s, 0.001));
        hi = hi.max(quantile_sorted(s, 0.999));
    }
    if lo > hi {
        return None;
    }
    let (lo, hi) = (lo.floor().max(0.0), hi.ceil());
    Some((lo, if hi > lo { hi } else { lo + 1.0 }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nines_map_percentiles_to_an_even_axis() {
        assert!((nines(0.99) - 2.0).abs() < 1e-9);
        assert!((quantile_of_nines(3.0) - 0.999).abs() < 1e-12);
        assert_eq!(percentile_label(0.0), "p0");
        assert_eq!(percentile_label(1.0), "p90");
        assert_eq!(percentile_label(2.0), "p99");
        assert_eq!(percentile_label(3.0), "p99.9");
    }

    #[test]
    fn the_curve_rises_to_the_tail() {
        // 1..=10 000 ms: p99 is 9 900, p99.9 is 9 990.
        let v: Vec<f64> = (1..=10_000).map(f64::from).collect();
        let c = percentile_curve(&v, 4);
        assert_eq!(c.len(), 4);
        assert_eq!(c[0], (0.0, 1.0));
        assert!((c[2].0 - 2.0).abs() < 1e-9 && (c[2].1 - 9_900.0).abs() <= 1.0, "{c:?}");
        assert!((c[3].1 - 9_990.0).abs() <= 1.0, "{c:?}");
        assert!(c.windows(2).all(|w| w[0].1 <= w[1].1));
        // 100 frames support two nines only.
        let short: Vec<f64> = (1..=100).map(f64::from).collect();
        let c = percentile_curve(&short, 3);
        assert!((c[2].0 - 2.0).abs() < 1e-9 && c[2].1 >= 99.0, "{c:?}");
        assert!(percentile_curve(&[], 10).is_empty());
    }

    #[test]
    fn histogram_counts_every_frame_once() {
        let f = [0.5, 8.0, 8.2, 8.9, 9.1, 30.0];
        let h = histogram(&f, 8.0, 10.0, 2);
        // 0.5 → first bin, 30 → last bin.
        assert_eq!(h, vec![4.0 / 6.0, 2.0 / 6.0]);
        assert!((h.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert_eq!(histogram(&[], 0.0, 1.0, 3), vec![0.0; 3]);
        assert_eq!(histogram(&f, 5.0, 5.0, 2), vec![0.0; 2]);
    }

    #[test]
    fn histogram_range_ignores_the_extreme_0_1_percent() {
        let mut a: Vec<f64> = (0..10_000).map(|i| 8.0 + f64::from(i % 100) / 100.0).collect();
        a.push(500.0);
        a.sort_by(f64::total_cmp);
        let b = [7.5, 9.5];
        assert_eq!(histogram_range(&[&a, &b]), Some((7.0, 10.0)));
        assert_eq!(histogram_range(&[&[]]), None);
        assert_eq!(histogram_range(&[&[4.0]]), Some((4.0, 5.0)));
    }
}
