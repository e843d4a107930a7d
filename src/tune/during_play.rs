//! `scx_gamer launch --tune -- %command%`: tune while the player plays,
//! as the player. The game starts with MangoHud logging into a folder of
//! ours; the trial loop (`tune::runner`) runs through the root daemon
//! (`tune::switch::daemon`) and records into the player's store. The plan
//! (`tune::plan`) goes on across launches, for as long as the game runs:
//! interleaved, each launch runs more rounds of the plan's race; in
//! blocks, it measures the next configs the store has not got yet, one per
//! block with a baseline. When the plan is done, this is plain `launch`.
//!
//! As with `launch`, the game always starts: anything that keeps tuning
//! from working is one line on stderr, and the game runs without it.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use log::info;

use super::TuneOptions;
use super::frame_source::{FrameSource, Frames, csv_logs};
use super::game_watch::Launched;
use super::plan::{self, PlanSearch};
use super::runner::{GameWatch, Runner, Stop};
use super::start::ControlSearch;
use super::switch::daemon::Daemon;
use super::trials::{Trial, TrialFile};
use crate::daemon::client::Client;
use crate::daemon::protocol::{Request, Response};
use crate::game::identity::GameId;
use crate::game::spawn::{GameUser, LogFolder, game_launch, log_folder_for_game, with_mangohud};
use crate::launch::{DAEMON_TIMEOUT, HeldSignals, LaunchOptions, choose_config, exit_code, launch};
use crate::procfs;
use crate::store::{GameStore, MeasureMode, SessionMode, store_path};
use crate::verdict::choice;

/// Everything checked before the game starts.
struct Ready {
    cmd: Vec<OsString>,
    user: GameUser,
    game: GameId,
    store: GameStore,
    store_path: PathBuf,
    plan: Vec<Trial>,
    pending: Vec<Trial>,
    client: Client,
}

/// Why this launch does not tune: a line to print (None: `launch` prints
/// its own, e.g. the install hint).
struct NoTune(Option<String>);

impl<E: Into<anyhow::Error>> From<E> for NoTune {
    fn from(e: E) -> Self {
        NoTune(Some(format!("not tuning this launch: {:#}", e.into())))
    }
}

fn prepare(cmd: &[OsString], opts: &LaunchOptions, tune: &TuneOptions) -> Result<Ready, NoTune> {
    tune.validate()?;
    let env = |k: &str| std::env::var(k).ok();
    let uid = nix::unistd::getuid().as_raw();
    if uid == 0 {
        // We would start the game ourselves, as whoever we are: never as
        // root. Plain `launch` then runs it as the sudo caller, or refuses.
        return Err(NoTune(Some("not tuning this launch: launch --tune runs as the player (Steam's launch option), not as root".into())));
    }
    // Us, by uid: SUDO_UID and the like name someone else.
    let user = GameUser::resolve(Some(&uid.to_string()), &env)?;
    let cmd = with_mangohud(cmd, std::env::var_os("PATH").as_deref())?;
    let game = GameId::from_command(&cmd, &env);
    let trials = TrialFile::load(&tune.trials_file)?;
    if trials.trials.is_empty() {
        return Err(anyhow::anyhow!(
            "trial file {} lists no [[trial]] configs (launch --tune tries the listed configs, not a space)",
            trials.path.display()
        )
        .into());
    }
    let store_path = store_path(&opts.data_dir, &game.key);
    let store = GameStore::open_or_new(&store_path, game.clone())?;
    let pending = match tune.measure {
        MeasureMode::Blocks => plan::pending(&trials.trials, &store, tune.repeats),
        MeasureMode::Interleaved if plan::race_so_far(&trials.trials, &store).over() => Vec::new(),
        MeasureMode::Interleaved => plan::configs(&trials.trials),
    };
    if pending.is_empty() {
        return Err(NoTune(Some(format!(
            "the tuning plan of {} is done ({} configs of {}); applying its result (scx_gamer report {})",
            game.key,
            trials.trials.len(),
            trials.path.display(),
            game.key
        ))));
    }
    // No daemon, or one busy with another game: `launch` says so.
    let mut client = Client::connect(&opts.socket, DAEMON_TIMEOUT).map_err(|_| NoTune(None))?;
    match client.request(&Request::Status) {
        Ok(Response::Ok(s)) if s == "idle" => {}
        _ => return Err(NoTune(None)),
    }
    Ok(Ready { cmd, user, game, store, store_path, plan: trials.trials, pending, client })
}

/// Run the game, tuning it when everything for that is there; returns the
/// game's exit code. `held`: as for `launch`.
pub fn launch_tune(cmd: &[OsString], opts: &LaunchOptions, tune: &TuneOptions, held: HeldSignals) -> Result<i32> {
    if cmd.is_empty() {
        bail!("no game command given (Steam: scx_gamer launch --tune -- %command%)");
    }
    match prepare(cmd, opts, tune) {
        Ok(ready) => run(ready, opts, tune, held),
        Err(NoTune(line)) => {
            if let Some(line) = line {
                eprintln!("scx_gamer: {line}");
            }
            launch(cmd, opts, held)
        }
    }
}

/// Wait until the game's frames can be read: its MangoHud's control socket
/// (one log per trial), or a log growing in our folder (MangoHud ≥ 0.6.9
/// logging on its own, frameloop) — as the game sees that folder: a game in
/// a root of its own (pressure-vessel, Flatpak) logs into the folder of
/// that name in its root, which is made there for it.
fn frame_source(root: u32, folder: &Path, user: &GameUser, game: &mut dyn GameWatch, timeout: Duration) -> Result<Box<dyn Frames>> {
    let deadline = Instant::now() + timeout;
    let mut search = ControlSearch::new(root, false);
    let mut folders = GameFolders::new(folder);
    loop {
        if let Some(reason) = game.exited() {
            bail!("the game exited before showing a frame ({reason})");
        }
        if let Some((renders, control)) = search.poll()? {
            let folder = log_folder_for_game(procfs::root(), renders, folder, user)?;
            return Ok(Box::new(FrameSource::control(control, &folder)?));
        }
        folders.look(root, user)?;
        if let Some(logging) = folders.seen.iter().find(|f| !csv_logs(f).is_empty()) {
            return Ok(Box::new(FrameSource::stream(logging)?));
        }
        if Instant::now() > deadline {
            let seen: Vec<String> = folders.seen.iter().map(|f| f.display().to_string()).collect();
            bail!(
                "no frames from the game within {timeout:?}{}, and it logged nothing into {}{}",
                search.why(),
                seen.join(" or "),
                folders.why()
            );
        }
    }
}

/// The log folder as each process of the game's tree sees it (ours, or
/// the same name in a root of its own), made where missing.
struct GameFolders {
    ours: PathBuf,
    seen: Vec<PathBuf>,
    /// Processes with a root of their own, looked at already. (Not those
    /// in ours: a sandbox's first process has ours until it pivots.)
    done: std::collections::BTreeSet<u32>,
    last_err: Option<anyhow::Error>,
}

impl GameFolders {
    fn new(ours: &Path) -> Self {
        Self { ours: ours.to_path_buf(), seen: vec![ours.to_path_buf()], done: Default::default(), last_err: None }
    }

    fn look(&mut self, root: u32, user: &GameUser) -> Result<()> {
        let procs = procfs::scan_processes(procfs::root())?;
        for pid in crate::sched::game_tree::process_tree(&[root], &procs) {
            if self.done.contains(&pid) {
                continue;
            }
            match log_folder_for_game(procfs::root(), pid, &self.ours, user) {
                Ok(f) if f == self.ours => {}
                Ok(f) => {
                    self.done.insert(pid);
                    if !self.seen.contains(&f) {
                        self.seen.push(f);
                    }
                }
                Err(e) => {
                    self.done.insert(pid);
                    self.last_err = Some(e);
                }
            }
        }
        Ok(())
    }

    fn why(&self) -> String {
        self.last_err.as_ref().map_or_else(String::new, |e| format!(" ({e:#})"))
    }
}

fn spawn(ready: &Ready, logs: &Path, held: &HeldSignals) -> Result<Child> {
    // The player's MangoHud settings survive; logging is ours.
    let (cmd, extra) = game_launch(&ready.user, &ready.cmd, &ready.game, &|k: &str| std::env::var(k).ok(), logs);
    let program = &cmd[0];
    held.spawn_unblocked(Command::new(program).args(&cmd[1..]).envs(extra))
        .with_context(|| format!("starting {}", program.to_string_lossy()))
}

fn run(ready: Ready, opts: &LaunchOptions, tune: &TuneOptions, held: HeldSignals) -> Result<i32> {
    let logs = LogFolder::create(&std::env::temp_dir(), &ready.user)?;
    let child = spawn(&ready, logs.path(), &held)?;
    let pid = child.id();
    held.forward_to()?;
    let mut game = Launched::new(child);
    let (left, total) = (ready.pending.len(), plan::configs(&ready.plan).len());
    match tune.measure {
        MeasureMode::Blocks => {
            eprintln!("scx_gamer: tuning {} during this launch: {left} of {total} configs left to measure", ready.game.key)
        }
        MeasureMode::Interleaved => eprintln!(
            "scx_gamer: tuning {} during this launch: a race of {total} configs, the defaults and the kernel's scheduler",
            ready.game.key
        ),
    }
    let game_id = ready.game.clone();
    let key = game_id.key.clone();
    let mut switcher = Daemon::new(ready.client, pid);
    let store_path = ready.store_path.clone();
    let tuned =
        tune_game(ready.store, ready.store_path, &ready.plan, ready.pending, logs.path(), &ready.user, pid, &mut game, &mut switcher, tune);
    // The choice over this launch's trials too, recorded for the next
    // launch (and for the rest of this one, below). No store: nothing was
    // recorded (no frames came).
    if let Err(e) = store_path.exists().then(|| choice::record(&store_path)).transpose() {
        eprintln!("scx_gamer: {e:#}");
    }
    match &tuned {
        Ok(None) => eprintln!("scx_gamer: this launch's trials are done; see scx_gamer report {key}"),
        Ok(Some(Stop::GameExited(_))) => info!("the game exited; the trials measured so far are kept"),
        Ok(Some(Stop::Interrupted)) => {}
        Err(e) => eprintln!("scx_gamer: tuning stopped: {e:#}"),
    }
    // Still playing: the rest of the session gets the best config known.
    let mut client = switcher.into_client();
    if game.exited().is_none() {
        let (config, from) = choose_config(&opts.data_dir, &game_id);
        match client.request(&Request::Apply { pid, config }) {
            Ok(Response::Ok(_)) => eprintln!("scx_gamer: {from} ({config}) for the rest of this session"),
            Ok(other) => eprintln!("scx_gamer: the scx_gamer service did not apply {config}: {other:?}"),
            Err(e) => eprintln!("scx_gamer: {e:#}"),
        }
    }
    let status = game.child.wait().context("waiting for the game")?;
    drop(client); // the daemon reverts when we hang up
    Ok(exit_code(status))
}

/// The trial loop of this launch; the store is rewritten after each trial.
#[allow(clippy::too_many_arguments)]
fn tune_game(
    store: GameStore,
    path: PathBuf,
    plan: &[Trial],
    pending: Vec<Trial>,
    logs: &Path,
    user: &GameUser,
    pid: u32,
    game: &mut Launched,
    switcher: &mut Daemon,
    tune: &TuneOptions,
) -> Result<Option<Stop>> {
    let source = frame_source(pid, logs, user, game, tune.frames_timeout())?;
    let names: HashMap<_, _> = plan.iter().map(|t| (t.config, t.name.clone())).collect();
    let started = chrono::Utc::now();
    let session_id = format!("{}-{pid}", started.format("%Y%m%dT%H%M%SZ"));
    let mut runner = Runner::new(tune, switcher, source, game, store, path, session_id, names);
    if let Some(stop) = runner.settle(tune.frames_timeout())? {
        return Ok(Some(stop));
    }
    runner.record_session(SessionMode::LaunchTune, "plan", started)?;
    match tune.measure {
        MeasureMode::Blocks => runner.run(&mut PlanSearch::new(pending)),
        MeasureMode::Interleaved => {
            runner.go_on_from_earlier_launches();
            runner.run(&mut PlanSearch::race(plan))
        }
    }
}
