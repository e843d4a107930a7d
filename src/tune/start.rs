//! `scx_gamer tune -- mangohud ./game` and `scx_gamer attach --pid PID`:
//! check everything that can be checked before the game is touched, get the
//! game's frames flowing, then hand over to the trial loop.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use log::info;

use super::frame_source::{FrameSource, Frames};
use super::options::TuneOptions;
use super::runner::{GameWatch, Runner, Stop};
use super::search::{Search, Strategy, new_search};
use super::switch::local::Local;
use super::trials::TrialFile;
use crate::game::identity::GameId;
use crate::game::inspect::{GameProcess, as_seen_from_here, control_configured, control_socket, log_folder};
use crate::game::spawn::{self, GameUser, LogFolder};
use crate::mangohud::control::Control;
use crate::mangohud::env::{game_env, user_config_file};
use crate::procfs;
use crate::sched::session::{Feeds, Session};
use crate::sched::{SchedConfig, game_tree, preflight};
use crate::store::{GameStore, SessionMode, SystemInfo, store_path};

/// A game we started gets this long to exit after SIGTERM.
const GAME_STOP_GRACE: Duration = Duration::from_secs(10);

/// How a tune ended.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    Finished,
    GameExited(String),
    Interrupted,
}

/// What is known before anything is launched.
struct Prepared {
    search: Box<dyn Search>,
    names: HashMap<SchedConfig, String>,
}

fn plan(opts: &TuneOptions) -> Result<Prepared> {
    opts.validate()?;
    let trials = TrialFile::load(&opts.trials_file)?;
    let seeds: Vec<SchedConfig> = trials.trials.iter().map(|t| t.config).collect();
    // Grid tries the listed trials; the space is what halving and model
    // explore (a grid over default.toml's 600 configs would take days). A
    // file with a space and no trials gets its whole grid.
    let space = match opts.search {
        Strategy::Grid if !seeds.is_empty() => None,
        _ => trials.space.as_ref(),
    };
    let search = new_search(opts.search, &seeds, space, opts.repeats, opts.max_trials, opts.seed)
        .map_err(|e| e.context(format!("trial file {}", trials.path.display())))?;
    let names = trials.trials.iter().map(|t| (t.config, t.name.clone())).collect();
    preflight::check_all()?;
    Ok(Prepared { search, names })
}

/// A game we started: it is there until its process exits.
pub(crate) struct Launched {
    pub(crate) child: Child,
}

impl GameWatch for Launched {
    fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(status.to_string()),
            Ok(None) => None,
            Err(e) => Some(format!("cannot wait for it: {e}")),
        }
    }
}

struct Attached {
    pid: u32,
}

impl GameWatch for Attached {
    fn exited(&mut self) -> Option<String> {
        procfs::exited(procfs::root(), self.pid)
    }
}

pub(super) fn system_info(mangohud_version: Option<String>) -> SystemInfo {
    let kernel = nix::sys::utsname::uname().map(|u| u.release().to_string_lossy().into_owned()).unwrap_or_default();
    let cpu = procfs::cpu_model();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get() as u32);
    SystemInfo { kernel, cpu, cpus, mangohud_version }
}

/// Connect to the MangoHud of any process of the game's tree: a launcher
/// may fork the process that renders. None: SIGINT/SIGTERM came first.
fn connect_control(root: u32, game: &mut dyn GameWatch, timeout: Duration, shutdown: &AtomicBool) -> Result<Option<Control>> {
    let deadline = Instant::now() + timeout;
    let mut last_err = None;
    loop {
        if shutdown.load(Ordering::Relaxed) {
            return Ok(None);
        }
        if let Some(reason) = game.exited() {
            bail!("the game exited before showing a frame ({reason})");
        }
        let procs = procfs::scan_processes(procfs::root())?;
        for pid in game_tree::process_tree(&[root], &procs) {
            match Control::connect(pid, Duration::from_millis(500)) {
                Ok(c) => return Ok(Some(c)),
                Err(e) => last_err = Some(e),
            }
        }
        if Instant::now() > deadline {
            let why = last_err.map(|e| format!(": {e:#}")).unwrap_or_default();
            bail!("no frames from the game within {timeout:?}: MangoHud never opened its control socket{why}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The control socket of a running game: when its MangoHud is configured
/// for one, wait (up to `timeout`, or until SIGINT/SIGTERM) for it to
/// listen.
fn find_control_socket(
    process: &GameProcess,
    game: &mut dyn GameWatch,
    timeout: Duration,
    shutdown: &AtomicBool,
) -> Result<Option<String>> {
    let proc_root = procfs::root();
    let configured = control_configured(proc_root, process);
    let deadline = Instant::now() + timeout;
    loop {
        let procs = procfs::scan_processes(proc_root)?;
        let tree = game_tree::process_tree(&[process.pid], &procs);
        if let Some(name) = control_socket(proc_root, process, &tree) {
            return Ok(Some(name));
        }
        if !configured || shutdown.load(Ordering::Relaxed) {
            return Ok(None);
        }
        if let Some(reason) = game.exited() {
            bail!("the game exited ({reason})");
        }
        if Instant::now() > deadline {
            bail!("no frames from the game within {timeout:?}: its MangoHud is set up with a control socket but never opened it");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[allow(clippy::too_many_arguments)]
fn run_trials(
    opts: &TuneOptions,
    mut plan: Prepared,
    mode: SessionMode,
    game_id: GameId,
    pid: u32,
    source: Box<dyn Frames>,
    watch: &mut dyn GameWatch,
    shutdown: Arc<AtomicBool>,
) -> Result<Outcome> {
    let session = Session::start(Feeds { game_pids: vec![pid], input_dir: opts.input_dir.clone() }, shutdown)?;
    let mut switcher = Local::new(session);
    let path = store_path(&opts.data_dir, &game_id.key);
    let store = GameStore::open_or_new(&path, game_id)?;
    let started = chrono::Utc::now();
    let session_id = format!("{}-{pid}", started.format("%Y%m%dT%H%M%SZ"));
    let mut runner = Runner::new(opts, &mut switcher, source, watch, store, path, session_id, plan.names);

    // Frames before any trial: the game has warmed up when the frame rate
    // of two probes in a row agrees.
    if let Some(stop) = runner.settle(opts.frames_timeout())? {
        return Ok(outcome(stop));
    }
    runner.record_session(mode, plan.search.name(), started)?;
    let stop = runner.run(plan.search.as_mut())?;
    if let Some((cfg, score)) = plan.search.best() {
        info!("search ({}) ends on {cfg} (score {score:.3})", plan.search.name());
    }
    Ok(stop.map_or(Outcome::Finished, outcome))
}

fn outcome(stop: Stop) -> Outcome {
    match stop {
        Stop::GameExited(r) => Outcome::GameExited(r),
        Stop::Interrupted => Outcome::Interrupted,
    }
}

/// `scx_gamer tune [opts] -- cmd…`: launch the game as the player and tune.
/// Returns how it ended and the game's store key.
pub fn tune(opts: &TuneOptions, cmd: &[OsString], user: Option<&str>, shutdown: Arc<AtomicBool>) -> Result<(Outcome, String)> {
    let plan = plan(opts)?;
    let env = |k: &str| std::env::var(k).ok();
    let user = GameUser::resolve(user, &env)?;
    let cmd = spawn::with_mangohud(cmd, std::env::var_os("PATH").as_deref())?;
    let game_id = GameId::from_command(&cmd, &env);
    let key = game_id.key.clone();
    let logs = LogFolder::create(Path::new(&std::env::temp_dir()), &user)?;
    // The player's MangoHud settings survive; logging is ours.
    let xdg = std::env::var_os("XDG_CONFIG_HOME").map(PathBuf::from);
    let user_file = user_config_file(&user.home, xdg.as_deref(), &game_id.exe).and_then(|p| std::fs::read_to_string(p).ok());
    let extra = game_env(std::env::var("MANGOHUD_CONFIG").ok().as_deref(), user_file.as_deref(), logs.path());

    let child = spawn::spawn_as(&user, &cmd, &extra)?;
    let pid = child.id();
    info!("started the game (pid {pid}) as {}", user.name);
    let mut game = Launched { child };
    let result = (|| {
        let Some(control) = connect_control(pid, &mut game, opts.frames_timeout(), &shutdown)? else {
            return Ok(Outcome::Interrupted);
        };
        let source: Box<dyn Frames> = Box::new(FrameSource::control(control, logs.path())?);
        run_trials(opts, plan, SessionMode::Tune, game_id, pid, source, &mut game, shutdown)
    })();
    if game.child.try_wait().ok().flatten().is_none() {
        info!("stopping the game");
        if let Err(e) = spawn::stop(&mut game.child, GAME_STOP_GRACE) {
            log::warn!("stopping the game: {e:#}");
        }
    }
    Ok((result?, key))
}

/// `scx_gamer attach --pid PID`: tune a game that already runs under
/// MangoHud; the game keeps running afterwards.
pub fn attach(opts: &TuneOptions, pid: u32, shutdown: Arc<AtomicBool>) -> Result<(Outcome, String)> {
    let plan = plan(opts)?;
    let proc_root = procfs::root();
    let process = GameProcess::read(proc_root, pid)?;
    if !process.has_mangohud(proc_root) {
        bail!(
            "pid {pid} ({}) is not a MangoHud game: start it with `mangohud` (and control=mangohud-%p in MANGOHUD_CONFIG), or use `scx_gamer tune -- mangohud …`",
            process.exe_name
        );
    }
    let game_id = GameId::from_process(proc_root, pid)?;
    let key = game_id.key.clone();
    let (named, from) = log_folder(&process)?;
    // As the game names it, in its own root if it has one (a container).
    let folder = as_seen_from_here(proc_root, pid, &named);
    let mut game = Attached { pid };
    let socket = find_control_socket(&process, &mut game, opts.frames_timeout(), &shutdown)?;
    if shutdown.load(Ordering::Relaxed) {
        return Ok((Outcome::Interrupted, key));
    }
    let source: Box<dyn Frames> = match socket {
        Some(name) => {
            let control = Control::connect_name(&name, opts.frames_timeout())?;
            info!("using MangoHud's control socket @{name}; logs in {} ({from:?})", folder.display());
            Box::new(FrameSource::control(control, &folder)?)
        }
        None => {
            info!("no MangoHud control socket: cutting the live log in {} ({from:?}) by time", folder.display());
            Box::new(FrameSource::stream(&folder)?)
        }
    };
    let outcome = run_trials(opts, plan, SessionMode::Attach, game_id, pid, source, &mut game, shutdown)
        .with_context(|| format!("tuning pid {pid} ({})", process.exe_name))?;
    Ok((outcome, key))
}
