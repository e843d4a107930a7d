//! `scx_gamer tune -- mangohud ./game` and `scx_gamer attach --pid PID`:
//! check everything that can be checked before the game is touched, get the
//! game's frames flowing, then hand over to the trial loop.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use log::{info, warn};

use super::frame_source::{FrameSource, Frames};
use super::game_watch::{Attached, Launched};
use super::options::TuneOptions;
use super::runner::{GameWatch, Runner, Stop, longest_measurement};
use super::search::{BLOCK, RACE_BATCH, Search, Strategy, new_search_batched};
use super::switch::local::Local;
use super::trials::TrialFile;
use crate::game::caller_env;
use crate::game::identity::GameId;
use crate::game::inspect::{
    GameProcess, as_seen_from_here, control_configured, control_socket, log_duration_problem, log_folder, no_display_origin,
};
use crate::game::reaper;
use crate::game::spawn::{self, GameUser, LogFolder, log_folder_for_game};
use crate::mangohud::control::{Control, Pending};
use crate::procfs;
use crate::sched::session::{Feeds, Session};
use crate::sched::{SchedConfig, game_tree, preflight};
use crate::store::{GameStore, MeasureMode, SessionMode, SystemInfo, store_path};

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

/// Play time (minutes) under which a halving or model search in races is
/// cut short: the cheapest setting in BENCHMARKS.md "Search" (halving
/// max=50 in races) takes 3.5 hours.
const SEARCH_PLAY_MINS: f64 = 180.0;

fn plan(opts: &TuneOptions) -> Result<Prepared> {
    opts.validate()?;
    if opts.measure == MeasureMode::Interleaved && opts.search != Strategy::Grid && opts.budget_mins < SEARCH_PLAY_MINS {
        warn!(
            "a {} search takes hours of play (BENCHMARKS.md \"Search\"); --budget-mins {} ends it after its first races, \
             and it picks from the few configs measured by then: give it hours (e.g. --budget-mins 600), or use --search grid",
            opts.search.name(),
            opts.budget_mins
        );
    }
    let trials = TrialFile::load(&opts.trials_file)?;
    let seeds: Vec<SchedConfig> = trials.trials.iter().map(|t| t.config).collect();
    // Grid tries the listed trials; the space is what halving and model
    // explore (a grid over default.toml's 600 configs would take days). A
    // file with a space and no trials gets its whole grid.
    let space = match opts.search {
        Strategy::Grid if !seeds.is_empty() => None,
        _ => trials.space.as_ref(),
    };
    // Interleaved, a grid's repeats are the race's rounds: one pass, in
    // races of up to RACE_BATCH configs.
    let (repeats, grid_batch) = match opts.measure {
        MeasureMode::Interleaved => (if opts.search == Strategy::Grid { 1 } else { opts.repeats }, RACE_BATCH),
        MeasureMode::Blocks => (opts.repeats, BLOCK),
    };
    let search = new_search_batched(opts.search, &seeds, space, repeats, opts.max_trials, opts.seed, grid_batch)
        .map_err(|e| e.context(format!("trial file {}", trials.path.display())))?;
    let names = trials.trials.iter().map(|t| (t.config, t.name.clone())).collect();
    preflight::check_all()?;
    Ok(Prepared { search, names })
}

pub(super) fn system_info(mangohud_version: Option<String>) -> SystemInfo {
    let kernel = nix::sys::utsname::uname().map(|u| u.release().to_string_lossy().into_owned()).unwrap_or_default();
    let cpu = procfs::cpu_model();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get() as u32);
    SystemInfo { kernel, cpu, cpus, mangohud_version }
}

/// The search for the MangoHud control socket of any process of the game's
/// tree (a launcher may fork the process that renders). A connection
/// MangoHud has queued is kept and waited on, never dropped and made again
/// (see `control::Pending`: that starved a slow game's socket).
pub(super) struct ControlSearch {
    root: u32,
    /// The game also is every child of ours (game_tree::roots).
    adopted: bool,
    /// The pending connection and the pid whose socket it is.
    pending: Option<(u32, Pending)>,
    last_err: Option<anyhow::Error>,
}

impl ControlSearch {
    pub(super) fn new(root: u32, adopted: bool) -> Self {
        Self { root, adopted, pending: None, last_err: None }
    }

    /// One look (at most ~0.5 s): Some once MangoHud has greeted, with the
    /// pid of the process it runs in (the one that renders).
    pub(super) fn poll(&mut self) -> Result<Option<(u32, Control)>> {
        if let Some((pid, p)) = self.pending.take() {
            match p.greeting(Duration::from_millis(200)) {
                Ok(Ok(c)) => return Ok(Some((pid, c))),
                Ok(Err(still)) => {
                    self.pending = Some((pid, still));
                    return Ok(None);
                }
                Err(e) => self.last_err = Some(e),
            }
        }
        let procs = procfs::scan_processes(procfs::root())?;
        let tree = game_tree::process_tree(&game_tree::roots(&[self.root], self.adopted, &procs), &procs);
        // MangoHud's %p is the pid the game knows itself by: in a pid
        // namespace of its own (Flatpak, bwrap --unshare-pid) not ours.
        // Such a name may be another sandbox's, so the listener must be
        // of the game's tree.
        'search: for &pid in &tree {
            for ns_pid in procfs::namespace_pids(procfs::root(), pid) {
                let name = format!("mangohud-{ns_pid}");
                match Control::open(&name, Duration::from_millis(500)).and_then(|p| Ok((p.listener_pid()?, p))) {
                    Ok((listener, p)) if tree.contains(&listener) => {
                        self.pending = Some((listener, p));
                        break 'search;
                    }
                    Ok((listener, _)) => self.last_err = Some(anyhow::anyhow!("@{name} is pid {listener}'s, not the game's")),
                    Err(e) => self.last_err = Some(e),
                }
            }
        }
        if self.pending.is_none() {
            std::thread::sleep(Duration::from_millis(200));
        }
        Ok(None)
    }

    /// Why no socket answered, for the error after the timeout.
    pub(super) fn why(&self) -> String {
        match (&self.pending, &self.last_err) {
            (Some(_), _) => ": its MangoHud queued our connection but never answered (is the game presenting frames?)".into(),
            (None, Some(e)) => format!(": MangoHud never opened its control socket: {e:#}"),
            (None, None) => ": MangoHud never opened its control socket".into(),
        }
    }
}

/// Connect to the game's MangoHud (see `ControlSearch`): the pid it runs
/// in and the connection. None: SIGINT/SIGTERM came first.
fn connect_control(
    root: u32,
    adopted: bool,
    game: &mut dyn GameWatch,
    timeout: Duration,
    shutdown: &AtomicBool,
) -> Result<Option<(u32, Control)>> {
    let deadline = Instant::now() + timeout;
    let mut search = ControlSearch::new(root, adopted);
    loop {
        if shutdown.load(Ordering::Relaxed) {
            return Ok(None);
        }
        if let Some(reason) = game.exited() {
            bail!("the game exited before showing a frame ({reason})");
        }
        if let Some(c) = search.poll()? {
            return Ok(Some(c));
        }
        if Instant::now() > deadline {
            bail!("no frames from the game within {timeout:?}{}", search.why());
        }
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
    game: Feeds,
    source: Box<dyn Frames>,
    watch: &mut dyn GameWatch,
    shutdown: Arc<AtomicBool>,
) -> Result<Outcome> {
    let pid = game.game_pids.first().copied().unwrap_or(0);
    let session = Session::start(game, shutdown)?;
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
    // The game's settings as the player set them, also those sudo removed
    // (MANGOHUD_CONFIG, SteamAppId: caller_env).
    let env = |k: &str| caller_env::var(k);
    let user = GameUser::resolve(user, &env)?;
    // MangoHud where the player would find it (sudo's secure_path lacks
    // ~/.local/bin), else where root does.
    let path = caller_env::path_then_ours();
    let cmd = spawn::with_mangohud(cmd, path.as_deref())?;
    let game_id = GameId::from_command(&cmd, &env);
    let key = game_id.key.clone();
    let logs = LogFolder::create(Path::new(&std::env::temp_dir()), &user)?;
    // The player's MangoHud settings survive; logging is ours.
    let (cmd, extra) = spawn::game_launch(&user, &cmd, &game_id, &env, logs.path());

    // What a launcher leaves running is the game still (game::reaper).
    let reaping = reaper::become_subreaper().inspect_err(|e| log::warn!("{e:#}: a game its launcher leaves running ends the tune")).is_ok();
    let child = spawn::spawn_as(&user, &cmd, &extra)?;
    let pid = child.id();
    info!("started the game (pid {pid}) as {}", user.name);
    let mut game = Launched::new(child);
    if reaping {
        game = game.reaping();
    }
    let result = (|| {
        let Some((renders, control)) = connect_control(pid, reaping, &mut game, opts.frames_timeout(), &shutdown)? else {
            return Ok(Outcome::Interrupted);
        };
        let folder = log_folder_for_game(procfs::root(), renders, logs.path(), &user)?;
        let source: Box<dyn Frames> = Box::new(FrameSource::control(control, &folder)?);
        let feeds = Feeds { game_pids: vec![pid], adopted: reaping, input_dir: opts.input_dir.clone() };
        run_trials(opts, plan, SessionMode::Tune, game_id, feeds, source, &mut game, shutdown)
    })();
    if game.child.try_wait().ok().flatten().is_none() {
        info!("stopping the game");
        if let Err(e) = spawn::stop(&mut game.child, GAME_STOP_GRACE) {
            log::warn!("stopping the game: {e:#}");
        }
    }
    if reaping {
        reaper::stop_orphans(procfs::root(), GAME_STOP_GRACE);
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
    // Before waiting for its control socket: a log_duration shorter than a
    // trial is known from the settings alone.
    if let Some(why) = log_duration_problem(proc_root, &process, longest_measurement(opts), control_configured(proc_root, &process)) {
        bail!(why);
    }
    let game_id = GameId::from_process(proc_root, pid)?;
    let key = game_id.key.clone();
    let (named, from) = log_folder(&process)?;
    // As the game names it, in its own root if it has one (a container).
    let folder = as_seen_from_here(proc_root, pid, &named);
    let mut game = Attached::new(pid);
    let socket = find_control_socket(&process, &mut game, opts.frames_timeout(), &shutdown)?;
    if shutdown.load(Ordering::Relaxed) {
        return Ok((Outcome::Interrupted, key));
    }
    let source: Box<dyn Frames> = match socket {
        Some(name) => {
            let control = Control::connect_name(&name, opts.frames_timeout())?;
            // A name with a pid from the game's own pid namespace may be
            // another sandbox's (see inspect::control_socket).
            let listener = control.listener_pid()?;
            if !game_tree::process_tree(&[pid], &procfs::scan_processes(proc_root)?).contains(&listener) {
                bail!("MangoHud's control socket @{name} belongs to pid {listener}, which is not pid {pid} or one of its children");
            }
            info!("using MangoHud's control socket @{name}; logs in {} ({from:?})", folder.display());
            Box::new(FrameSource::control(control, &folder)?)
        }
        None => {
            // Without the socket only MangoHud's own autostart logs, which
            // no_display turns off (0.7+): no log would ever come.
            if let Some(origin) = no_display_origin(proc_root, &process) {
                bail!(
                    "pid {pid}'s MangoHud has no_display (from {origin}) and no control socket: MangoHud 0.7 and later then write no log at all. \
                     Restart the game with alpha=0,background_alpha=0 instead of no_display (the HUD stays invisible and logging works), \
                     or add control=mangohud-%p"
                );
            }
            info!("no MangoHud control socket: cutting the live log in {} ({from:?}) by time", folder.display());
            Box::new(FrameSource::stream(&folder)?)
        }
    };
    let feeds = Feeds { game_pids: vec![pid], adopted: false, input_dir: opts.input_dir.clone() };
    let outcome = run_trials(opts, plan, SessionMode::Attach, game_id, feeds, source, &mut game, shutdown)
        .with_context(|| format!("tuning pid {pid} ({})", process.exe_name))?;
    Ok((outcome, key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::{SocketAddr, UnixListener};

    /// A game's MangoHud that presents a frame every `frame`: per frame it
    /// accepts one connection if it has no client, and greets it (as
    /// MangoHud does); a connection whose peer is gone it drops. Returns how
    /// many connections it had to accept before one stayed.
    fn slow_mangohud(name: &str, frame: Duration) -> std::thread::JoinHandle<usize> {
        let listener = UnixListener::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes()).unwrap()).unwrap();
        listener.set_nonblocking(true).unwrap();
        std::thread::spawn(move || {
            let mut accepted = 0;
            for _ in 0..40 {
                std::thread::sleep(frame);
                let Ok((mut s, _)) = listener.accept() else { continue };
                accepted += 1;
                let greeting = b":MangoHudControlVersion=1;:DeviceName=x;:MangoHudVersion=MangoHud v0.6.8;";
                if s.write_all(greeting).is_ok() && s.flush().is_ok() {
                    // Still there? A peer that gave up has closed its end.
                    std::thread::sleep(Duration::from_millis(50));
                    let mut probe = [0u8; 1];
                    s.set_nonblocking(true).unwrap();
                    match std::io::Read::read(&mut s, &mut probe) {
                        Ok(0) => continue,
                        _ => return accepted,
                    }
                }
            }
            accepted
        })
    }

    #[test]
    fn a_game_that_presents_frames_slowly_is_connected_on_the_first_try() {
        // Frames 1.2 s apart: longer than one connection attempt used to
        // wait (0.5 s) before dropping it and queueing another.
        let me = std::process::id();
        let server = slow_mangohud(&format!("mangohud-{me}"), Duration::from_millis(1200));
        let mut search = ControlSearch::new(me, false);
        let deadline = Instant::now() + Duration::from_secs(20);
        let control = loop {
            if let Some((_, c)) = search.poll().unwrap() {
                break c;
            }
            assert!(Instant::now() < deadline, "no greeting in 20 s{}", search.why());
        };
        assert_eq!(control.mangohud_version.as_deref(), Some("0.6.8"));
        assert_eq!(server.join().unwrap(), 1, "MangoHud had to accept and drop connections we gave up on");
    }

    #[test]
    fn a_socket_named_for_the_game_but_held_by_another_process_is_not_taken() {
        // As when two sandboxed games are both pid 2 in their own pid
        // namespaces: the name fits the game, the listener (this test) is
        // not of the game's tree.
        let mut game = std::process::Command::new("sleep").arg("30").spawn().unwrap();
        let name = format!("mangohud-{}", game.id());
        let _listener = UnixListener::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes()).unwrap()).unwrap();
        let mut search = ControlSearch::new(game.id(), false);
        assert!(search.poll().unwrap().is_none());
        let why = search.why();
        let _ = game.kill();
        let _ = game.wait();
        assert!(why.contains(&format!("@{name} is pid {}'s, not the game's", std::process::id())), "{why}");
    }
}
