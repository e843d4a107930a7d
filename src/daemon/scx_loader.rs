//! scx_loader's scheduler, paused for a game and put back after it.
//!
//! Many players run a sched_ext scheduler all the time through scx_loader
//! (CachyOS's GUI drives it). Only one sched_ext scheduler can be attached,
//! so while the daemon serves a game, scx_loader's is stopped through its
//! DBus interface (`org.scx.Loader` on the system bus) and, when the game's
//! launch ends (the game exits or crashes, the wrapper hangs up, the
//! daemon stops), started again exactly as it ran: the same scheduler
//! with the same arguments, or the same mode — once no config of ours is
//! in place: a launch that attaches while another's pause lasts takes the
//! pause over. What was stopped is written
//! to a file under /run before it is stopped, so a daemon that crashed in
//! between puts it back when systemd restarts it.
//!
//! Setting: `pause_scx_loader` in /etc/scx_gamer.toml (on by default).
//! The bus is reached through `busctl` (systemd's DBus client), so the
//! daemon carries no DBus library.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use log::{info, warn};
use serde::{Deserialize, Serialize};

use crate::sched::preflight;

/// Where a paused scheduler is remembered while the daemon runs a game.
pub const STATE_FILE: &str = "/run/scx_gamer/scx_loader-paused.json";
/// How long a stopped scheduler may take to leave the kernel.
const DETACH_WAIT: Duration = Duration::from_secs(10);
/// After a failed put-back, the first wait before trying again; doubled
/// after each failure, up to RETRY_MAX (each try may block the daemon's
/// loop for busctl's timeout).
const RETRY_FIRST: Duration = Duration::from_secs(5);
const RETRY_MAX: Duration = Duration::from_secs(600);

/// What scx_loader ran: enough to start it again as it was.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoaderRun {
    /// e.g. "scx_bpfland".
    pub scheduler: String,
    /// scx_loader's `SchedMode` (0 auto, 1 gaming, 2 powersave, 3 low
    /// latency, 4 server); used when `args` is empty.
    pub mode: u32,
    /// The arguments it was started with; empty when started by mode.
    pub args: Vec<String>,
}

impl std::fmt::Display for LoaderRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.args.is_empty() {
            write!(f, "{} (mode {})", self.scheduler, self.mode)
        } else {
            write!(f, "{} {}", self.scheduler, self.args.join(" "))
        }
    }
}

/// scx_loader as seen over the system bus.
pub trait LoaderBus {
    /// The scheduler scx_loader runs now; None when it runs none or is not
    /// installed.
    fn running(&mut self) -> Result<Option<LoaderRun>>;
    fn stop(&mut self) -> Result<()>;
    /// Start `run` as it was (by arguments, else by mode).
    fn start(&mut self, run: &LoaderRun) -> Result<()>;
}

/// The system bus through `busctl`.
pub struct Busctl {
    /// "busctl"; a stand-in in the tests.
    program: String,
}

const DEST: [&str; 3] = ["org.scx.Loader", "/org/scx/Loader", "org.scx.Loader"];

/// `program` (busctl) on the system bus; None when there is no such program
/// to run (no systemd: no scx_loader to ask either).
fn run_busctl(program: &str, args: &[&str]) -> Result<Option<std::process::Output>> {
    let out = Command::new(program)
        .args(["--system", "--timeout=10", "--json=short", "--"])
        // After "--": a scheduler argument such as "--slice-us" is not
        // taken for busctl's own option.
        .args(args)
        .output();
    match out {
        Ok(out) => Ok(Some(out)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("running {program} (systemd) to reach scx_loader")),
    }
}

/// busctl's stderr when nobody provides org.scx.Loader: scx_loader is not
/// installed (or not running and not activatable).
fn not_there(stderr: &str) -> bool {
    ["was not provided by any .service", "not found", "ServiceUnknown", "NameHasNoOwner", "does not exist"]
        .iter()
        .any(|m| stderr.contains(m))
}

/// A property's value from `busctl --json=short get-property`.
fn parse_property(json: &str) -> Result<serde_json::Value> {
    let v: serde_json::Value = serde_json::from_str(json.trim()).with_context(|| format!("busctl printed no JSON: {json:?}"))?;
    v.get("data").cloned().with_context(|| format!("busctl's answer has no \"data\": {json}"))
}

impl Busctl {
    pub fn system() -> Self {
        Self { program: "busctl".into() }
    }

    fn busctl(&self, args: &[&str]) -> Result<Option<std::process::Output>> {
        run_busctl(&self.program, args)
    }

    fn property(&self, name: &str) -> Result<Option<serde_json::Value>> {
        let Some(out) = self.busctl(&["get-property", DEST[0], DEST[1], DEST[2], name])? else { return Ok(None) };
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            if not_there(&stderr) {
                return Ok(None);
            }
            bail!("reading scx_loader's {name}: {}", stderr.trim());
        }
        parse_property(&String::from_utf8_lossy(&out.stdout)).map(Some)
    }

    fn call(&self, args: &[&str]) -> Result<()> {
        let mut all = vec!["call", DEST[0], DEST[1], DEST[2]];
        all.extend_from_slice(args);
        let out = self.busctl(&all)?.context("busctl (systemd) is not installed: scx_loader cannot be reached")?;
        if !out.status.success() {
            bail!("scx_loader's {}: {}", args[0], String::from_utf8_lossy(&out.stderr).trim());
        }
        Ok(())
    }
}

impl LoaderBus for Busctl {
    fn running(&mut self) -> Result<Option<LoaderRun>> {
        let Some(name) = self.property("CurrentScheduler")? else { return Ok(None) };
        let scheduler = name.as_str().context("scx_loader's CurrentScheduler is not a string")?.to_string();
        // "unknown": scx_loader runs no scheduler.
        if scheduler == "unknown" || scheduler.is_empty() {
            return Ok(None);
        }
        let mode = self.property("SchedulerMode")?.and_then(|m| m.as_u64()).unwrap_or(0) as u32;
        // scx_loader before 1.0.15 has no CurrentSchedulerArgs (busctl:
        // "Unknown property"); refusing every apply while such a version
        // runs a scheduler would leave the daemon useless. What it started
        // it started by mode, which is then how it comes back.
        let args = match self.property("CurrentSchedulerArgs") {
            Ok(Some(serde_json::Value::Array(a))) => a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect(),
            Ok(_) => Vec::new(),
            Err(e) => {
                info!("{e:#}: taking {scheduler} as started by mode (an scx_loader older than 1.0.15)");
                Vec::new()
            }
        };
        Ok(Some(LoaderRun { scheduler, mode, args }))
    }

    fn stop(&mut self) -> Result<()> {
        self.call(&["StopScheduler"])
    }

    fn start(&mut self, run: &LoaderRun) -> Result<()> {
        if run.args.is_empty() {
            let mode = run.mode.to_string();
            self.call(&["SwitchScheduler", "su", &run.scheduler, &mode])
        } else {
            let n = run.args.len().to_string();
            let mut a = vec!["SwitchSchedulerWithArgs", "sas", &run.scheduler, &n];
            a.extend(run.args.iter().map(String::as_str));
            self.call(&a)
        }
    }
}

/// The daemon's side: pause scx_loader's scheduler for a game, put it
/// back after.
pub struct Pauser<B: LoaderBus> {
    bus: B,
    state_file: PathBuf,
    /// What is paused, and the connection it is held for (None: for none
    /// any more, to be put back). The pause belongs to our scheduler being
    /// in place, not to the connection that happened to stop scx_loader's:
    /// another connection that attaches meanwhile takes it over
    /// (`attached_for`). Tied to the first connection, its hang-up started
    /// scx_loader's under another connection's attached config: the start
    /// failed and the player's scheduler was lost.
    paused: Option<(Option<u64>, LoaderRun)>,
    /// Whether sched_ext is free again after a stop, and how long to wait
    /// for it.
    is_free: fn() -> bool,
    detach_wait: Duration,
    /// When to put it back (its holder is gone), and after a failed start
    /// the wait before the next try.
    retry_at: Option<Instant>,
    retry_wait: Duration,
    /// Put-backs failed in a row.
    failures: u32,
}

fn sched_ext_free() -> bool {
    preflight::attached_ops().is_none()
}

impl Pauser<Busctl> {
    pub fn system() -> Self {
        Self::new(Busctl::system(), Path::new(STATE_FILE), sched_ext_free)
    }
}

impl<B: LoaderBus> Pauser<B> {
    pub fn new(bus: B, state_file: &Path, is_free: fn() -> bool) -> Self {
        Self {
            bus,
            state_file: state_file.to_path_buf(),
            paused: None,
            is_free,
            detach_wait: DETACH_WAIT,
            retry_at: None,
            retry_wait: RETRY_FIRST,
            failures: 0,
        }
    }

    /// Another scheduler is attached and `conn` wants ours: if it is
    /// scx_loader's, stop it (remembered first) and wait for the kernel
    /// to let it go. Ok(None): not scx_loader's, nothing done.
    pub fn pause_for(&mut self, conn: u64) -> Result<Option<LoaderRun>> {
        let Some(run) = self.bus.running()? else { return Ok(None) };
        self.remember(&run)?;
        self.bus.stop().inspect_err(|_| self.forget())?;
        let start = Instant::now();
        while !(self.is_free)() {
            if start.elapsed() > self.detach_wait {
                // Still attached: put it back as it was rather than leave
                // the player with nothing they asked for.
                let _ = self.bus.start(&run);
                self.forget();
                bail!("scx_loader stopped {run}, but sched_ext was still in use after {:.1} s", self.detach_wait.as_secs_f64());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        info!("paused scx_loader's {run} for the game");
        self.paused = Some((Some(conn), run.clone()));
        Ok(Some(run))
    }

    /// A config of ours is attached for `conn`: a pause in force is now
    /// held for it (whoever stopped scx_loader's, or none left).
    pub fn attached_for(&mut self, conn: u64) {
        if let Some((holder, _)) = self.paused.as_mut() {
            *holder = Some(conn);
        }
    }

    /// `conn` closed, or its apply failed (the player's own scheduler back
    /// rather than none): a pause held for it is held for none, and put
    /// back at the next `tick` with nothing of ours in place. Not while
    /// `conn` merely reverted: `launch --tune`'s kernel turn is the
    /// kernel's scheduler, and its next apply follows.
    pub fn closed(&mut self, conn: u64) {
        if let Some((holder, _)) = self.paused.as_mut()
            && *holder == Some(conn)
        {
            *holder = None;
            self.retry_at = Some(Instant::now());
        }
    }

    /// Put back whatever is paused (the daemon stops). Forgotten only once
    /// scx_loader has started it: a failed start (scx_loader busy, a busctl
    /// timeout) leaves it paused, with its state file, for `tick` or the
    /// next daemon's `recover` — forgetting it left the player without
    /// their scheduler, and nothing tried again.
    pub fn put_back(&mut self) {
        let Some((_, run)) = self.paused.take() else { return };
        match self.bus.start(&run) {
            Ok(()) => {
                info!("put scx_loader's {run} back");
                self.forget();
                self.retry_at = None;
                self.retry_wait = RETRY_FIRST;
                self.failures = 0;
            }
            Err(e) => {
                warn!(
                    "putting scx_loader's {run} back: {e:#}; kept in {}, to try again in {} s (or when the daemon next starts)",
                    self.state_file.display(),
                    self.retry_wait.as_secs()
                );
                self.paused = Some((None, run));
                self.retry_at = Some(Instant::now() + self.retry_wait);
                self.retry_wait = (self.retry_wait * 2).min(RETRY_MAX);
                self.failures += 1;
            }
        }
    }

    /// Each tick of the daemon: put back a pause held for no connection,
    /// once due (at once after `closed`; after a failed start, when its
    /// wait is over), unless a config of ours is in place (`ours_in_place`:
    /// attached, or a connection owns the scheduler) — or, on a retry,
    /// scx_loader runs something again (started by the player meanwhile:
    /// theirs stays).
    pub fn tick(&mut self, ours_in_place: bool) {
        let due = self.retry_at.is_some_and(|at| Instant::now() >= at);
        if !due || ours_in_place || !matches!(self.paused, Some((None, _))) {
            return;
        }
        if self.failures > 0
            && let Ok(Some(now)) = self.bus.running()
        {
            info!("scx_loader runs {now} again: not putting back what was paused");
            self.paused = None;
            self.retry_at = None;
            self.retry_wait = RETRY_FIRST;
            self.failures = 0;
            self.forget();
            return;
        }
        self.put_back();
    }

    /// At the daemon's start: a scheduler paused by a daemon that did not
    /// live to put it back is put back now.
    pub fn recover(&mut self) {
        let text = match std::fs::read_to_string(&self.state_file) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
            Err(e) => return warn!("reading {}: {e}", self.state_file.display()),
        };
        match serde_json::from_str::<LoaderRun>(&text) {
            Ok(run) => {
                info!("scx_loader's {run} was paused by a daemon that stopped without putting it back");
                self.paused = Some((None, run));
                self.put_back();
            }
            Err(e) => {
                warn!("{}: not a paused scheduler ({e}); removed", self.state_file.display());
                self.forget();
            }
        }
    }

    fn remember(&self, run: &LoaderRun) -> Result<()> {
        if let Some(dir) = self.state_file.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let tmp = self.state_file.with_extension("tmp");
        std::fs::write(&tmp, serde_json::to_vec(run)?)
            .and_then(|()| std::fs::rename(&tmp, &self.state_file))
            .with_context(|| format!("writing {}", self.state_file.display()))
    }

    fn forget(&self) {
        if let Err(e) = std::fs::remove_file(&self.state_file)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            warn!("removing {}: {e}", self.state_file.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::rc::Rc;

    /// scx_loader as a fake: what runs, and every call made.
    #[derive(Clone, Default)]
    struct FakeLoader {
        running: Rc<RefCell<Option<LoaderRun>>>,
        calls: Rc<RefCell<Vec<String>>>,
        fail_stop: bool,
        /// How many starts fail from now on (scx_loader busy, a busctl
        /// timeout).
        fail_starts: Rc<RefCell<u32>>,
    }

    impl LoaderBus for FakeLoader {
        fn running(&mut self) -> Result<Option<LoaderRun>> {
            Ok(self.running.borrow().clone())
        }
        fn stop(&mut self) -> Result<()> {
            self.calls.borrow_mut().push("stop".into());
            if self.fail_stop {
                bail!("Not authorized");
            }
            *self.running.borrow_mut() = None;
            Ok(())
        }
        fn start(&mut self, run: &LoaderRun) -> Result<()> {
            self.calls.borrow_mut().push(format!("start {run}"));
            if *self.fail_starts.borrow() > 0 {
                *self.fail_starts.borrow_mut() -= 1;
                bail!("Connection timed out");
            }
            *self.running.borrow_mut() = Some(run.clone());
            Ok(())
        }
    }

    fn free() -> bool {
        true
    }

    fn bpfland(args: &[&str]) -> LoaderRun {
        LoaderRun { scheduler: "scx_bpfland".into(), mode: 1, args: args.iter().map(|a| a.to_string()).collect() }
    }

    #[test]
    fn a_paused_scheduler_comes_back_as_it_was_when_its_game_connection_closes() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("paused.json");
        let bus = FakeLoader::default();
        *bus.running.borrow_mut() = Some(bpfland(&["-s", "5000"]));
        let mut p = Pauser::new(bus.clone(), &state, free);
        assert_eq!(p.pause_for(7).unwrap(), Some(bpfland(&["-s", "5000"])));
        assert_eq!(*bus.running.borrow(), None);
        // Remembered on disk while paused.
        assert_eq!(serde_json::from_str::<LoaderRun>(&std::fs::read_to_string(&state).unwrap()).unwrap(), bpfland(&["-s", "5000"]));
        p.closed(8); // someone else's connection: nothing
        assert_eq!(*bus.running.borrow(), None);
        p.closed(7);
        p.tick(false);
        assert_eq!(*bus.running.borrow(), Some(bpfland(&["-s", "5000"])));
        assert_eq!(*bus.calls.borrow(), ["stop", "start scx_bpfland -s 5000"]);
        assert!(!state.exists());
    }

    #[test]
    fn the_pause_lasts_while_a_config_of_ours_is_in_place_whichever_connection_holds_it() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("paused.json");
        let bus = FakeLoader::default();
        *bus.running.borrow_mut() = Some(bpfland(&[]));
        let mut p = Pauser::new(bus.clone(), &state, free);
        // A (launch --tune) pauses it, then reverts for the kernel's turn
        // and stays connected: still paused (the kernel's turn is the
        // kernel's scheduler, not scx_loader's).
        p.pause_for(1).unwrap();
        p.tick(false);
        assert_eq!(*bus.running.borrow(), None);
        // B applies meanwhile (nothing foreign attached: no pause of its
        // own) and A hangs up: B's config is in place, nothing starts.
        p.attached_for(2);
        p.closed(1);
        p.tick(true);
        assert_eq!(*bus.running.borrow(), None, "started under B's attached config");
        // B's game exits (reverted) while B stays: still B's.
        p.tick(false);
        assert_eq!(*bus.running.borrow(), None);
        // B hangs up, nothing of ours attached: back.
        p.closed(2);
        p.tick(false);
        assert_eq!(*bus.running.borrow(), Some(bpfland(&[])));
        assert_eq!(*bus.calls.borrow(), ["stop", "start scx_bpfland (mode 1)"]);
        assert!(!state.exists());
    }

    #[test]
    fn a_scheduler_that_failed_to_start_again_is_still_remembered() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("paused.json");
        let bus = FakeLoader::default();
        *bus.running.borrow_mut() = Some(bpfland(&["-s", "5000"]));
        let mut p = Pauser::new(bus.clone(), &state, free);
        p.pause_for(7).unwrap();
        *bus.fail_starts.borrow_mut() = 1;
        p.closed(7);
        p.tick(false);
        assert_eq!(*bus.running.borrow(), None);
        // Not started: still on disk, for a retry or the next daemon.
        assert!(state.exists(), "the paused scheduler was forgotten although it did not start");
        // Tried again once its wait is over, not while ours is attached.
        p.tick(false);
        assert_eq!(bus.calls.borrow().len(), 2, "too early: {:?}", bus.calls.borrow());
        p.retry_at = Some(Instant::now());
        p.tick(true);
        assert_eq!(bus.calls.borrow().len(), 2, "ours is attached: {:?}", bus.calls.borrow());
        p.tick(false);
        assert_eq!(*bus.running.borrow(), Some(bpfland(&["-s", "5000"])));
        assert!(!state.exists());
        p.retry_at = Some(Instant::now());
        p.tick(false);
        assert_eq!(bus.calls.borrow().len(), 3, "nothing left to retry: {:?}", bus.calls.borrow());

        // The daemon stops while the start fails: the next one's recover
        // starts it.
        let mut p = Pauser::new(bus.clone(), &state, free);
        p.pause_for(1).unwrap();
        *bus.fail_starts.borrow_mut() = 1;
        p.put_back();
        drop(p);
        assert!(state.exists());
        Pauser::new(bus.clone(), &state, free).recover();
        assert_eq!(*bus.running.borrow(), Some(bpfland(&["-s", "5000"])));
        assert!(!state.exists());

        // The player started a scheduler meanwhile: theirs stays.
        let mut p = Pauser::new(bus.clone(), &state, free);
        p.pause_for(2).unwrap();
        *bus.fail_starts.borrow_mut() = 1;
        p.closed(2);
        p.tick(false);
        *bus.running.borrow_mut() = Some(bpfland(&[]));
        p.retry_at = Some(Instant::now());
        let starts = bus.calls.borrow().iter().filter(|c| c.starts_with("start")).count();
        p.tick(false);
        assert_eq!(bus.calls.borrow().iter().filter(|c| c.starts_with("start")).count(), starts);
        assert_eq!(*bus.running.borrow(), Some(bpfland(&[])));
        assert!(!state.exists());
    }

    #[test]
    fn a_daemon_that_crashed_while_paused_puts_it_back_when_restarted() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("paused.json");
        let bus = FakeLoader::default();
        *bus.running.borrow_mut() = Some(bpfland(&[]));
        let mut first = Pauser::new(bus.clone(), &state, free);
        first.pause_for(1).unwrap();
        drop(first); // killed: no put_back
        assert_eq!(*bus.running.borrow(), None);
        Pauser::new(bus.clone(), &state, free).recover();
        // Started by mode, as it was.
        assert_eq!(*bus.running.borrow(), Some(bpfland(&[])));
        assert_eq!(bus.calls.borrow().last().unwrap(), "start scx_bpfland (mode 1)");
        assert!(!state.exists());
        // A broken state file is named and removed, nothing started.
        std::fs::write(&state, "{").unwrap();
        Pauser::new(bus.clone(), &state, free).recover();
        assert!(!state.exists());
        assert_eq!(bus.calls.borrow().len(), 2, "nothing started for a broken file");
    }

    #[test]
    fn nothing_is_touched_when_scx_loader_runs_nothing_or_refuses() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("paused.json");
        let bus = FakeLoader::default();
        let mut p = Pauser::new(bus.clone(), &state, free);
        assert_eq!(p.pause_for(1).unwrap(), None);
        p.put_back();
        assert!(bus.calls.borrow().is_empty());
        let refusing = FakeLoader { fail_stop: true, ..FakeLoader::default() };
        *refusing.running.borrow_mut() = Some(bpfland(&[]));
        let mut p = Pauser::new(refusing.clone(), &state, free);
        let err = p.pause_for(1).unwrap_err().to_string();
        assert!(err.contains("Not authorized"), "{err}");
        assert!(!state.exists(), "a refused stop leaves nothing to put back");
        assert_eq!(*refusing.running.borrow(), Some(bpfland(&[])));
    }

    #[test]
    fn a_scheduler_that_does_not_leave_the_kernel_is_started_again_and_named() {
        fn never() -> bool {
            false
        }
        let dir = tempfile::tempdir().unwrap();
        let bus = FakeLoader::default();
        *bus.running.borrow_mut() = Some(bpfland(&[]));
        let mut p = Pauser::new(bus.clone(), &dir.path().join("p.json"), never);
        p.detach_wait = Duration::from_millis(200);
        let err = p.pause_for(1).unwrap_err().to_string();
        assert!(err.contains("scx_bpfland (mode 1)") && err.contains("still in use"), "{err}");
        assert_eq!(*bus.running.borrow(), Some(bpfland(&[])));
    }

    #[test]
    fn without_busctl_there_is_no_scx_loader_to_ask() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("busctl");
        assert!(run_busctl(missing.to_str().unwrap(), &["status"]).unwrap().is_none());
        // A program that is there runs, whatever it answers.
        assert!(run_busctl("true", &["status"]).unwrap().is_some_and(|o| o.status.success()));
        // One that cannot run for another reason is an error that says so.
        let err = run_busctl(dir.path().to_str().unwrap(), &[]).unwrap_err();
        assert!(format!("{err:#}").contains("to reach scx_loader"), "{err:#}");
    }

    #[test]
    fn an_scx_loader_without_current_scheduler_args_runs_by_mode() {
        // scx_loader before 1.0.15 has no CurrentSchedulerArgs property:
        // busctl fails reading it. Its scheduler was started by mode.
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("busctl");
        let script = r#"#!/bin/sh
for last; do :; done
case "$last" in
CurrentScheduler) echo '{"type":"s","data":"scx_bpfland"}' ;;
SchedulerMode) echo '{"type":"u","data":1}' ;;
*) echo "Failed to get property $last on interface org.scx.Loader: Unknown property" >&2; exit 1 ;;
esac
"#;
        std::fs::write(&fake, script).unwrap();
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut bus = Busctl { program: fake.to_str().unwrap().into() };
        assert_eq!(bus.running().unwrap(), Some(bpfland(&[])));
    }

    #[test]
    fn busctl_answers_are_read_and_a_missing_loader_is_recognised() {
        assert_eq!(parse_property(r#"{"type":"s","data":"scx_lavd"}"#).unwrap(), serde_json::json!("scx_lavd"));
        assert_eq!(parse_property(r#"{"type":"as","data":["-s","5000"]}"#).unwrap(), serde_json::json!(["-s", "5000"]));
        assert!(parse_property("Failed to get property").unwrap_err().to_string().contains("no JSON"));
        assert!(not_there("Call failed: The name org.scx.Loader was not provided by any .service files"));
        assert!(!not_there("Call failed: Access denied"));
    }
}
