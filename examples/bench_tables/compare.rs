//! Scheduler comparison (`scripts/bench.sh`): the frame statistics of
//! repeated runs per workload × background load × scheduler, summarised over
//! the repetitions and set against the kernel's scheduler and the best peer.
//! Pure: runs in, numbers out.

use scx_gamer::frames::FrameStats;
use scx_gamer::verdict::score::median;

/// The kernel's own scheduler (no sched_ext attached).
pub const EEVDF: &str = "eevdf";
/// The scx_gamer config the benchmark judges: the one `tune` picked.
pub const TUNED: &str = "gamer-tuned";
/// The other sched_ext schedulers a player could run instead.
pub const PEERS: [&str; 2] = ["bpfland", "lavd"];
/// The goal: tuned p99 ≤ best peer's, and ≤ EEVDF's × this.
pub const EEVDF_TOLERANCE: f64 = 1.02;

/// One measured run: a game's frames under one scheduler.
#[derive(Clone, Debug)]
pub struct Run {
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

/// The goal's verdict for one cell.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Goal {
    pub vs_best_peer: f64,
    pub vs_eevdf: f64,
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

/// The goal for `subject` (normally TUNED) in `cell`; None when the cell
/// lacks the subject, EEVDF or any peer.
pub fn goal(cell: &Cell, subject: &str) -> Option<Goal> {
    let row = cell.rows.iter().find(|r| r.scheduler == subject)?;
    let (vs_best_peer, vs_eevdf) = (row.vs_best_peer?, row.vs_eevdf?);
    Some(Goal { vs_best_peer, vs_eevdf, met: vs_best_peer <= 1.0 && vs_eevdf <= EEVDF_TOLERANCE })
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

    fn run(workload: &str, load: &str, scheduler: &str, p99: f64) -> Run {
        let stats = FrameStats { p99_ms: p99, p50_ms: p99 / 2.0, stutters: p99 as u64, ..FrameStats::default() };
        Run { workload: workload.into(), load: load.into(), scheduler: scheduler.into(), stats, over_target: p99 / 100.0 }
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
            for p in p99s {
                runs.push(run("glxgears", "cpu", s, p));
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
        let g = goal(c, TUNED).unwrap();
        assert!(g.met);
        // No peers, no tuned runs in the burst cell: no verdict.
        assert_eq!(cells[1].best_peer, None);
        assert_eq!(goal(&cells[1], TUNED), None);
    }

    #[test]
    fn the_goal_fails_past_the_eevdf_tolerance_or_behind_a_peer() {
        let cell = |tuned: f64| {
            compare(&[run("w", "l", "eevdf", 10.0), run("w", "l", "gamer-tuned", tuned), run("w", "l", "lavd", 10.1)]).remove(0)
        };
        assert!(!goal(&cell(10.2), TUNED).unwrap().met, "beyond the best peer");
        assert!(goal(&cell(10.1), TUNED).unwrap().met, "≤ peer, ≤ 2 % over EEVDF");
        let c = compare(&[run("w", "l", "eevdf", 10.0), run("w", "l", "gamer-tuned", 10.3), run("w", "l", "lavd", 11.0)]).remove(0);
        assert!(!goal(&c, TUNED).unwrap().met, "3 % over EEVDF");
    }
}
