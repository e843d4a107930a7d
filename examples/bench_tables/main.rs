//! The host half of `scripts/bench.sh`: reads what bench/compare-guest.sh
//! left in its results folder and prints the Markdown section for
//! BENCHMARKS.md; `--splice DOC SECTION` puts a section into DOC.
//!
//!   bench_tables OUT --command CMD --measure-secs S --vm-secs N
//!   bench_tables --splice BENCHMARKS.md OUT/tables.md

mod compare;
mod compare_md;
mod costs;

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use clap::Parser;

use compare::{Run, compare, cpu_use};
use compare_md::{Context, render, splice};
use scx_gamer::mangohud::log::is_frame_log;
use scx_gamer::report::logs::series_of;

/// 60 fps, plus 5 % for the frame-loop program's timer jitter.
const TARGET_MS: f64 = 1000.0 / 60.0 * 1.05;

#[derive(Parser)]
struct Opts {
    /// The results folder of one bench run.
    out: Option<PathBuf>,
    /// The command that reproduces the run (shown in the tables).
    #[arg(long, default_value = "scripts/bench.sh")]
    command: String,
    /// Seconds of frames measured per run.
    #[arg(long, default_value_t = f64::NAN)]
    measure_secs: f64,
    /// Wall time of the VM run, s.
    #[arg(long, default_value_t = 0)]
    vm_secs: u64,
    /// Replace DOC's generated section with the one in SECTION, in place.
    #[arg(long, num_args = 2, value_names = ["DOC", "SECTION"])]
    splice: Option<Vec<PathBuf>>,
}

fn read(path: &Path) -> Result<String> {
    fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

/// The frame log a run left in its own folder (older results folders;
/// MangoHud writes a summary beside it).
fn run_log(dir: &Path) -> Result<PathBuf> {
    let mut logs: Vec<PathBuf> = fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| is_frame_log(p))
        .collect();
    match logs.len() {
        1 => Ok(logs.remove(0)),
        n => bail!("{}: {n} frame logs, expected one", dir.display()),
    }
}

fn tuner_cpu(dir: &Path) -> Result<Option<(f64, f64, f64)>> {
    let hz: f64 = read(&dir.join("clk_tck"))?.trim().parse().context("clk_tck")?;
    let mut samples = Vec::new();
    for (i, line) in read(&dir.join("cpu.tsv"))?.lines().enumerate().skip(1) {
        let mut f = line.split('\t');
        match (f.next().and_then(|s| s.parse().ok()), f.next().and_then(|s| s.parse().ok())) {
            (Some(t), Some(ticks)) => samples.push((t, ticks)),
            _ => bail!("{}:{}: not 'secs<TAB>ticks': {line:?}", dir.join("cpu.tsv").display(), i + 1),
        }
    }
    Ok(cpu_use(&samples, hz))
}

fn tables(out: &Path, opts: &Opts) -> Result<String> {
    let mut ctx = Context {
        command: opts.command.clone(),
        date: chrono::Local::now().format("%Y-%m-%d").to_string(),
        vm_secs: opts.vm_secs,
        target_ms: TARGET_MS,
        measure_secs: opts.measure_secs,
        ..Context::default()
    };
    for line in read(&out.join("vm.txt"))?.lines() {
        match line.split_once('\t') {
            Some(("kernel", k)) => ctx.kernel = k.into(),
            Some(("vcpus", n)) => ctx.vcpus = n.into(),
            _ => {}
        }
    }

    let mut runs = Vec::new();
    let mut reps = std::collections::BTreeSet::new();
    let mut workloads: Vec<String> = Vec::new();
    for (i, line) in read(&out.join("runs.tsv"))?.lines().enumerate() {
        let f: Vec<&str> = line.split('\t').collect();
        // (6 fields: a results folder from before the log column, one folder per run)
        let (rep, workload, load, scheduler, ops, status, log) = match f[..] {
            [rep, workload, load, scheduler, ops, status, log] => (rep, workload, load, scheduler, ops, status, Some(log)),
            [rep, workload, load, scheduler, ops, status] => (rep, workload, load, scheduler, ops, status, None),
            _ => bail!("{}:{}: expected 7 tab-separated fields: {line:?}", out.join("runs.tsv").display(), i + 1),
        };
        if !workloads.iter().any(|w| w == workload) {
            workloads.push(workload.into());
        }
        reps.insert(rep.to_string());
        let what = format!("{workload} + {load}, {scheduler}, repetition {rep}");
        if status != "ok" {
            ctx.failed.push(format!("{what}: {status} (sched_ext ops seen: {ops})"));
            continue;
        }
        let log = match log {
            Some(log) => Ok(out.join(log)),
            None => run_log(&out.join("logs").join(workload).join(load).join(scheduler).join(rep)),
        };
        match log.and_then(|log| series_of(&log)) {
            Ok(series) => runs.push(Run {
                rep: rep.into(),
                workload: workload.into(),
                load: load.into(),
                scheduler: scheduler.into(),
                over_target: series.histogram().share_over_ms(TARGET_MS),
                stats: series.stats(),
            }),
            Err(e) => ctx.failed.push(format!("{what}: {e:#}")),
        }
    }
    ctx.reps = reps.len();
    for w in &workloads {
        let flags = fs::read_to_string(out.join("tuned").join(format!("{w}.flags"))).unwrap_or_default();
        ctx.tuned.push((w.clone(), flags.trim().to_string()));
        let dir = out.join("tune").join(w);
        if !dir.exists() {
            continue; // no gamer-tuned in this run: nothing was tuned
        }
        match tuner_cpu(&dir) {
            Ok(Some((med, all, max))) => ctx.tuner_cpu.push((w.clone(), med, all, max)),
            Ok(None) => ctx.failed.push(format!("tuner CPU use for {w}: fewer than two samples")),
            Err(e) => ctx.failed.push(format!("tuner CPU use for {w}: {e:#}")),
        }
    }
    // (what the guest noticed outside the runs: a game that did not start, a
    // load that died during the tune)
    if let Ok(errors) = fs::read_to_string(out.join("errors.txt")) {
        ctx.failed.extend(errors.lines().filter(|l| !l.trim().is_empty()).map(String::from));
    }
    // (copied by scripts/vm-run; absent from results folders before that)
    if let Ok(console) = fs::read_to_string(out.join("console.txt")) {
        ctx.console = console.lines().map(str::trim_end).filter(|l| !l.is_empty()).map(String::from).collect();
    }
    // (written by bench/compare-guest.sh since 2026-12-04)
    if let Ok(text) = fs::read_to_string(out.join("costs.tsv")) {
        match costs::summarise(&text) {
            Ok(rows) => ctx.costs = rows,
            Err(e) => ctx.failed.push(format!("{}: {e}", out.join("costs.tsv").display())),
        }
    }
    ctx.switch_gap = read(&out.join("switch-gap.txt")).map(|s| s.lines().map(String::from).collect()).unwrap_or_default();
    Ok(render(&compare(&runs), &ctx))
}

fn main() -> Result<()> {
    let opts = Opts::parse();
    if let Some(paths) = &opts.splice {
        let (doc, section) = (&paths[0], &paths[1]);
        let text = splice(&read(doc)?, &read(section)?).map_err(anyhow::Error::msg)?;
        fs::write(doc, text).with_context(|| format!("writing {}", doc.display()))?;
        return Ok(());
    }
    let Some(out) = &opts.out else { bail!("give the results folder of a bench run (or --splice DOC SECTION)") };
    print!("{}", tables(out, &opts)?);
    Ok(())
}
