//! frameloop: a stand-in game for tests and benchmarks. It runs a render
//! loop at a target fps (CPU work per frame, optional worker threads) and
//! logs its frames exactly as MangoHud would:
//!
//! - `--format 0.6.8`: frame time in integer µs, the whole file written when
//!   logging stops (as MangoHud ≤ 0.6.8 does);
//! - `--format 0.8`: `log_versioning` preamble, frame time in float ms, the
//!   file created at the first row and flushed every row (MangoHud ≥ 0.6.9).
//!
//! Only MangoHud 0.6.8 runs on Debian bookworm, so this is how the newer,
//! streaming form gets tested.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Parser, ValueEnum};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    #[value(name = "0.6.8")]
    V068,
    #[value(name = "0.8")]
    V08,
}

#[derive(Parser)]
#[command(about = "A render loop that logs like MangoHud")]
struct Opts {
    /// Target frames per second (0: as fast as the work allows).
    #[arg(long, default_value_t = 60.0)]
    fps: f64,
    /// CPU work per frame on the render thread: as much computation as
    /// takes this many µs on an idle CPU (measured at start), so a frame
    /// whose thread is preempted or waits for a CPU takes longer, as a
    /// real game's does.
    #[arg(long, default_value_t = 2000)]
    work_us: u64,
    /// Worker threads, each doing --work-us per frame in parallel.
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Scenes of about this many seconds (0.5–1.5× at random): each scene
    /// multiplies the per-frame work (render thread and workers) by 0.5–2×,
    /// as a menu, a fight or a cutscene change a game's frame times.
    #[arg(long)]
    scenes: Option<f64>,
    /// Seed of the scene schedule (the same seed, the same scenes).
    #[arg(long, default_value_t = 1)]
    scene_seed: u64,
    /// Stop after this many seconds.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Run this many seconds before logging the first frame (a benchmark's
    /// warm-up; within --seconds).
    #[arg(long, default_value_t = 0.0)]
    warmup_secs: f64,
    #[arg(long, value_enum, default_value = "0.8")]
    format: Format,
    /// Folder for the log (MangoHud's output_folder). Default: the
    /// `output_folder` of MANGOHUD_CONFIG, as MangoHud itself would log, so
    /// a tuner that sets up MangoHud's environment gets frameloop's frames.
    #[arg(long)]
    output_folder: Option<PathBuf>,
    /// Program name in the log's file name.
    #[arg(long, default_value = "frameloop")]
    exe: String,
    /// On SIGINT/SIGTERM stop the loop and still write the log. Without it
    /// a signal kills the program and a 0.6.8-form log is lost, as MangoHud
    /// ≤ 0.6.8 loses its log when the game exits while logging.
    #[arg(long)]
    write_on_sigterm: bool,
    /// Start with logging off; each SIGUSR1 starts or stops a log (one file
    /// per logging period), as MangoHud's log key or its control socket's
    /// `:logging=1;`/`:logging=0;` do. A benchmark keeps one warm game
    /// running and cuts a log per measurement this way.
    #[arg(long)]
    log_on_sigusr1: bool,
}

const HEADER_068: &str =
    "fps,frametime,cpu_load,gpu_load,cpu_temp,gpu_temp,gpu_core_clock,gpu_mem_clock,gpu_vram_used,gpu_power,ram_used,elapsed";
const HEADER_08: &str = "fps,frametime,cpu_load,cpu_power,gpu_load,cpu_temp,gpu_temp,gpu_core_clock,gpu_mem_clock,gpu_vram_used,gpu_power,ram_used,swap_used,process_rss,cpu_mhz,elapsed";

/// One unit of frame work: a dependent chain the compiler cannot skip.
fn work(rounds: u64) {
    let mut x = 0u64;
    for _ in 0..rounds {
        x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
    }
}

/// Rounds of `work` per µs on this CPU: the best of a few short timed runs,
/// so a preemption during calibration does not shrink every frame's work.
fn rounds_per_us() -> f64 {
    const PROBE: u64 = 200_000;
    (0..20)
        .map(|_| {
            let t = Instant::now();
            work(PROBE);
            PROBE as f64 / (t.elapsed().as_secs_f64() * 1e6).max(1e-3)
        })
        .fold(0.0, f64::max)
}

fn sysinfo() -> String {
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let cpu = scx_gamer::procfs::cpu_model();
    format!("os,cpu,gpu,ram,kernel,driver,cpuscheduler\nframeloop,{},,0,{},,\n", cpu.replace(',', " "), kernel.trim())
}

fn row(format: Format, frametime: Duration, elapsed_ns: u128) -> String {
    let fps = 1.0 / frametime.as_secs_f64();
    match format {
        Format::V068 => format!("{fps:.4},{},0,0,0,0,0,0,0,0,0,{elapsed_ns}\n", frametime.as_micros()),
        Format::V08 => format!("{fps:.4},{:.3},0,0,0,0,0,0,0,0,0,0,0,0,0,{elapsed_ns}\n", frametime.as_secs_f64() * 1e3),
    }
}

/// `output_folder` of a MANGOHUD_CONFIG (comma-separated `key=value`).
fn mangohud_output_folder(config: &str) -> Option<PathBuf> {
    config.split(',').filter_map(|kv| kv.split_once('=')).find(|(k, _)| k.trim() == "output_folder").map(|(_, v)| PathBuf::from(v.trim()))
}

fn main() -> Result<()> {
    let o = Opts::parse();
    let fps_ok = o.fps >= 0.0 && o.fps.is_finite();
    let seconds_ok = o.seconds > 0.0 && o.seconds.is_finite();
    if !fps_ok || !seconds_ok {
        bail!("--fps must be >= 0 and --seconds > 0");
    }
    if o.scenes.is_some_and(|s| !(s > 0.0 && s.is_finite())) {
        bail!("--scenes must be > 0 seconds");
    }
    if !(o.warmup_secs >= 0.0 && o.warmup_secs < o.seconds) {
        bail!("--warmup-secs must be >= 0 and less than --seconds");
    }
    let env_folder = std::env::var("MANGOHUD_CONFIG").ok().and_then(|c| mangohud_output_folder(&c));
    let Some(folder) = o.output_folder.clone().or(env_folder) else {
        bail!("no log folder: give --output-folder, or output_folder=… in MANGOHUD_CONFIG");
    };
    std::fs::create_dir_all(&folder).with_context(|| format!("creating {}", folder.display()))?;
    let stop = Arc::new(AtomicBool::new(false));
    if o.write_on_sigterm {
        let s = stop.clone();
        ctrlc::set_handler(move || s.store(true, Ordering::Relaxed))?;
    }
    let toggle = Arc::new(AtomicBool::new(false));
    if o.log_on_sigusr1 {
        signal_hook::flag::register(signal_hook::consts::SIGUSR1, toggle.clone())?;
    }
    // (After the handlers: calibration takes seconds on a slow machine.)
    let base_rounds = (o.work_us as f64 * rounds_per_us()) as u64;
    // This frame's work (the scene's level), for the workers too.
    let rounds = Arc::new(AtomicU64::new(base_rounds));
    let mut scenes = o.scenes.map(|mean| Scenes::new(mean, o.scene_seed));

    // Workers do their share of each frame between two barrier waits.
    let barrier = Arc::new(Barrier::new(o.threads + 1));
    let done = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..o.threads)
        .map(|_| {
            let (b, d, r) = (barrier.clone(), done.clone(), rounds.clone());
            std::thread::spawn(move || {
                loop {
                    b.wait();
                    if d.load(Ordering::Relaxed) {
                        break;
                    }
                    work(r.load(Ordering::Relaxed));
                    b.wait();
                }
            })
        })
        .collect();

    let period = if o.fps > 0.0 { Duration::from_secs_f64(1.0 / o.fps) } else { Duration::ZERO };
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(o.seconds);
    let log_from = start + Duration::from_secs_f64(o.warmup_secs);
    let mut log: Option<Log> = None;
    let mut written = Vec::new();
    let mut last = start;
    let mut next = start + period;
    while Instant::now() < end && !stop.load(Ordering::Relaxed) {
        if let Some(s) = scenes.as_mut() {
            rounds.store((base_rounds as f64 * s.level(Instant::now())) as u64, Ordering::Relaxed);
        }
        if o.threads > 0 {
            barrier.wait();
        }
        work(rounds.load(Ordering::Relaxed));
        if o.threads > 0 {
            barrier.wait();
        }
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        }
        let presented = Instant::now();
        next = (next + period).max(presented);
        let frametime = presented - last;
        last = presented;

        // Logging on or off: by signal, or from the end of the warm-up on.
        let logging = if o.log_on_sigusr1 { log.is_some() != toggle.swap(false, Ordering::Relaxed) } else { presented >= log_from };
        match (logging, log.is_some()) {
            (true, false) => log = Some(Log::start(o.format, &folder, &o.exe)),
            (false, true) => written.push(log.take().expect("checked above").finish()?),
            _ => {}
        }
        if let Some(l) = log.as_mut() {
            l.push(&row(o.format, frametime, (presented - start).as_nanos()))?;
        }
    }
    done.store(true, Ordering::Relaxed);
    if o.threads > 0 {
        barrier.wait();
    }
    for w in workers {
        let _ = w.join();
    }
    if let Some(l) = log.take() {
        written.push(l.finish()?);
    }
    for path in written {
        println!("{}", path.display());
    }
    Ok(())
}

/// The scene schedule: scenes of 0.5–1.5× `mean` seconds, each with a work
/// level of 0.5–2× (log-uniform), from a seeded generator (the same seed,
/// the same scenes).
struct Scenes {
    mean: f64,
    rng: StdRng,
    until: Option<Instant>,
    level: f64,
}

impl Scenes {
    fn new(mean: f64, seed: u64) -> Scenes {
        Scenes { mean, rng: StdRng::seed_from_u64(seed), until: None, level: 1.0 }
    }

    /// The work level at `now`, starting a new scene when the last ended.
    fn level(&mut self, now: Instant) -> f64 {
        if self.until.is_none_or(|u| now >= u) {
            let secs = self.mean * self.rng.random_range(0.5..1.5);
            self.until = Some(now + Duration::from_secs_f64(secs));
            self.level = 2f64.powf(self.rng.random_range(-1.0..1.0));
        }
        self.level
    }
}

/// One log file, from logging on to logging off.
struct Log {
    format: Format,
    path: PathBuf,
    summary: PathBuf,
    /// 0.6.8: rows kept until the end; 0.8: the file, written as it goes.
    rows: Vec<String>,
    live: Option<BufWriter<File>>,
}

impl Log {
    /// MangoHud names a log by program and start second; a second log in
    /// the same second gets a `-N` suffix here instead of overwriting.
    fn start(format: Format, folder: &Path, exe: &str) -> Log {
        let stamp = chrono::Local::now().format("%Y-%m-%d_%H-%M-%S").to_string();
        let mut base = format!("{exe}_{stamp}");
        for n in 1.. {
            if !folder.join(format!("{base}.csv")).exists() {
                break;
            }
            base = format!("{exe}_{stamp}-{n}");
        }
        Log {
            format,
            path: folder.join(format!("{base}.csv")),
            summary: folder.join(format!("{base}_summary.csv")),
            rows: Vec::new(),
            live: None,
        }
    }

    fn push(&mut self, line: &str) -> Result<()> {
        match self.format {
            Format::V068 => self.rows.push(line.to_string()),
            Format::V08 => {
                if self.live.is_none() {
                    let mut w = BufWriter::new(File::create(&self.path).with_context(|| format!("creating {}", self.path.display()))?);
                    write!(w, "v1\nv0.8.2\n---------------------SYSTEM INFO---------------------\n{}", sysinfo())?;
                    writeln!(w, "--------------------FRAME METRICS--------------------\n{HEADER_08}")?;
                    self.live = Some(w);
                }
                let w = self.live.as_mut().expect("opened above");
                w.write_all(line.as_bytes())?;
                w.flush()?;
            }
        }
        Ok(())
    }

    /// Writes what is left; the summary file comes last, as MangoHud's
    /// does, so its appearance means the log is complete.
    fn finish(self) -> Result<PathBuf> {
        if self.format == Format::V068 {
            let mut w = BufWriter::new(File::create(&self.path).with_context(|| format!("creating {}", self.path.display()))?);
            write!(w, "{}{HEADER_068}\n{}", sysinfo(), self.rows.concat())?;
            w.flush()?;
        }
        std::fs::write(&self.summary, "0.1% Min FPS,1% Min FPS,97% Percentile FPS,Average FPS,GPU Load,CPU Load\n0,0,0,0,0,0\n")?;
        Ok(self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_output_folder_in_mangohud_config() {
        let got = mangohud_output_folder("fps_limit=60, output_folder=/tmp/logs ,log_interval=0,control=mangohud-%p");
        assert_eq!(got, Some(PathBuf::from("/tmp/logs")));
        assert_eq!(mangohud_output_folder("log_interval=0,no_display"), None);
    }

    #[test]
    fn scenes_change_level_within_bounds_on_a_seeded_schedule() {
        let t0 = Instant::now();
        let run = |seed| {
            let mut s = Scenes::new(10.0, seed);
            (0..2000).map(|ms| s.level(t0 + Duration::from_millis(ms * 50))).collect::<Vec<f64>>()
        };
        let a = run(7);
        assert_eq!(a, run(7), "the same seed, the same scenes");
        assert_ne!(a, run(8));
        assert!(a.iter().all(|&l| (0.5..=2.0).contains(&l)), "levels within 0.5–2×");
        // 100 s in scenes of 5–15 s: between 6 and 21 scene changes.
        let changes = a.windows(2).filter(|w| w[0] != w[1]).count();
        assert!((6..=21).contains(&changes), "{changes} scene changes");
        let (lo, hi) = a.iter().fold((f64::MAX, 0.0f64), |(lo, hi), &l| (lo.min(l), hi.max(l)));
        assert!(hi / lo > 1.5, "the scenes differ: {lo}–{hi}");
    }
}
