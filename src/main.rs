//! The `scx_gamer` command line.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Result, bail};
use clap::{CommandFactory, Parser};
use scx_gamer::daemon::settings::{self, Settings};
use scx_gamer::game::inspect::GameProcess;
use scx_gamer::game::spawn::GameUser;
use scx_gamer::run::{self, StatsOutput};
use scx_gamer::tune::{Outcome, TuneOptions};

mod cli;

use cli::{Cli, Command, LaunchCmd, ReportArgs, RunArgs};

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
    let term = simplelog::TermLogger::new(level, cfg, simplelog::TerminalMode::Stderr, simplelog::ColorChoice::Never);
    log::set_boxed_logger(Box::new(Quiet { term, verbose }))?;
    log::set_max_level(level);
    Ok(())
}

/// The terminal logger, without scx_utils' notes below a warning unless
/// -v: it says "kernel features: arena_fetch_bitops=no …" at every load
/// (eight times in a default tune), BPF library features a player can do
/// nothing about and that scx_gamer does not use.
struct Quiet {
    term: Box<simplelog::TermLogger>,
    verbose: bool,
}

impl Quiet {
    fn shows(&self, m: &log::Metadata) -> bool {
        self.verbose || m.level() <= log::Level::Warn || !m.target().starts_with("scx_utils")
    }
}

impl log::Log for Quiet {
    fn enabled(&self, m: &log::Metadata) -> bool {
        self.shows(m) && self.term.enabled(m)
    }

    fn log(&self, record: &log::Record) {
        if self.shows(record.metadata()) {
            self.term.log(record);
        }
    }

    fn flush(&self) {
        self.term.flush();
    }
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
            let opts = args.opts.options(|| callers_data_dir(args.user.as_deref()))?;
            let (outcome, game) = scx_gamer::tune::tune(&opts, &args.command, args.user.as_deref(), shutdown()?)?;
            return finish_tune(&opts, outcome, &game);
        }
        Some(Command::Attach(args)) => {
            // The game's owner, in the game's environment: where a launch
            // of this game (Steam's, in that environment) reads its data.
            let proc_root = scx_gamer::procfs::root();
            let opts = args.opts.options(|| {
                let game = GameProcess::read(proc_root, args.pid).ok();
                let owner = scx_gamer::procfs::real_uid(proc_root, args.pid).unwrap_or(0);
                players_data_dir(owner, &|k| game.as_ref().and_then(|g| g.var(k)).map(str::to_string))
            })?;
            let (outcome, game) = scx_gamer::tune::attach(&opts, args.pid, shutdown()?)?;
            return finish_tune(&opts, outcome, &game);
        }
        Some(Command::Launch(args)) => return do_launch(args),
        Some(Command::Daemon(args)) => {
            let settings = Settings::load(Path::new(settings::SYSTEM_FILE), None)?;
            let socket = args.socket.unwrap_or_else(|| settings.socket());
            scx_gamer::daemon::server::run(&socket, &args.input_dir, settings.pauses_scx_loader(), shutdown()?)?;
        }
        None => do_run(cli.run, shutdown()?)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn do_launch(args: LaunchCmd) -> Result<ExitCode> {
    if !args.tune && args.tuning.measure.given() {
        bail!("--measure, --trial-secs, --warmup-secs, --segment-secs, --guard-secs and --budget-mins are options of launch --tune");
    }
    let held = scx_gamer::launch::HeldSignals::hold()?;
    let env = |k: &str| std::env::var(k).ok();
    // A broken settings file must not keep the game from starting; the
    // other one still counts.
    let (settings, warnings) = Settings::load_for_launch(Path::new(settings::SYSTEM_FILE), settings::user_file(&env).as_deref());
    for w in warnings {
        eprintln!("scx_gamer: {w}");
    }
    let uid = nix::unistd::getuid().as_raw();
    let opts = scx_gamer::launch::LaunchOptions {
        socket: args.socket.unwrap_or_else(|| settings.socket()),
        data_dir: args.data.or(settings.data_dir.clone()).unwrap_or_else(|| settings::user_data_dir(uid, &env)),
    };
    let code = match args.tune.then(|| args.tuning.options(&opts.data_dir)) {
        Some(Ok(tune)) => scx_gamer::tune::during_play::launch_tune(&args.command, &opts, &tune, held)?,
        // The game starts whatever is wrong with tuning it.
        Some(Err(e)) => {
            eprintln!("scx_gamer: not tuning this launch: {e:#}");
            scx_gamer::launch::launch(&args.command, &opts, held)?
        }
        None => scx_gamer::launch::launch(&args.command, &opts, held)?,
    };
    Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)))
}

/// Where `uid`'s tuning data is, with `env` that user's environment: where
/// their `launch` reads it (the settings' `data_dir`, else
/// `settings::user_data_dir`). `tune` and `attach` run as root for a
/// player, and what they find must be where the player's Steam launch
/// option looks (they wrote to ./ml_data, and launch never applied it).
fn players_data_dir(uid: u32, env: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    let (settings, warnings) = Settings::load_for_launch(Path::new(settings::SYSTEM_FILE), settings::user_file(env).as_deref());
    for w in warnings {
        log::warn!("{w}");
    }
    settings.data_dir.unwrap_or_else(|| settings::user_data_dir(uid, env))
}

fn do_report(args: ReportArgs) -> Result<()> {
    use scx_gamer::report::ranking::{self, Format};
    let data = args.data.clone().unwrap_or_else(|| callers_data_dir(None));
    if let Some(g) = &args.best {
        return ranking::best(&data, g);
    }
    if let Some(out) = &args.html {
        if !args.logs.is_empty() {
            scx_gamer::report::html::write_logs(&args.logs, out)?;
        } else {
            let Some(g) = args.game.as_deref() else {
                bail!("--html needs a GAME (or --log FILE...)");
            };
            scx_gamer::report::html::write_game(&data, g, out)?;
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
    ranking::run(&data, args.game.as_deref(), format)
}

/// The tuning data of whoever runs `tune` or `report`: theirs; as root,
/// the player's (`--user NAME`, else the sudo caller) — under sudo the
/// player's own XDG variables are not ours to see: their home's default,
/// as their launch has it.
fn callers_data_dir(user: Option<&str>) -> PathBuf {
    let env = |k: &str| std::env::var(k).ok();
    match GameUser::resolve(user, &env) {
        Ok(player) if nix::unistd::getuid().is_root() => {
            players_data_dir(player.uid, &|k| (k == "HOME").then(|| player.home.display().to_string()))
        }
        _ => players_data_dir(nix::unistd::getuid().as_raw(), &env),
    }
}

/// Say how the tune ended and show the ranking.
fn finish_tune(opts: &TuneOptions, outcome: Outcome, game: &str) -> Result<ExitCode> {
    match &outcome {
        Outcome::Finished => eprintln!("tuning finished"),
        Outcome::GameExited(why) => eprintln!("the game exited ({why}); the trials so far are recorded"),
        Outcome::Interrupted => eprintln!("interrupted; the finished trials are recorded"),
    }
    if let Err(e) = record_and_show(&opts.data_dir, game) {
        eprintln!("scx_gamer: {e:#}");
    }
    Ok(if outcome == Outcome::Interrupted { ExitCode::from(EXIT_INTERRUPTED) } else { ExitCode::SUCCESS })
}

/// The end of a tune: its store ranked, the choice recorded for `launch`
/// (`verdict::choice`), the ranking shown.
fn record_and_show(data_dir: &Path, game: &str) -> Result<()> {
    let path = scx_gamer::store::find_store(data_dir, game)?;
    let (store, ranking) = scx_gamer::verdict::choice::record(&path)?;
    scx_gamer::report::ranking::write_text(&mut std::io::stdout().lock(), &store, &ranking)
}

fn do_run(args: RunArgs, shutdown: Arc<AtomicBool>) -> Result<()> {
    if let Some(game) = &args.ml_show_best {
        return scx_gamer::report::ranking::best(&args.data, game);
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
