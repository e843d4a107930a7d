//! The command line: clap's types for every subcommand, and the options
//! they build (`TuneOptions`, the knobs, the feeds). `main.rs` runs them.

use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::{Args, Parser, Subcommand};
use scx_gamer::sched::config::KNOBS;
use scx_gamer::sched::session::Feeds;
use scx_gamer::sched::{SchedConfig, input};
use scx_gamer::store::MeasureMode;
use scx_gamer::tune::TuneOptions;
use scx_gamer::tune::options::{DEFAULT_BUDGET_MINS, DEFAULT_GUARD_SECS, DEFAULT_TRIAL_SECS, DEFAULT_WARMUP_SECS, MAX_BUDGET_MINS};
use scx_gamer::tune::search::Strategy;

/// scx_gamer: a sched_ext CPU scheduler for games.
///
/// With no subcommand, the flags mean `run` (as older scripts use it).
#[derive(Parser)]
#[command(version, args_conflicts_with_subcommands = true)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Option<Command>,
    #[command(flatten)]
    pub(crate) run: RunArgs,
    /// Log more (libbpf messages and scx_utils' notes included).
    #[arg(short, long, global = true)]
    pub(crate) verbose: bool,
}

#[derive(Subcommand)]
pub(crate) enum Command {
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
pub(crate) struct LaunchCmd {
    /// The daemon's socket (default: from /etc/scx_gamer.toml and
    /// ~/.config/scx_gamer/config.toml, else /run/scx_gamer.sock).
    #[arg(long)]
    pub(crate) socket: Option<PathBuf>,
    /// Tuning data (default: ~/.local/share/scx_gamer/ml_data).
    #[arg(long)]
    pub(crate) data: Option<PathBuf>,
    /// Tune during this launch: measure the next configs of the game's
    /// tuning plan (it goes on across launches); when the plan is done,
    /// apply its winner.
    #[arg(long)]
    pub(crate) tune: bool,
    #[command(flatten)]
    pub(crate) tuning: LaunchTuneArgs,
    /// The game's command line (Steam: %command%).
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub(crate) command: Vec<OsString>,
}

/// How `launch --tune` measures (the same meaning as in `tune`).
#[derive(Args)]
pub(crate) struct LaunchTuneArgs {
    /// Trial file: the plan is its listed configs.
    #[arg(long, requires = "tune", default_value = scx_gamer::tune::trials::DEFAULT_TRIALS)]
    pub(crate) trials: PathBuf,
    #[command(flatten)]
    pub(crate) measure: MeasureArgs,
    /// Blocks: measurements of each config (each in its own block, with a
    /// baseline), over as many launches as it takes; a verdict needs 3.
    #[arg(long, requires = "tune", default_value_t = 3)]
    pub(crate) repeats: u32,
    /// Seed of the trial order (default: from the clock).
    #[arg(long, requires = "tune")]
    pub(crate) seed: Option<u64>,
    /// Stop tuning (the game goes on) when it shows no frames this long.
    #[arg(long, requires = "tune", default_value_t = 60.0)]
    pub(crate) frames_timeout: f64,
}

impl LaunchTuneArgs {
    /// The tuner's options for `launch --tune`: the trial file's configs
    /// (a race that goes on across launches, or a grid of one config per
    /// block with a baseline), into the player's store.
    pub(crate) fn options(&self, data_dir: &std::path::Path) -> Result<TuneOptions> {
        let mut opts = TuneOptions {
            trials_file: self.trials.clone(),
            trial_secs: DEFAULT_TRIAL_SECS,
            warmup_secs: DEFAULT_WARMUP_SECS,
            repeats: self.repeats,
            search: Strategy::Grid,
            max_trials: None,
            seed: self.seed.unwrap_or_else(clock_seed),
            data_dir: data_dir.to_path_buf(),
            baseline: true,
            frames_timeout_secs: self.frames_timeout,
            // The daemon watches input; the player's wrapper does not.
            input_dir: PathBuf::from(input::DEFAULT_INPUT_DIR),
            measure: MeasureMode::Interleaved,
            segment_secs: None,
            guard_secs: DEFAULT_GUARD_SECS,
            // The race goes on for as long as the game runs (it ends when
            // decided), and across launches.
            budget_mins: MAX_BUDGET_MINS,
        };
        self.measure.apply(&mut opts)?;
        Ok(opts)
    }
}

#[derive(Args)]
pub(crate) struct DaemonCmd {
    /// Socket to listen on (default: from /etc/scx_gamer.toml, else
    /// /run/scx_gamer.sock); under systemd socket activation, the one passed.
    #[arg(long)]
    pub(crate) socket: Option<PathBuf>,
    /// Folder of evdev input devices to watch.
    #[arg(long, default_value = input::DEFAULT_INPUT_DIR)]
    pub(crate) input_dir: PathBuf,
}

#[derive(Args)]
pub(crate) struct ReportArgs {
    /// The game (store key, exe name or Steam app id); all games if omitted.
    pub(crate) game: Option<String>,
    /// Print only the best config of GAME, as scx_gamer flags.
    #[arg(long, value_name = "GAME", conflicts_with_all = ["game", "logs", "csv"])]
    pub(crate) best: Option<String>,
    /// MangoHud CSV logs to report on (instead of tuning data).
    #[arg(long = "log", value_name = "FILE", num_args = 1.., conflicts_with = "game")]
    pub(crate) logs: Vec<PathBuf>,
    /// JSON instead of text (one object per game or log).
    #[arg(long, conflicts_with = "csv")]
    pub(crate) json: bool,
    /// The trial table as CSV.
    #[arg(long)]
    pub(crate) csv: bool,
    /// Write a self-contained HTML report (charts, tables) to FILE instead.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["json", "csv", "best"])]
    pub(crate) html: Option<PathBuf>,
    /// Folder of the tuning data (default: yours, where `launch` reads it:
    /// ~/.local/share/scx_gamer/ml_data; through sudo, the caller's).
    #[arg(long)]
    pub(crate) data: Option<PathBuf>,
}

/// Options of `tune` and `attach`.
#[derive(Args)]
pub(crate) struct TuneArgs {
    /// Trial file: configs to try (and a knob space for halving/model).
    #[arg(long, default_value = scx_gamer::tune::trials::DEFAULT_TRIALS)]
    pub(crate) trials: PathBuf,
    #[command(flatten)]
    pub(crate) measure: MeasureArgs,
    /// Blocks (grid; default 3, the fewest a verdict stands on) / final
    /// re-measurements (halving, model; default 2: their survivors have
    /// blocks from every stage too).
    #[arg(long)]
    pub(crate) repeats: Option<u32>,
    /// How to choose the configs to try.
    #[arg(long, value_enum, default_value_t = Strategy::Grid)]
    pub(crate) search: Strategy,
    /// At most this many config trials (halving, model).
    #[arg(long)]
    pub(crate) max_trials: Option<usize>,
    /// Seed of the trial order and the search (default: from the clock).
    #[arg(long)]
    pub(crate) seed: Option<u64>,
    /// Folder of the tuning data (default: the player's, where their
    /// `launch` reads it: ~/.local/share/scx_gamer/ml_data).
    #[arg(long)]
    pub(crate) data: Option<PathBuf>,
    /// Measure the kernel's own scheduler (no sched_ext) in every block
    /// (the default).
    #[arg(long, overrides_with = "no_baseline")]
    pub(crate) baseline: bool,
    /// Do not measure the baseline: no verdict against it is possible.
    #[arg(long, overrides_with = "baseline")]
    pub(crate) no_baseline: bool,
    /// Give up when the game shows no frames for this many seconds.
    #[arg(long, default_value_t = 60.0)]
    pub(crate) frames_timeout: f64,
    /// Folder of evdev input devices to watch.
    #[arg(long, default_value = input::DEFAULT_INPUT_DIR)]
    pub(crate) input_dir: PathBuf,
}

pub(crate) fn clock_seed() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl TuneArgs {
    /// The options, the tuning data in `players_data` unless `--data` says.
    pub(crate) fn options(&self, players_data: impl FnOnce() -> PathBuf) -> Result<TuneOptions> {
        let data_dir = self.data.clone().unwrap_or_else(players_data);
        let mut opts = TuneOptions {
            trials_file: self.trials.clone(),
            trial_secs: DEFAULT_TRIAL_SECS,
            warmup_secs: DEFAULT_WARMUP_SECS,
            repeats: self.repeats.unwrap_or(if self.search == Strategy::Grid { 3 } else { 2 }),
            search: self.search,
            max_trials: self.max_trials,
            seed: self.seed.unwrap_or_else(clock_seed),
            data_dir,
            baseline: !self.no_baseline,
            frames_timeout_secs: self.frames_timeout,
            input_dir: self.input_dir.clone(),
            measure: MeasureMode::Interleaved,
            segment_secs: None,
            guard_secs: DEFAULT_GUARD_SECS,
            budget_mins: DEFAULT_BUDGET_MINS,
        };
        self.measure.apply(&mut opts)?;
        Ok(opts)
    }
}

/// How a tune measures: the same flags in `tune`, `attach` and
/// `launch --tune`.
#[derive(Args)]
pub(crate) struct MeasureArgs {
    /// How configs take turns: `interleaved` rounds of short segments,
    /// every contender once per round in a fresh order, the confidently
    /// worse stopping (--segment-secs, --guard-secs, --budget-mins): scene
    /// changes in the game hit every contender alike. Or `blocks` of long
    /// trials (--trial-secs, --warmup-secs), for a game that holds one
    /// scene [default: interleaved].
    #[arg(long, value_enum)]
    pub(crate) measure: Option<MeasureMode>,
    /// Blocks: measured seconds of a trial [default: 120].
    #[arg(long)]
    pub(crate) trial_secs: Option<f64>,
    /// Blocks: seconds after each switch whose frames are not measured
    /// [default: 10].
    #[arg(long)]
    pub(crate) warmup_secs: Option<f64>,
    /// Interleaved: measured seconds of a segment (default: about 300
    /// frames at the game's frame rate, 3 to 20 s).
    #[arg(long)]
    pub(crate) segment_secs: Option<f64>,
    /// Interleaved: seconds after each switch whose frames are not measured
    /// [default: 1].
    #[arg(long)]
    pub(crate) guard_secs: Option<f64>,
    /// Interleaved: minutes of play to keep within: no round starts that
    /// would end past them, judged by the last round's length [default: 10
    /// for tune and attach; launch --tune: the whole session].
    #[arg(long)]
    pub(crate) budget_mins: Option<f64>,
}

impl MeasureArgs {
    /// Any of these flags given (launch: they need --tune).
    pub(crate) fn given(&self) -> bool {
        self.measure.is_some() || self.blocks_flags().iter().chain(&self.interleaved_flags()).any(|(_, v)| v.is_some())
    }

    fn blocks_flags(&self) -> [(&'static str, Option<f64>); 2] {
        [("--trial-secs", self.trial_secs), ("--warmup-secs", self.warmup_secs)]
    }

    fn interleaved_flags(&self) -> [(&'static str, Option<f64>); 3] {
        [("--segment-secs", self.segment_secs), ("--guard-secs", self.guard_secs), ("--budget-mins", self.budget_mins)]
    }

    /// Set the mode and the flags given over `opts`' defaults. A flag of
    /// the other mode is an error, not ignored: `--trial-secs 5` alone
    /// means the player expects trials of 5 s, and interleaved segments
    /// would not be that.
    fn apply(&self, opts: &mut TuneOptions) -> Result<()> {
        let mode = self.measure.unwrap_or(MeasureMode::Interleaved);
        let (foreign, other): (&[_], _) = match mode {
            MeasureMode::Interleaved => (&self.blocks_flags(), MeasureMode::Blocks),
            MeasureMode::Blocks => (&self.interleaved_flags(), MeasureMode::Interleaved),
        };
        if let Some((flag, _)) = foreign.iter().find(|(_, v)| v.is_some()) {
            bail!(
                "{flag} is an option of --measure {}, and this tune measures {} (the default is interleaved)",
                other.as_str(),
                mode.as_str()
            );
        }
        opts.measure = mode;
        opts.trial_secs = self.trial_secs.unwrap_or(opts.trial_secs);
        opts.warmup_secs = self.warmup_secs.unwrap_or(opts.warmup_secs);
        opts.segment_secs = self.segment_secs.or(opts.segment_secs);
        opts.guard_secs = self.guard_secs.unwrap_or(opts.guard_secs);
        opts.budget_mins = self.budget_mins.unwrap_or(opts.budget_mins);
        Ok(())
    }
}

#[derive(Args)]
pub(crate) struct TuneCmd {
    #[command(flatten)]
    pub(crate) opts: TuneArgs,
    /// Run the game as this user (default: the sudo caller); never root.
    #[arg(long)]
    pub(crate) user: Option<String>,
    /// The game's command line, e.g. `mangohud ./game` (mangohud is added
    /// when missing).
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub(crate) command: Vec<OsString>,
}

#[derive(Args)]
pub(crate) struct AttachCmd {
    #[command(flatten)]
    pub(crate) opts: TuneArgs,
    /// The game's process id.
    #[arg(long)]
    pub(crate) pid: u32,
}

/// The scheduler's knobs, one flag per entry of the knob table (`KNOBS`).
/// Ranges are checked before anything is loaded.
#[derive(Clone)]
pub(crate) struct KnobArgs(SchedConfig);

impl KnobArgs {
    pub(crate) fn config(&self) -> Result<SchedConfig> {
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
pub(crate) struct FeedArgs {
    /// A process of the game; it and its descendants get game priority.
    /// Repeat for several.
    #[arg(long = "game-pid", value_name = "PID")]
    pub(crate) game_pids: Vec<u32>,
    /// Folder of evdev input devices to watch.
    #[arg(long, default_value = input::DEFAULT_INPUT_DIR)]
    pub(crate) input_dir: PathBuf,
}

impl FeedArgs {
    pub(crate) fn feeds(&self) -> Feeds {
        Feeds { game_pids: self.game_pids.clone(), adopted: false, input_dir: self.input_dir.clone() }
    }
}

#[derive(Args, Clone)]
pub(crate) struct RunArgs {
    #[command(flatten)]
    pub(crate) knobs: KnobArgs,
    #[command(flatten)]
    pub(crate) feeds: FeedArgs,
    /// Print stats every SECS seconds.
    #[arg(long, value_name = "SECS")]
    pub(crate) stats: Option<f64>,
    /// Print stats as one JSON object per line.
    #[arg(long)]
    pub(crate) stats_json: bool,
    /// Only print the stats of an already running scx_gamer, every SECS.
    #[arg(long, value_name = "SECS")]
    pub(crate) monitor: Option<f64>,
    /// Record this run's config and scheduler counters into the tuning
    /// data (the old workflow; `tune` does it all).
    #[arg(long)]
    pub(crate) ml_collect: bool,
    /// Folder of the tuning data (--ml-collect, --ml-show-best).
    #[arg(long, default_value = "ml_data")]
    pub(crate) data: PathBuf,
    /// Print GAME's best config as flags and exit (= report --best GAME).
    #[arg(long, value_name = "GAME")]
    pub(crate) ml_show_best: Option<String>,
}

#[derive(Args)]
pub(crate) struct CycleArgs {
    /// A config as key=value pairs, e.g. slice_us=5,mig_max=1 (unset keys
    /// take defaults). Give two or more.
    #[arg(long = "config", value_name = "KNOBS", required = true)]
    pub(crate) configs: Vec<SchedConfig>,
    /// Seconds each config stays attached.
    #[arg(long, default_value_t = 2.0)]
    pub(crate) hold_secs: f64,
    #[command(flatten)]
    pub(crate) feeds: FeedArgs,
}
