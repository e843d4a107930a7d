//! Scheduler comparison (`scripts/bench.sh`): the frame statistics of
//! repeated runs per workload × background load × scheduler, summarised over
//! the repetitions and set against the kernel's scheduler and the best peer.
//! Pure: runs in, numbers out.

use scx_gamer::frames::FrameStats;
use scx_gamer::verdict::score::{Interval, median, paired_ratio};

/// The kernel's own scheduler (no sched_ext attached).
pub const EEVDF: &str = "eevdf";
/// The scx_gamer config the tuner picked.
pub const TUNED: &str = "gamer-tuned";
/// scx_gamer with its defaults.
pub const DEFAULTS: &str = "gamer";
/// The scx_gamer rows the goal judges.
pub const SUBJECTS: [&str; 2] = [TUNED, DEFAULTS];
/// The other sched_ext schedulers a player could run instead.
pub const PEERS: [&str; 2] = ["bpfland", "lavd"];
/// Confidence of the goal's intervals.
pub const LEVEL: f64 = 0.95;

/// One measured run: a game's frames under one scheduler.
#[derive(Clone, Debug)]
pub struct Run {
    /// The repetition: within one, every scheduler ran once per cell, close
    /// in time, so runs of one repetition are compared with each other.
    pub rep: String,
    pub workload: String,
    pub load: String,
    pub scheduler: String,
    pub stats: FrameStats,
    /// Share (0..=1) of frames over the target period.
    pub over_target: f64,
}

/// One scheduler in one cell: medians over its runs.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    pub scheduler: String,
    pub runs: usize,
    pub avg_fps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub low1_fps: f64,
    pub low01_fps: f64,
    pub stutters: f64,
    pub over_target: f64,
    /// Lowest and highest p99 of the runs: the spread over repetitions.
    pub p99_range: (f64, f64),
    /// Each repetition's p99.
    pub p99_by_rep: Vec<(String, f64)>,
    /// p99 ÷ EEVDF's p99 (None without EEVDF runs).
    pub vs_eevdf: Option<f64>,
    /// p99 ÷ the best peer's p99 (None without peer runs).
    pub vs_best_peer: Option<f64>,
}

/// One workload under one background load.
#[derive(Clone, Debug, PartialEq)]
pub struct Cell {
    pub workload: String,
    pub load: String,
    /// In the order the schedulers were first seen.
    pub rows: Vec<Summary>,
    /// The peer with the lowest p99 here.
    pub best_peer: Option<String>,
}

/// Where a p99 ratio's interval lies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    /// Wholly below 1.
    Better,
    /// Across 1: no difference beyond the noise.
    Level,
    /// Wholly above 1.
    Worse,
    /// Fewer than two repetitions with both runs: no interval.
    TooFewRepetitions,
}

impl Standing {
    pub fn of(ratio: &Interval) -> Standing {
        if !(ratio.low.is_finite() && ratio.high.is_finite()) {
            Standing::TooFewRepetitions
        } else if ratio.high < 1.0 {
            Standing::Better
        } else if ratio.low > 1.0 {
            Standing::Worse
        } else {
            Standing::Level
        }
    }

    pub fn text(self) -> &'static str {
        match self {
            Standing::Better => "better",
            Standing::Level => "level",
            Standing::Worse => "worse",
            Standing::TooFewRepetitions => "too few repetitions",
        }
    }
}

/// The goal's verdict for one scx_gamer row of a cell. The ratios pair the
/// runs by repetition (`verdict::score::paired_ratio`: the geometric mean
/// of the per-repetition ratios, a t-interval over repetitions): a
/// repetition's ratio carries both runs' noise and whatever the machine did
/// between them, so the interval is the noise a verdict must see past. With
/// 3 repetitions the same config landed on both sides of a bare ratio's
/// threshold (BENCHMARKS.md); the interval says when a difference is real.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Goal {
    pub vs_eevdf: Interval,
    pub vs_best_peer: Interval,
    /// Neither interval wholly above 1 (and both there): p99 ≤ EEVDF's and
    /// ≤ the best peer's within the noise.
    pub met: bool,
}

fn summarise(scheduler: &str, runs: &[&Run]) -> Summary {
    let m = |f: fn(&Run) -> f64| median(&runs.iter().map(|r| f(r)).collect::<Vec<_>>());
    let p99s: Vec<f64> = runs.iter().map(|r| r.stats.p99_ms).collect();
    Summary {
        scheduler: scheduler.to_string(),
        runs: runs.len(),
        avg_fps: m(|r| r.stats.avg_fps),
        p50_ms: m(|r| r.stats.p50_ms),
        p99_ms: median(&p99s),
        p999_ms: m(|r| r.stats.p999_ms),
        low1_fps: m(|r| r.stats.low1_fps),
        low01_fps: m(|r| r.stats.low01_fps),
        stutters: m(|r| r.stats.stutters as f64),
        over_target: m(|r| r.over_target),
        p99_range: (p99s.iter().copied().fold(f64::INFINITY, f64::min), p99s.iter().copied().fold(0.0, f64::max)),
        p99_by_rep: runs.iter().map(|r| (r.rep.clone(), r.stats.p99_ms)).collect(),
        vs_eevdf: None,
        vs_best_peer: None,
    }
}

fn first_seen<'a>(values: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut seen: Vec<&str> = Vec::new();
    for v in values {
        if !seen.contains(&v) {
            seen.push(v);
        }
    }
    seen
}

/// Group runs into cells (workload × load, in the order first seen) and
/// summarise each scheduler in them.
pub fn compare(runs: &[Run]) -> Vec<Cell> {
    let mut cells = Vec::new();
    for workload in first_seen(runs.iter().map(|r| r.workload.as_str())) {
        let of_workload: Vec<&Run> = runs.iter().filter(|r| r.workload == workload).collect();
        for load in first_seen(of_workload.iter().map(|r| r.load.as_str())) {
            let here: Vec<&Run> = of_workload.iter().copied().filter(|r| r.load == load).collect();
            let mut rows: Vec<Summary> = first_seen(here.iter().map(|r| r.scheduler.as_str()))
                .into_iter()
                .map(|s| summarise(s, &here.iter().copied().filter(|r| r.scheduler == s).collect::<Vec<_>>()))
                .collect();
            let eevdf = rows.iter().find(|r| r.scheduler == EEVDF).map(|r| r.p99_ms);
            let best_peer = rows
                .iter()
                .filter(|r| PEERS.contains(&r.scheduler.as_str()))
                .min_by(|a, b| a.p99_ms.total_cmp(&b.p99_ms))
                .map(|r| (r.scheduler.clone(), r.p99_ms));
            for row in &mut rows {
                row.vs_eevdf = eevdf.map(|e| row.p99_ms / e);
                row.vs_best_peer = best_peer.as_ref().map(|(_, p)| row.p99_ms / p);
            }
            cells.push(Cell { workload: workload.to_string(), load: load.to_string(), rows, best_peer: best_peer.map(|b| b.0) });
        }
    }
    cells
}

/// `subject`'s p99 ÷ `reference`'s, paired by repetition.
fn paired(subject: &Summary, reference: &Summary) -> Interval {
    let pairs = subject
        .p99_by_rep
        .iter()
        .filter_map(|(rep, p99)| reference.p99_by_rep.iter().find(|(r, _)| r == rep).map(|(_, reference)| (*p99, *reference)));
    paired_ratio(pairs, LEVEL)
}

/// The goal for `subject` (one of SUBJECTS) in `cell`; None when the cell
/// lacks the subject, EEVDF or any peer.
pub fn goal(cell: &Cell, subject: &str) -> Option<Goal> {
    let row_of = |name: &str| cell.rows.iter().find(|r| r.scheduler == name);
    let row = row_of(subject)?;
    let (vs_eevdf, vs_best_peer) = (paired(row, row_of(EEVDF)?), paired(row, row_of(cell.best_peer.as_deref()?)?));
    let ok = |i: &Interval| matches!(Standing::of(i), Standing::Better | Standing::Level);
    Some(Goal { vs_eevdf, vs_best_peer, met: ok(&vs_eevdf) && ok(&vs_best_peer) })
}

/// CPU use of a process from (seconds, utime+stime ticks) samples taken
/// about once a second: (median of the per-interval shares, share over the
/// whole span, highest interval), each in % of one CPU. None with fewer
/// than two samples.
pub fn cpu_use(samples: &[(f64, u64)], ticks_per_sec: f64) -> Option<(f64, f64, f64)> {
    let (first, last) = (samples.first()?, samples.last()?);
    if samples.len() < 2 || last.0 <= first.0 {
        return None;
    }
    let shares: Vec<f64> = samples
        .windows(2)
        .filter(|w| w[1].0 > w[0].0)
        .map(|w| 100.0 * w[1].1.saturating_sub(w[0].1) as f64 / ticks_per_sec / (w[1].0 - w[0].0))
        .collect();
    let overall = 100.0 * last.1.saturating_sub(first.1) as f64 / ticks_per_sec / (last.0 - first.0);
    Some((median(&shares), overall, shares.iter().copied().fold(0.0, f64::max)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_in(rep: usize, workload: &str, load: &str, scheduler: &str, p99: f64) -> Run {
        let stats = FrameStats { p99_ms: p99, p50_ms: p99 / 2.0, stutters: p99 as u64, ..FrameStats::default() };
        Run {
            rep: rep.to_string(),
            workload: workload.into(),
            load: load.into(),
            scheduler: scheduler.into(),
            stats,
            over_target: p99 / 100.0,
        }
    }

    fn run(workload: &str, load: &str, scheduler: &str, p99: f64) -> Run {
        run_in(1, workload, load, scheduler, p99)
    }

    /// A cell of eevdf, gamer-tuned and lavd with these p99s per repetition.
    fn cell(reps: &[(f64, f64, f64)]) -> Cell {
        let runs: Vec<Run> = reps
            .iter()
            .enumerate()
            .flat_map(|(i, &(e, t, l))| [run_in(i, "w", "l", EEVDF, e), run_in(i, "w", "l", TUNED, t), run_in(i, "w", "l", "lavd", l)])
            .collect();
        compare(&runs).remove(0)
    }

    #[test]
    fn cpu_use_from_tick_samples() {
        // 100 ticks/s; 1 tick per second, then a 50-tick burst.
        let samples = [(0.0, 0), (1.0, 1), (2.0, 2), (3.0, 3), (4.0, 53)];
        let (median, overall, max) = cpu_use(&samples, 100.0).unwrap();
        assert_eq!((median, max), (1.0, 50.0));
        assert!((overall - 53.0 / 4.0).abs() < 1e-9);
        assert_eq!(cpu_use(&samples[..1], 100.0), None);
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
    }

    #[test]
    fn cells_summarise_repetitions_and_ratios() {
        let mut runs = Vec::new();
        for (s, p99s) in [
            ("eevdf", [10.0, 12.0, 11.0]),
            ("gamer-tuned", [9.0, 30.0, 10.0]),
            ("bpfland", [12.0, 12.5, 13.0]),
            ("lavd", [20.0, 21.0, 22.0]),
        ] {
            for (rep, p) in p99s.into_iter().enumerate() {
                runs.push(run_in(rep, "glxgears", "cpu", s, p));
            }
        }
        runs.push(run("glxgears", "burst", "eevdf", 5.0));
        let cells = compare(&runs);
        assert_eq!(cells.len(), 2);
        let c = &cells[0];
        assert_eq!((c.workload.as_str(), c.load.as_str()), ("glxgears", "cpu"));
        assert_eq!(c.best_peer.as_deref(), Some("bpfland"));
        let tuned = &c.rows[1];
        // The median shrugs off the one bad repetition; the range shows it.
        assert_eq!((tuned.runs, tuned.p99_ms, tuned.p99_range), (3, 10.0, (9.0, 30.0)));
        assert_eq!(tuned.stutters, 10.0);
        assert!((tuned.vs_eevdf.unwrap() - 10.0 / 11.0).abs() < 1e-12);
        assert!((tuned.vs_best_peer.unwrap() - 10.0 / 12.5).abs() < 1e-12);
        // Three repetitions, paired: the tuned row is level with EEVDF
        // (ratios 0.9, 2.5, 0.91) and with bpfland.
        let g = goal(c, TUNED).unwrap();
        assert_eq!((Standing::of(&g.vs_eevdf), Standing::of(&g.vs_best_peer)), (Standing::Level, Standing::Level));
        assert!(g.met);
        // No peers, no tuned runs in the burst cell: no verdict.
        assert_eq!(cells[1].best_peer, None);
        assert_eq!(goal(&cells[1], TUNED), None);
    }

    #[test]
    fn the_goal_judges_differences_beyond_the_noise_of_the_repetitions() {
        // Steadily 10 % ahead of both: better, met.
        let g = goal(&cell(&[(10.0, 9.0, 10.0), (20.0, 18.0, 20.0), (15.0, 13.5, 15.0), (12.0, 10.8, 12.0)]), TUNED).unwrap();
        assert_eq!(Standing::of(&g.vs_eevdf), Standing::Better);
        assert!((g.vs_eevdf.estimate - 0.9).abs() < 1e-9 && g.met);
        // Steadily 5 % behind EEVDF while the repetitions swing 2×: worse,
        // not met — pairing by repetition sees through the swing.
        let g = goal(&cell(&[(10.0, 10.5, 11.0), (20.0, 21.1, 22.0), (15.0, 15.7, 16.0), (12.0, 12.6, 13.0)]), TUNED).unwrap();
        assert_eq!((Standing::of(&g.vs_eevdf), Standing::of(&g.vs_best_peer)), (Standing::Worse, Standing::Better));
        assert!(!g.met);
        // A median 8 % behind the peer, but the repetitions disagree: level,
        // met (a bare ratio of medians would have said "not met").
        let g = goal(&cell(&[(12.0, 10.0, 11.0), (12.0, 13.0, 10.0), (12.0, 11.0, 12.0), (12.0, 12.0, 10.0)]), TUNED).unwrap();
        assert!(g.vs_best_peer.estimate > 1.0 && g.met, "{g:?}");
        assert_eq!(Standing::of(&g.vs_best_peer), Standing::Level);
        // One repetition: no interval, no "met".
        let g = goal(&cell(&[(10.0, 9.0, 10.0)]), TUNED).unwrap();
        assert_eq!(Standing::of(&g.vs_eevdf), Standing::TooFewRepetitions);
        assert!(!g.met);
        // Runs of different repetitions are not paired.
        let mut runs = vec![run_in(1, "w", "l", EEVDF, 10.0), run_in(2, "w", "l", TUNED, 9.0), run_in(3, "w", "l", "lavd", 10.0)];
        runs.push(run_in(4, "w", "l", TUNED, 9.0));
        assert_eq!(Standing::of(&goal(&compare(&runs).remove(0), TUNED).unwrap().vs_eevdf), Standing::TooFewRepetitions);
    }
}
