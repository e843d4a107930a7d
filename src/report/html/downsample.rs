//! Long frame-time series → few enough points for a chart, honestly.
//!
//! A 2-minute trial at 300 fps is 36 000 frames for a chart 400 pixels
//! wide. Averaging or picking every n-th frame would hide exactly what a
//! player feels: the one 80 ms hitch among thousands of 3 ms frames. So each
//! bucket of consecutive frames keeps its minimum and its maximum, in the
//! order they happened: drawn as one line, the envelope is the same as the
//! full series' at that resolution, and every spike is still there.

/// The points of `values` to draw: at most `2 × buckets`, as (index in
/// `values`, value), in index order. A series already that short is kept
/// whole.
pub fn min_max(values: &[f64], buckets: usize) -> Vec<(usize, f64)> {
    let n = values.len();
    if buckets == 0 || n <= 2 * buckets {
        return values.iter().copied().enumerate().collect();
    }
    let mut out = Vec::with_capacity(2 * buckets);
    for b in 0..buckets {
        // Bucket edges spread the remainder evenly; none is empty as n > buckets.
        let (start, end) = (b * n / buckets, (b + 1) * n / buckets);
        let slice = &values[start..end];
        let (mut lo, mut hi) = (0, 0);
        for (i, v) in slice.iter().enumerate() {
            if v.total_cmp(&slice[lo]).is_lt() {
                lo = i;
            }
            if v.total_cmp(&slice[hi]).is_gt() {
                hi = i;
            }
        }
        let (first, second) = if lo <= hi { (lo, hi) } else { (hi, lo) };
        out.push((start + first, slice[first]));
        if second != first {
            out.push((start + second, slice[second]));
        }
    }
    out
}

/// Elapsed time at the end of each frame, s (frame times in ms): the x of
/// a frame-time-over-time chart.
pub fn elapsed_s(frames_ms: &[f64]) -> Vec<f64> {
    let mut t = 0.0;
    frames_ms
        .iter()
        .map(|f| {
            t += f / 1e3;
            t
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_series_are_kept_whole() {
        let v = [5.0, 6.0, 7.0];
        assert_eq!(min_max(&v, 2), vec![(0, 5.0), (1, 6.0), (2, 7.0)]);
        assert!(min_max(&[], 10).is_empty());
        assert_eq!(min_max(&v, 0).len(), 3);
    }

    #[test]
    fn a_lone_spike_and_the_fastest_frame_survive() {
        // 100 000 steady frames, one 80 ms hitch and one 1 ms frame.
        let mut v: Vec<f64> = (0..100_000).map(|i| 8.0 + f64::from(i % 7) * 0.05).collect();
        v[61_234] = 80.0;
        v[7] = 1.0;
        let pts = min_max(&v, 400);
        assert!(pts.len() <= 800, "{} points", pts.len());
        assert!(pts.contains(&(61_234, 80.0)), "the spike was lost");
        assert!(pts.contains(&(7, 1.0)), "the minimum was lost");
        // In order, and every point is a real frame.
        assert!(pts.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(pts.iter().all(|&(i, x)| v[i] == x));
        // The envelope is unchanged.
        let max = pts.iter().map(|p| p.1).fold(f64::MIN, f64::max);
        let min = pts.iter().map(|p| p.1).fold(f64::MAX, f64::min);
        assert_eq!((min, max), (1.0, 80.0));
    }

    #[test]
    fn keeps_min_and_max_in_time_order_per_bucket() {
        // Two buckets of three: max before min in the first, flat second.
        let v = [3.0, 9.0, 1.0, 4.0, 4.0, 4.0, 4.0];
        assert_eq!(min_max(&v, 2), vec![(1, 9.0), (2, 1.0), (3, 4.0)]);
    }

    #[test]
    fn elapsed_is_the_running_sum() {
        let t = elapsed_s(&[500.0, 250.0, 250.0]);
        assert_eq!(t, vec![0.5, 0.75, 1.0]);
    }
}
