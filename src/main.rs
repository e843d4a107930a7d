//! The `scx_gamer` command line.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Result, bail};
use clap::{Args, CommandFactory, Parser, Subcommand};

use scx_gamer::daemon::settings::{self, Settings};
use scx_gamer::run::{self, StatsOutput};
use scx_gamer::sched::config::KNOBS;
use scx_gamer::sched::session::Feeds;
use scx_gamer::sched::{SchedConfig, input};
use scx_gamer::tune::search::Strategy;
use scx_gamer::tune::{Outcome, TuneOptions};

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
    /// Launch a game under MangoHud (as the invoking user) and tune the
    /// scheduler for it: `scx_gamer tune -- mangohud ./game args…`.
    Tune(TuneCmd),
    /// Tune for a game that already runs under MangoHud.
    Attach(AttachCmd),
    /// Rank a game's configs from its tuning data, or report MangoHud logs.
    Report(ReportArgs),
    /// The Steam launch option: `scx_gamer launch -- %command%` runs the
    /// game as you, with its best known config applied by the daemon.
    Launch(LaunchCmd),
    /// The root service that applies configs for `launch` (systemd unit in
    /// systemd/).
    Daemon(DaemonCmd),
}

#[derive(Args)]
struct LaunchCmd {
    /// The daemon's socket (default: from /etc/scx_gamer.toml and
    /// ~/.config/scx_gamer/config.toml, else /run/scx_gamer.sock).
    #[arg(long)]
    socket: Option<PathBuf>,
    /// Tuning data (default: ~/.local/share/scx_gamer/ml_data).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Tune during this launch: measure the next configs of the game's
    /// tuning plan (it goes on across launches); when the plan is done,
    /// apply its winner.
    #[arg(long)]
    tune: bool,
    #[command(flatten)]
    tuning: LaunchTuneArgs,
    /// The game's command line (Steam: %command%).
    #[arg(last = true, required = true, value_name = "COMMAND")]
    command: Vec<OsString>,
}

/// How `launch --tune` measures (the same meaning as in `tune`).
#[derive(Args)]
struct LaunchTuneArgs {
    /// Trial file: the plan is its listed configs.
    #[arg(long, requires = "tune", default_value = scx_gamer::tune::trials::DEFAULT_TRIALS)]
    trials: PathBuf,
    /// Measured seconds of a trial.
    #[arg(long, requires = "tune", default_value_t = 120.0)]
    trial_secs: f64,
    /// Seconds after each switch whose frames are not measured.
    #[arg(long, requires = "tune", default_value_t = 10.0)]
    warmup_secs: f64,
    /// Measurements of each config (each in its own block, with a baseline).
    #[arg(long, requires = "tune", default_value_t = 1)]
    repeats: u32,
    /// Seed of the trial order (default: from the clock).
    #[arg(long, requires = "tune")]
    seed: Option<u64>,
    /// Stop tuning (the game goes on) when it shows no frames this long.
    #[arg(long, requires = "tune", default_value_t = 60.0)]
    frames_timeout: f64,
}

#[derive(Args)]
struct DaemonCmd {
    /// Socket to listen on (default: from /etc/scx_gamer.toml, else
    /// /run/scx_gamer.sock); under systemd socket activation, the one passed.
    #[arg(long)]
    socket: Option<PathBuf>,
    /// Folder of evdev input devices to watch.
    #[arg(long, default_value = input::DEFAULT_INPUT_DIR)]
    input_dir: PathBuf,
}

#[derive(Args)]
struct ReportArgs {
    /// The game (store key, exe name or Steam app id); all games if omitted.
    game: Option<String>,
    /// Print only the best config of GAME, as scx_gamer flags.
    #[arg(long, value_name = "GAME", conflicts_with_all = ["game", "logs", "csv"])]
    best: Option<String>,
    /// MangoHud CSV logs to report on (instead of tuning data).
    #[arg(long = "log", value_name = "FILE", num_args = 1.., conflicts_with = "game")]
    logs: Vec<PathBuf>,
    /// JSON instead of text (one object per game or log).
    #[arg(long, conflicts_with = "csv")]
    json: bool,
    /// The trial table as CSV.
    #[arg(long)]
    csv: bool,
    /// Write a self-contained HTML report (charts, tables) to FILE instead.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["json", "csv", "best"])]
    html: Option<PathBuf>,
    /// Folder of the tuning data.
    #[arg(long, default_value = "ml_data")]
    data: PathBuf,
}

/// Options of `tune` and `attach`.
#[derive(Args)]
struct TuneArgs {
    /// Trial file: configs to try (and a knob space for halving/model).
    #[arg(long, default_value = scx_gamer::tune::trials::DEFAULT_TRIALS)]
    trials: PathBuf,
    /// Measured seconds of a full trial.
    #[arg(long, default_value_t = 120.0)]
    trial_secs: f64,
    /// Seconds after each switch whose frames are not measured.
    #[arg(long, default_value_t = 10.0)]
    warmup_secs: f64,
    /// Blocks (grid) / final re-measurements (halving, model).
    #[arg(long, default_value_t = 2)]
    repeats: u32,
    /// How to choose the configs to try.
    #[arg(long, value_enum, default_value_t = Strategy::Grid)]
    search: Strategy,
    /// At most this many config trials (halving, model).
    #[arg(long)]
    max_trials: Option<usize>,
    /// Seed of the trial order and the search (default: from the clock).
    #[arg(long)]
    seed: Option<u64>,
    /// Folder of the tuning data.
    #[arg(long, default_value = "ml_data")]
    data: PathBuf,
    /// Measure the kernel's own scheduler (no sched_ext) in every block
    /// (the default).
    #[arg(long, overrides_with = "no_baseline")]
    baseline: bool,
    /// Do not measure the baseline: no verdict against it is possible.
    #[arg(long, overrides_with = "baseline")]
    no_baseline: bool,
    /// Give up when the game shows no frames for this many seconds.
    #[arg(long, default_value_t = 60.0)]
    frames_timeout: f64,
    /// Folder of evdev input devices to watch.
    #[arg(long, default_value = input::DEFAULT_INPUT_DIR)]
    input_dir: PathBuf,
}

fn clock_seed() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl TuneArgs {
    fn options(&self) -> TuneOptions {
        let seed = self.seed.unwrap_or_else(clock_seed);
        TuneOptions {
            trials_file: self.trials.clone(),
            trial_secs: self.trial_secs,
            warmup_secs: self.warmup_secs,
            repeats: self.repeats,
            search: self.search,
            max_trials: self.max_trials,
            seed,
            data_dir: self.data.clone(),
            baseline: !self.no_baseline,
            frames_timeout_secs: self.frames_timeout,
            input_dir: self.input_dir.clone(),
        }
    }
}

#[derive(Args)]
struct TuneCmd {
    #[command(flatten)]
    opts: TuneArgs,
    /// Run the game as this user (default: the sudo caller); never root.
    #[arg(long)]
    user: Option<String>,
    /// The game's command line, e.g. `mangohud ./game` (mangohud is added
    /// when missing).
    #[arg(last = true, required = true, value_name = "COMMAND")]
    command: Vec<OsString>,
}

#[derive(Args)]
struct AttachCmd {
    #[command(flatten)]
    opts: TuneArgs,
    /// The game's process id.
    #[arg(long)]
    pid: u32,
}

/// The scheduler's knobs, one flag per entry of the knob table (`KNOBS`).
/// Ranges are checked before anything is loaded.
#[derive(Clone)]
struct KnobArgs(SchedConfig);

impl KnobArgs {
    fn config(&self) -> Result<SchedConfig> {
        self.0.validate()?;
        Ok(self.0)
    }
}

impl clap::FromArgMatches for KnobArgs {
    fn from_arg_matches(m: &clap::ArgMatches) -> Result<Self, clap::Error> {
        let mut k = KnobArgs(SchedConfig::default());
        k.update_from_arg_matches(m)?;
        Ok(k)
    }

    fn update_from_arg_matches(&mut self, m: &clap::ArgMatches) -> Result<(), clap::Error> {
        for knob in &KNOBS {
            if let Some(&v) = m.get_one::<u64>(knob.name) {
                self.0
                    .set_value(knob.name, v)
                    .map_err(|e| clap::Error::raw(clap::error::ErrorKind::ValueValidation, format!("{e:#}\n")))?;
            }
        }
        Ok(())
    }
}

impl clap::Args for KnobArgs {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        KNOBS.iter().fold(cmd, |cmd, k| {
            cmd.arg(
                clap::Arg::new(k.name)
                    .long(k.flag()[2..].to_string())
                    .value_name("N")
                    .value_parser(clap::value_parser!(u64))
                    .default_value(k.default.to_string())
                    .help(format!("{} ({}..={} {})", k.doc, k.min, k.max, k.unit)),
            )
        })
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
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
    /// Record this run's config and scheduler counters into the tuning
    /// data (the old workflow; `tune` does it all).
    #[arg(long)]
    ml_collect: bool,
    /// Folder of the tuning data (--ml-collect, --ml-show-best).
    #[arg(long, default_value = "ml_data")]
    data: PathBuf,
    /// Print GAME's best config as flags and exit (= report --best GAME).
    #[arg(long, value_name = "GAME")]
    ml_show_best: Option<String>,
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

/// Exit status of a tune stopped by SIGINT/SIGTERM (128 + SIGINT, as shells do).
const EXIT_INTERRUPTED: u8 = 130;

fn main_inner(cli: Cli) -> Result<ExitCode> {
    init_logging(cli.verbose)?;
    // Not for `launch`: the wrapper passes its signals to the game, and a
    // shutdown flag of ours would take them first.
    let shutdown = shutdown_flag;
    match cli.command {
        Some(Command::Cycle(args)) => {
            let hold = interval(args.hold_secs, "--hold-secs")?;
            run::cycle(&args.configs, hold, args.feeds.feeds(), shutdown()?)?;
        }
        Some(Command::Run(args)) => do_run(args, shutdown()?)?,
        Some(Command::Report(args)) => do_report(args)?,
        Some(Command::Tune(args)) => {
            let opts = args.opts.options();
            let (outcome, game) = scx_gamer::tune::tune(&opts, &args.command, args.user.as_deref(), shutdown()?)?;
            return finish_tune(&opts, outcome, &game);
        }
        Some(Command::Attach(args)) => {
            let opts = args.opts.options();
            let (outcome, game) = scx_gamer::tune::attach(&opts, args.pid, shutdown()?)?;
            return finish_tune(&opts, outcome, &game);
        }
        Some(Command::Launch(args)) => return do_launch(args),
        Some(Command::Daemon(args)) => {
            let settings = Settings::load(Path::new(settings::SYSTEM_FILE), None)?;
            let socket = args.socket.unwrap_or_else(|| settings.socket());
            scx_gamer::daemon::server::run(&socket, &args.input_dir, shutdown()?)?;
        }
        None => do_run(cli.run, shutdown()?)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn do_launch(args: LaunchCmd) -> Result<ExitCode> {
    let held = scx_gamer::launch::HeldSignals::hold()?;
    let env = |k: &str| std::env::var(k).ok();
    // A broken settings file must not keep the game from starting.
    let settings = Settings::load(Path::new(settings::SYSTEM_FILE), settings::user_file(&env).as_deref()).unwrap_or_else(|e| {
        eprintln!("scx_gamer: ignoring settings: {e:#}");
        Settings::default()
    });
    let uid = nix::unistd::getuid().as_raw();
    let opts = scx_gamer::launch::LaunchOptions {
        socket: args.socket.unwrap_or_else(|| settings.socket()),
        data_dir: args.data.or(settings.data_dir.clone()).unwrap_or_else(|| settings::user_data_dir(uid, &env)),
    };
    let code = if args.tune {
        let t = &args.tuning;
        let tune = TuneOptions {
            trials_file: t.trials.clone(),
            trial_secs: t.trial_secs,
            warmup_secs: t.warmup_secs,
            repeats: t.repeats,
            search: Strategy::Grid,
            max_trials: None,
            seed: t.seed.unwrap_or_else(clock_seed),
            data_dir: opts.data_dir.clone(),
            baseline: true,
            frames_timeout_secs: t.frames_timeout,
            // The daemon watches input; the player's wrapper does not.
            input_dir: PathBuf::from(input::DEFAULT_INPUT_DIR),
        };
        scx_gamer::tune::during_play::launch_tune(&args.command, &opts, &tune, held)?
    } else {
        scx_gamer::launch::launch(&args.command, &opts, held)?
    };
    Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)))
}

fn do_report(args: ReportArgs) -> Result<()> {
    use scx_gamer::report::game::{self, Format};
    if let Some(g) = &args.best {
        return game::best(&args.data, g);
    }
    if let Some(out) = &args.html {
        if !args.logs.is_empty() {
            scx_gamer::report::html::write_logs(&args.logs, out)?;
        } else {
            let Some(g) = args.game.as_deref() else {
                bail!("--html needs a GAME (or --log FILE...)");
            };
            scx_gamer::report::html::write_game(&args.data, g, out)?;
        }
        eprintln!("wrote {}", out.display());
        return Ok(());
    }
    if !args.logs.is_empty() {
        return scx_gamer::report::logs::run(&args.logs, args.json);
    }
    let format = if args.json {
        Format::Json
    } else if args.csv {
        Format::Csv
    } else {
        Format::Text
    };
    game::run(&args.data, args.game.as_deref(), format)
}

/// Say how the tune ended and show the ranking.
fn finish_tune(opts: &TuneOptions, outcome: Outcome, game: &str) -> Result<ExitCode> {
    match &outcome {
        Outcome::Finished => eprintln!("tuning finished"),
        Outcome::GameExited(why) => eprintln!("the game exited ({why}); the trials so far are recorded"),
        Outcome::Interrupted => eprintln!("interrupted; the finished trials are recorded"),
    }
    if let Err(e) = scx_gamer::report::game::run(&opts.data_dir, Some(game), scx_gamer::report::game::Format::Text) {
        eprintln!("scx_gamer: {e:#}");
    }
    Ok(if outcome == Outcome::Interrupted { ExitCode::from(EXIT_INTERRUPTED) } else { ExitCode::SUCCESS })
}

fn do_run(args: RunArgs, shutdown: Arc<AtomicBool>) -> Result<()> {
    if let Some(game) = &args.ml_show_best {
        return scx_gamer::report::game::best(&args.data, game);
    }
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
    let collect = args.ml_collect.then(|| scx_gamer::tune::collect::Collect::start(&args.data, &config, &args.feeds.game_pids));
    let totals = run::run(&config, args.feeds.feeds(), stats, shutdown)?;
    if let Some(c) = collect {
        let path = c.finish(&totals)?;
        eprintln!("recorded into {}", path.display());
    }
    Ok(())
}

/// `scx_gamer -v tune …` as `scx_gamer tune -v …`: flags before a
/// subcommand otherwise mean `run` (for old scripts), but -v is for every
/// command.
fn verbose_after_subcommand(mut args: Vec<OsString>) -> Vec<OsString> {
    let cmd = Cli::command();
    let is_sub = |a: &OsString| a.to_str().is_some_and(|a| cmd.get_subcommands().any(|s| s.get_name() == a));
    while args.len() > 2 && matches!(args[1].to_str(), Some("-v" | "--verbose")) && is_sub(&args[2]) {
        let v = args.remove(1);
        args.insert(2, v);
    }
    args
}

fn main() -> ExitCode {
    let cli = Cli::parse_from(verbose_after_subcommand(std::env::args_os().collect()));
    match main_inner(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("scx_gamer: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
