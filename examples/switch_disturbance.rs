//! How long a scheduler switch disturbs the game's frames: reads the stores
//! of tunes run with `--guard-secs 0` (every segment's frames from the
//! instant its scheduler was in place) and tables, per stretch of time
//! since the switch, the mean frame time and the share of long frames,
//! each relative to the same segment's settled part, by kind of switch.
//! The guard (`--guard-secs`) must cover the stretches that differ.
//!
//!   switch_disturbance STORE.json... [--bin-ms 250] [--settled-secs 2]
//!
//! (bench/tuner-cpu.sh with --attach-args "--guard-secs 0" makes such
//! stores; BENCHMARKS.md "The guard after a switch".)

use std::path::PathBuf;

use anyhow::{Result, bail};
use scx_gamer::frames::sequence::decode_us;
use scx_gamer::store::{GameStore, TrialKind};
use scx_gamer::verdict::score::median;

/// What ran before a segment and what runs in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Switch {
    /// The kernel's scheduler → a scx_gamer config (an attach).
    KernelToConfig,
    /// One config → another (detach + attach).
    ConfigToConfig,
    /// A config → the kernel's scheduler (a detach).
    ConfigToKernel,
}

impl Switch {
    fn text(self) -> &'static str {
        match self {
            Switch::KernelToConfig => "kernel → config",
            Switch::ConfigToConfig => "config → config",
            Switch::ConfigToKernel => "config → kernel",
        }
    }
}

/// One stretch since the switch, over all segments of one kind.
#[derive(Debug, PartialEq)]
struct Row {
    from_ms: f64,
    /// Segments with frames in the stretch.
    segments: usize,
    /// Mean over segments of (mean frame time in the stretch ÷ the
    /// segment's settled median).
    mean_ratio: f64,
    /// Share of the stretch's frames longer than 1.5× the settled median.
    long_share: f64,
}

/// Per stretch of `bin_ms` since the switch (up to `settled_ms`, then one
/// row for the rest of the segment: the settled part itself).
fn disturbance(segments: &[&[u32]], bin_ms: f64, settled_ms: f64) -> Vec<Row> {
    let bins = (settled_ms / bin_ms).ceil() as usize + 1;
    let mut ratio_sum = vec![0.0; bins];
    let mut seen = vec![0usize; bins];
    let mut long = vec![0usize; bins];
    let mut frames = vec![0usize; bins];
    for seg in segments {
        let mut t = 0.0;
        let at: Vec<(usize, u32)> = seg
            .iter()
            .map(|&f| {
                let bin = ((t / 1e3 / bin_ms) as usize).min(bins - 1);
                t += f64::from(f);
                (bin, f)
            })
            .collect();
        let settled: Vec<f64> = at.iter().filter(|(b, _)| *b == bins - 1).map(|(_, f)| f64::from(*f)).collect();
        let reference = median(&settled);
        if !reference.is_finite() {
            continue; // too short to have a settled part
        }
        for bin in 0..bins {
            let here: Vec<u32> = at.iter().filter(|(b, _)| *b == bin).map(|(_, f)| *f).collect();
            if here.is_empty() {
                continue;
            }
            let mean = here.iter().map(|&f| f64::from(f)).sum::<f64>() / here.len() as f64;
            ratio_sum[bin] += mean / reference;
            seen[bin] += 1;
            long[bin] += here.iter().filter(|&&f| f64::from(f) > 1.5 * reference).count();
            frames[bin] += here.len();
        }
    }
    (0..bins)
        .map(|b| Row {
            from_ms: b as f64 * bin_ms,
            segments: seen[b],
            mean_ratio: ratio_sum[b] / seen[b].max(1) as f64,
            long_share: long[b] as f64 / frames[b].max(1) as f64,
        })
        .collect()
}

fn main() -> Result<()> {
    let mut stores = Vec::new();
    let (mut bin_ms, mut settled_secs) = (250.0, 2.0);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--bin-ms" => bin_ms = args.next().unwrap_or_default().parse()?,
            "--settled-secs" => settled_secs = args.next().unwrap_or_default().parse()?,
            _ => stores.push(PathBuf::from(a)),
        }
    }
    if stores.is_empty() {
        bail!("usage: switch_disturbance STORE.json... [--bin-ms 250] [--settled-secs 2]");
    }
    let mut by_kind: Vec<(Switch, Vec<u32>)> = Vec::new();
    for path in &stores {
        let store = GameStore::load(path)?;
        let mut previous: Option<(&str, TrialKind)> = None;
        for t in &store.trials {
            let before = previous.filter(|(session, _)| *session == t.session).map(|(_, k)| k);
            previous = Some((t.session.as_str(), t.kind));
            let (Some(before), Some(text), true) = (before, &t.frame_times, t.status.is_ok()) else { continue };
            if t.warmup_secs > 0.0 {
                bail!("{}: trial {} had a {} s guard; this needs a tune run with --guard-secs 0", path.display(), t.id, t.warmup_secs);
            }
            let kind = match (before, t.kind) {
                (TrialKind::Baseline, TrialKind::Config) => Switch::KernelToConfig,
                (TrialKind::Config, TrialKind::Config) => Switch::ConfigToConfig,
                (TrialKind::Config, TrialKind::Baseline) => Switch::ConfigToKernel,
                _ => continue,
            };
            by_kind.push((kind, decode_us(text)?));
        }
    }
    by_kind.sort_by_key(|(k, _)| *k);
    println!("| switch | since the switch | segments | mean frame time ÷ settled median | frames > 1.5× settled median |");
    println!("| --- | --- | ---: | ---: | ---: |");
    for kind in [Switch::KernelToConfig, Switch::ConfigToConfig, Switch::ConfigToKernel] {
        let segs: Vec<&[u32]> = by_kind.iter().filter(|(k, _)| *k == kind).map(|(_, f)| f.as_slice()).collect();
        if segs.is_empty() {
            continue;
        }
        let rows = disturbance(&segs, bin_ms, settled_secs * 1e3);
        for (i, r) in rows.iter().enumerate() {
            let stretch = if i + 1 == rows.len() {
                format!("{:.2} s on (settled)", r.from_ms / 1e3)
            } else {
                format!("{:.2}–{:.2} s", r.from_ms / 1e3, (r.from_ms + bin_ms) / 1e3)
            };
            println!("| {} | {stretch} | {} | {:.3} | {:.1} % |", kind.text(), r.segments, r.mean_ratio, r.long_share * 100.0);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slow_start_shows_in_its_stretch_and_the_settled_part_is_the_reference() {
        // 10-ms frames, but the first 200 ms run at 20 ms with a 40-ms one.
        let mut seg = vec![20_000u32, 40_000, 20_000, 20_000, 20_000, 20_000, 20_000, 20_000, 20_000];
        seg.extend(std::iter::repeat_n(10_000, 300));
        let rows = disturbance(&[&seg], 250.0, 2000.0);
        assert_eq!(rows.len(), 9);
        assert_eq!(rows[0].segments, 1);
        // 0–250 ms: the 9 slow frames (200 ms) and five 10-ms ones.
        assert!(rows[0].mean_ratio > 1.5 && rows[0].long_share > 0.5, "{:?}", rows[0]);
        assert!((rows[1].mean_ratio - 1.0).abs() < 1e-9 && rows[1].long_share == 0.0, "{:?}", rows[1]);
        assert!((rows[8].mean_ratio - 1.0).abs() < 1e-9, "settled: {:?}", rows[8]);
        // A segment shorter than the settled mark has no reference: skipped.
        assert_eq!(disturbance(&[&[10_000; 10]], 250.0, 2000.0)[0].segments, 0);
    }
}
