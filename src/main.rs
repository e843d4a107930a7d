//! The `scx_gamer` command line.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Result, bail};
use clap::{Args, Parser, Subcommand};

use scx_gamer::run::{self, Feeds, StatsOutput};
use scx_gamer::sched::{SchedConfig, input};

/// scx_gamer: a sched_ext CPU scheduler for games.
///
/// With no subcommand, the flags mean `run` (as older scripts use it).
#[derive(Parser)]
#[command(version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
    /// Log more (libbpf messages included).
    #[arg(short, long, global = true)]
    verbose: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Run the scheduler until SIGINT/SIGTERM.
    Run(RunArgs),
    /// Run several configs one after another in one process, timing each
    /// switch; prints one JSON line per config.
    Cycle(CycleArgs),
    /// Report frame statistics.
    Report(ReportArgs),
}

#[derive(Args)]
struct ReportArgs {
    /// MangoHud CSV logs to report on.
    #[arg(long = "log", value_name = "FILE", num_args = 1.., required = true)]
    logs: Vec<PathBuf>,
    /// One JSON object per log instead of text.
    #[arg(long)]
    json: bool,
}

/// The scheduler's knobs. Ranges are checked before anything is loaded.
#[derive(Args, Clone)]
struct KnobArgs {
    /// Time slice, µs (1..=100000).
    #[arg(long, default_value_t = SchedConfig::default().slice_us)]
    slice_us: u64,
    /// Game threads are boosted this long after an input event, µs (0 = off).
    #[arg(long, default_value_t = SchedConfig::default().input_window_us)]
    input_window_us: u64,
    /// Most CPU changes per task per migration window (0 = no limit).
    #[arg(long, default_value_t = SchedConfig::default().mig_max)]
    mig_max: u32,
    /// Migration window, ms.
    #[arg(long, default_value_t = SchedConfig::default().mig_window_ms)]
    mig_window_ms: u64,
    /// Deadline head start of game threads over other tasks, µs.
    #[arg(long, default_value_t = SchedConfig::default().game_boost_us)]
    game_boost_us: u64,
}

impl KnobArgs {
    fn config(&self) -> Result<SchedConfig> {
        let cfg = SchedConfig {
            slice_us: self.slice_us,
            input_window_us: self.input_window_us,
            mig_max: self.mig_max,
            mig_window_ms: self.mig_window_ms,
            game_boost_us: self.game_boost_us,
        };
        cfg.validate()?;
        Ok(cfg)
    }
}

#[derive(Args, Clone)]
struct FeedArgs {
    /// A process of the game; it and its descendants get game priority.
    /// Repeat for several.
    #[arg(long = "game-pid", value_name = "PID")]
    game_pids: Vec<u32>,
    /// Folder of evdev input devices to watch.
    #[arg(long, default_value = input::DEFAULT_INPUT_DIR)]
    input_dir: PathBuf,
}

impl FeedArgs {
    fn feeds(&self) -> Feeds {
        Feeds { game_pids: self.game_pids.clone(), input_dir: self.input_dir.clone() }
    }
}

#[derive(Args, Clone)]
struct RunArgs {
    #[command(flatten)]
    knobs: KnobArgs,
    #[command(flatten)]
    feeds: FeedArgs,
    /// Print stats every SECS seconds.
    #[arg(long, value_name = "SECS")]
    stats: Option<f64>,
    /// Print stats as one JSON object per line.
    #[arg(long)]
    stats_json: bool,
    /// Only print the stats of an already running scx_gamer, every SECS.
    #[arg(long, value_name = "SECS")]
    monitor: Option<f64>,
}

#[derive(Args)]
struct CycleArgs {
    /// A config as key=value pairs, e.g. slice_us=5,mig_max=1 (unset keys
    /// take defaults). Give two or more.
    #[arg(long = "config", value_name = "KNOBS", required = true)]
    configs: Vec<SchedConfig>,
    /// Seconds each config stays attached.
    #[arg(long, default_value_t = 2.0)]
    hold_secs: f64,
    #[command(flatten)]
    feeds: FeedArgs,
}

fn interval(secs: f64, flag: &str) -> Result<Duration> {
    if !secs.is_finite() || secs <= 0.0 || secs > 3600.0 {
        bail!("{flag} {secs}: give a number of seconds in (0, 3600]");
    }
    Ok(Duration::from_secs_f64(secs))
}

fn init_logging(verbose: bool) -> Result<()> {
    let level = if verbose { simplelog::LevelFilter::Debug } else { simplelog::LevelFilter::Info };
    let cfg = simplelog::ConfigBuilder::new()
        .set_time_level(simplelog::LevelFilter::Off)
        .set_target_level(simplelog::LevelFilter::Off)
        .set_thread_level(simplelog::LevelFilter::Off)
        .build();
    simplelog::TermLogger::init(level, cfg, simplelog::TerminalMode::Stderr, simplelog::ColorChoice::Never)?;
    Ok(())
}

fn shutdown_flag() -> Result<Arc<AtomicBool>> {
    let flag = Arc::new(AtomicBool::new(false));
    let f = flag.clone();
    ctrlc::set_handler(move || f.store(true, Ordering::Relaxed))?;
    Ok(flag)
}

fn main_inner(cli: Cli) -> Result<()> {
    init_logging(cli.verbose)?;
    let shutdown = shutdown_flag()?;
    match cli.command {
        Some(Command::Cycle(args)) => {
            let hold = interval(args.hold_secs, "--hold-secs")?;
            run::cycle(&args.configs, hold, args.feeds.feeds(), shutdown)
        }
        Some(Command::Run(args)) => do_run(args, shutdown),
        Some(Command::Report(args)) => scx_gamer::report::logs::run(&args.logs, args.json),
        None => do_run(cli.run, shutdown),
    }
}

fn do_run(args: RunArgs, shutdown: Arc<AtomicBool>) -> Result<()> {
    if let Some(secs) = args.monitor {
        let out = StatsOutput { interval: interval(secs, "--monitor")?, json: args.stats_json };
        run::spawn_stats_printer(out, shutdown.clone());
        while !shutdown.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(100));
        }
        return Ok(());
    }
    let config = args.knobs.config()?;
    let stats = match args.stats {
        Some(secs) => Some(StatsOutput { interval: interval(secs, "--stats")?, json: args.stats_json }),
        None if args.stats_json => Some(StatsOutput { interval: Duration::from_secs(1), json: true }),
        None => None,
    };
    run::run(&config, args.feeds.feeds(), stats, shutdown)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match main_inner(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("scx_gamer: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
