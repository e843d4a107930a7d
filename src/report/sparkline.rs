//! A chart in a few characters: frame times as ▁▂▃▄▅▆▇█ for the terminal
//! table, one short run per trial.

const LEVELS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// `values` in at most `width` characters, scaled from `lo` (▁) to `hi`
/// (█). Each character stands for the slowest value of its stretch: a
/// hitch is what a player notices, so it must not be averaged away.
pub fn sparkline(values: &[f64], width: usize, lo: f64, hi: f64) -> String {
    let n = values.len();
    if n == 0 || width == 0 {
        return String::new();
    }
    let width = width.min(n);
    (0..width)
        .map(|b| {
            let stretch = &values[b * n / width..(b + 1) * n / width];
            let max = stretch.iter().copied().fold(f64::MIN, f64::max);
            let level = if hi > lo { ((max - lo) / (hi - lo) * (LEVELS.len() - 1) as f64).round() } else { 0.0 };
            LEVELS[(level.max(0.0) as usize).min(LEVELS.len() - 1)]
        })
        .collect()
}

/// One sparkline per trial, `width` characters shared among them (at
/// least 2 each), separated by spaces, on a common `lo..hi` scale.
pub fn per_trial(trials: &[&[f64]], width: usize, lo: f64, hi: f64) -> String {
    if trials.is_empty() {
        return String::new();
    }
    let each = (width / trials.len()).max(2);
    trials.iter().map(|t| sparkline(t, each, lo, hi)).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hitch_shows_as_a_full_block() {
        let mut v = vec![8.0; 1000];
        v[501] = 40.0;
        let s = sparkline(&v, 10, 8.0, 40.0);
        assert_eq!(s.chars().count(), 10);
        assert_eq!(s, "▁▁▁▁▁█▁▁▁▁");
    }

    #[test]
    fn scales_and_degenerate_input() {
        assert_eq!(sparkline(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0], 8, 0.0, 7.0), "▁▂▃▄▅▆▇█");
        // Fewer values than width: one character each.
        assert_eq!(sparkline(&[1.0, 2.0], 16, 1.0, 2.0), "▁█");
        assert_eq!(sparkline(&[], 8, 0.0, 1.0), "");
        assert_eq!(sparkline(&[3.0, 3.0], 2, 3.0, 3.0), "▁▁");
        // Out of scale clamps.
        assert_eq!(sparkline(&[-5.0, 99.0], 2, 0.0, 1.0), "▁█");
    }

    #[test]
    fn trials_share_the_width() {
        let a = [1.0; 100];
        let b = [2.0; 100];
        assert_eq!(per_trial(&[&a, &b], 8, 1.0, 2.0), "▁▁▁▁ ████");
        let ten: Vec<&[f64]> = vec![&a; 10];
        assert_eq!(per_trial(&ten, 8, 1.0, 2.0).chars().filter(|c| *c == '▁').count(), 20);
        assert_eq!(per_trial(&[], 8, 0.0, 1.0), "");
    }
}
