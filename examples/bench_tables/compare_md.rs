//! The scheduler comparison (`report::compare`) as the Markdown section of
//! BENCHMARKS.md that `scripts/bench.sh` writes.

use std::fmt::Write;

use super::compare::{Cell, LEVEL, SUBJECTS, Standing, TUNED, goal};
use super::costs::{COLUMNS, CostRow};
use scx_gamer::verdict::score::Interval;

/// Marks the generated section of BENCHMARKS.md.
pub const BEGIN: &str = "<!-- scripts/bench.sh: begin (generated, do not edit) -->";
pub const END: &str = "<!-- scripts/bench.sh: end -->";

/// What the tables need besides the runs.
#[derive(Clone, Debug, Default)]
pub struct Context {
    pub command: String,
    pub date: String,
    pub kernel: String,
    pub vcpus: String,
    pub reps: usize,
    pub measure_secs: f64,
    pub target_ms: f64,
    pub vm_secs: u64,
    /// (workload, the flags `tune` picked)
    pub tuned: Vec<(String, String)>,
    /// (workload, median, overall, max % of one CPU)
    pub tuner_cpu: Vec<(String, f64, f64, f64)>,
    /// Runs left out, one line each (why).
    pub failed: Vec<String>,
    /// The switch-gap benchmark's summary lines.
    pub switch_gap: Vec<String>,
    /// What the runs cost, per cell and scheduler (none in older results).
    pub costs: Vec<CostRow>,
    /// The guest kernel's console: its warnings and errors (it boots with
    /// loglevel 4), e.g. a scheduler the kernel ejected between two runs,
    /// which no run's status would show.
    pub console: Vec<String>,
}

/// Most console lines shown; the rest are counted.
const CONSOLE_LINES: usize = 30;

fn ratio(r: Option<f64>) -> String {
    r.map_or("–".into(), |r| format!("{r:.3}"))
}

/// "0.912 (0.850–0.979) better"
fn interval(i: &Interval) -> String {
    let standing = Standing::of(i);
    if standing == Standing::TooFewRepetitions {
        return format!("{:.3} ({})", i.estimate, standing.text());
    }
    format!("{:.3} ({:.3}–{:.3}) {}", i.estimate, i.low, i.high, standing.text())
}

fn cell_table(out: &mut String, cell: &Cell, target_ms: f64) {
    let _ = writeln!(out, "\n#### {} + {} load\n", cell.workload, cell.load);
    let _ = writeln!(
        out,
        "| scheduler | runs | avg fps | p50 ms | p99 ms | p99.9 ms | 1 % low | 0.1 % low | stutters | > {target_ms:.1} ms | p99 range | p99 ÷ EEVDF | p99 ÷ best peer |"
    );
    let _ = writeln!(out, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for r in &cell.rows {
        let name = if Some(&r.scheduler) == cell.best_peer.as_ref() { format!("{} (best peer)", r.scheduler) } else { r.scheduler.clone() };
        let name = if r.scheduler == TUNED { format!("**{name}**") } else { name };
        let _ = writeln!(
            out,
            "| {name} | {} | {:.1} | {:.2} | {:.2} | {:.2} | {:.1} | {:.1} | {:.0} | {:.2} % | {:.2}–{:.2} | {} | {} |",
            r.runs,
            r.avg_fps,
            r.p50_ms,
            r.p99_ms,
            r.p999_ms,
            r.low1_fps,
            r.low01_fps,
            r.stutters,
            r.over_target * 100.0,
            r.p99_range.0,
            r.p99_range.1,
            ratio(r.vs_eevdf),
            ratio(r.vs_best_peer),
        );
    }
}

/// The whole generated section, markers included.
pub fn render(cells: &[Cell], ctx: &Context) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{BEGIN}\n## scx_gamer vs EEVDF, scx_bpfland and scx_lavd\n");
    let _ = writeln!(
        out,
        "Reproduce: `{}` ({}; one VM boot{}). VM: {} vCPUs (qemu TCG, single-threaded, on the 2-core host), kernel {}. \
         **TCG timings are relative only**: compare schedulers with each other, never with hardware.\n",
        ctx.command,
        ctx.date,
        if ctx.vm_secs > 0 { format!(", {} min {} s in the VM", ctx.vm_secs / 60, ctx.vm_secs % 60) } else { String::new() },
        ctx.vcpus,
        ctx.kernel
    );
    let _ = writeln!(
        out,
        "Each cell: {} repetitions per scheduler, {:.0} s of frames each. One warm copy of the game per workload runs through all its runs; \
         per repetition the schedulers come in a shuffled order, each attached once and measured under every load (shuffled too, \
         each load settling for a moment before frames count). \
         Figures are medians over the repetitions; *p99 range* is the lowest and highest p99 of them. \
         *1 % / 0.1 % low* = 1000 ÷ p99 / p99.9 frame time. *Stutters*: frames > 2× the rolling median and > 10 ms. \
         *> {:.1} ms*: share of frames over the target period (60 fps, + 5 % for the frame-loop's timer jitter). \
         *Best peer*: the better of scx_bpfland and scx_lavd (both 1.1.4 from their crates, default options).\n",
        ctx.reps, ctx.measure_secs, ctx.target_ms
    );
    let _ = writeln!(out, "### Goal: scx_gamer's p99, tuned and defaults, ≤ EEVDF's and ≤ the best peer's within the noise\n");
    let _ = writeln!(
        out,
        "Each ratio pairs the two schedulers' runs of the same repetition: the geometric mean of the per-repetition p99 ratios, with its \
         {:.0} % t-interval over the repetitions. *better* / *worse*: the interval lies wholly below / above 1; *level*: it spans 1. The goal \
         is met unless one of the two comparisons is *worse*. (The tables below give ratios of the medians, which need not agree with \
         the paired mean.)\n",
        LEVEL * 100.0
    );
    let _ = writeln!(out, "| workload | load | scx_gamer | p99 ÷ EEVDF | p99 ÷ best peer | goal |");
    let _ = writeln!(out, "| --- | --- | --- | --- | --- | --- |");
    for cell in cells {
        for subject in SUBJECTS {
            if !cell.rows.iter().any(|r| r.scheduler == subject) {
                continue;
            }
            let subject_name = if subject == TUNED { "tuned" } else { "defaults" };
            match goal(cell, subject) {
                Some(g) => {
                    let _ = writeln!(
                        out,
                        "| {} | {} | {subject_name} | {} | {} | {} |",
                        cell.workload,
                        cell.load,
                        interval(&g.vs_eevdf),
                        interval(&g.vs_best_peer),
                        if g.met { "met" } else { "**not met**" }
                    );
                }
                None => {
                    let _ = writeln!(out, "| {} | {} | {subject_name} | – | – | no verdict (runs missing) |", cell.workload, cell.load);
                }
            }
        }
    }
    let _ = writeln!(
        out,
        "\nConfigs the tuner picked (a short `scx_gamer attach` to the warm game under the cpu load, `trials/default.toml`, one repetition):\n"
    );
    for (w, flags) in &ctx.tuned {
        let flags = if flags.is_empty() { "(none: the defaults)" } else { flags.as_str() };
        let _ = writeln!(out, "- {w}: `{flags}`");
    }
    let _ = writeln!(out, "\n### Per workload and load");
    for cell in cells {
        cell_table(&mut out, cell, ctx.target_ms);
    }
    if !ctx.failed.is_empty() {
        let _ = writeln!(out, "\nRuns left out of the tables:\n");
        for f in &ctx.failed {
            let _ = writeln!(out, "- {f}");
        }
    }
    if !ctx.console.is_empty() {
        let _ = writeln!(out, "\nThe guest kernel's warnings and errors (its console):\n\n```text");
        for l in ctx.console.iter().take(CONSOLE_LINES) {
            let _ = writeln!(out, "{l}");
        }
        if ctx.console.len() > CONSOLE_LINES {
            let _ = writeln!(out, "… and {} more lines", ctx.console.len() - CONSOLE_LINES);
        }
        let _ = writeln!(out, "```");
    }
    if !ctx.costs.is_empty() {
        costs_table(&mut out, &ctx.costs);
    }
    let _ = writeln!(out, "\n### The tuner's own CPU use\n");
    let _ = writeln!(
        out,
        "The `scx_gamer attach` process of that tune (scheduler loads, log reading, statistics), sampled about once a second, in % of one vCPU:\n"
    );
    let _ = writeln!(out, "| workload | median second | whole tune | busiest second |");
    let _ = writeln!(out, "| --- | ---: | ---: | ---: |");
    for (w, med, all, max) in &ctx.tuner_cpu {
        let _ = writeln!(out, "| {w} | {med:.1} % | {all:.1} % | {max:.1} % |");
    }
    if !ctx.switch_gap.is_empty() {
        let _ = writeln!(out, "\n### Switch gap in the same VM (`bench/switch-gap-guest.sh`)\n\n```text");
        for l in &ctx.switch_gap {
            let _ = writeln!(out, "{l}");
        }
        let _ = writeln!(out, "```");
    }
    let _ = writeln!(out, "{END}");
    out
}

/// Per cell and scheduler, what the measured spans cost (medians over the
/// repetitions): where the game's threads waited, how often they moved,
/// what the scheduler's own process used.
fn costs_table(out: &mut String, rows: &[CostRow]) {
    let _ = writeln!(out, "\n### What the runs cost\n");
    let _ = writeln!(
        out,
        "Per second of measured frames (medians over the repetitions), from the game's threads' `schedstat` (time on a CPU, and \
         runnable but waiting for one) and `se.nr_migrations`, the scheduler process's utime + stime, and the guest's idle time:\n"
    );
    let heads: Vec<&str> = COLUMNS.iter().map(|(_, h)| *h).collect();
    let _ = writeln!(out, "| workload | load | scheduler | {} |", heads.join(" | "));
    let _ = writeln!(out, "| --- | --- | --- |{}", " ---: |".repeat(COLUMNS.len()));
    for r in rows {
        let cells: Vec<String> = r.medians.iter().map(|v| format!("{v:.0}")).collect();
        let _ = writeln!(out, "| {} | {} | {} | {} |", r.workload, r.load, r.scheduler, cells.join(" | "));
    }
}

/// `doc` with its generated section replaced by `section` (appended when
/// the document has none yet). Err when only one marker is there.
pub fn splice(doc: &str, section: &str) -> Result<String, String> {
    match (doc.find(BEGIN), doc.find(END)) {
        (Some(b), Some(e)) if b < e => Ok(format!("{}{}{}", &doc[..b], section.trim_end(), &doc[e + END.len()..])),
        (None, None) => Ok(format!("{}\n\n{}", doc.trim_end(), section)),
        _ => Err("BENCHMARKS.md has a broken generated section (one marker missing or out of order)".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::{Run, compare};
    use scx_gamer::frames::FrameStats;

    #[test]
    fn renders_goal_and_tables() {
        let run = |rep: &str, s: &str, p99: f64| Run {
            rep: rep.into(),
            workload: "glxgears".into(),
            load: "cpu".into(),
            scheduler: s.into(),
            stats: FrameStats { p99_ms: p99, ..FrameStats::default() },
            over_target: 0.01,
        };
        let cells = compare(&[
            run("1", "eevdf", 10.0),
            run("1", "gamer-tuned", 11.0),
            run("1", "bpfland", 12.0),
            run("2", "eevdf", 20.0),
            run("2", "gamer-tuned", 22.0),
            run("2", "bpfland", 24.0),
            run("3", "eevdf", 10.0),
            run("3", "gamer-tuned", 11.0),
            run("3", "bpfland", 9.0),
            run("3", "gamer", 9.0),
        ]);
        let ctx = Context { tuned: vec![("glxgears".into(), "--slice-us 500".into())], target_ms: 17.5, ..Context::default() };
        let md = render(&cells, &ctx);
        // 10 % behind EEVDF in every repetition: an interval of one point.
        assert!(md.contains("| glxgears | cpu | tuned | 1.100 (1.100–1.100) worse | "), "{md}");
        assert!(md.contains("level | **not met** |"), "{md}");
        assert!(
            md.contains("| glxgears | cpu | defaults | 0.900 (too few repetitions) | 1.000 (too few repetitions) | **not met** |"),
            "{md}"
        );
        assert!(md.contains("| bpfland (best peer) | 3 |"), "{md}");
        assert!(md.contains("| 1.00 % |"), "{md}");
        assert!(md.contains("- glxgears: `--slice-us 500`"));
        assert!(md.starts_with(BEGIN) && md.trim_end().ends_with(END));
        assert!(!md.contains("console"), "{md}");

        let stall = "[  139.516156] sched_ext: BPF scheduler \"scx_gamer\" disabled (runtime error)";
        let console: Vec<String> = std::iter::once(stall.to_string()).chain((0..40).map(|i| format!("line {i}"))).collect();
        let md = render(&cells, &Context { console, ..ctx });
        assert!(md.contains(&format!("(its console):\n\n```text\n{stall}\n")), "{md}");
        assert!(md.contains("line 28\n… and 11 more lines\n```"), "{md}");
    }

    #[test]
    fn splices_into_the_document() {
        let sec = format!("{BEGIN}\nnew\n{END}\n");
        assert_eq!(splice("# B\n", &sec).unwrap(), format!("# B\n\n{sec}"));
        let doc = format!("# B\n{BEGIN}\nold\n{END}\ntail\n");
        assert_eq!(splice(&doc, &sec).unwrap(), format!("# B\n{BEGIN}\nnew\n{END}\ntail\n"));
        assert!(splice(&format!("# B\n{END}\n{BEGIN}\n"), &sec).is_err());
        assert!(splice(&format!("# B\n{BEGIN}\n"), &sec).is_err());
    }
}
