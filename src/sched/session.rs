//! The scheduler's runtime around one loaded config or a series of them:
//! the game's process tree (re-read from /proc and fed to BPF), the input
//! watch, the stats server, and the wait that serves them all. Used by
//! `run`/`cycle`, the tuner's in-process switcher and the daemon.
//!
//! Everything that touches the BPF skeleton happens on the serving thread;
//! the stats server and the input readers talk to it through channels.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use crossbeam::channel::{self, Receiver, Sender};
use log::{info, warn};
use scx_stats::prelude::*;

use super::{Metrics, Scheduler, game_tree, input, stats};

/// Longest the loop sleeps before checking for shutdown or an ejection
/// (stats requests and input wake it at once). Every wake-up costs: at
/// 100 ms they were a visible share of the tuner's CPU (futex waits and
/// context switches in its profile).
const TICK: Duration = Duration::from_millis(250);
/// More restarts than this within RESTART_WINDOW and the scheduler stays
/// down (a CPU that flaps, a kernel that keeps asking). Resuming a 16-CPU
/// machine takes up to 15 (one per CPU that comes back online).
const MAX_RESTARTS: usize = 40;
const RESTART_WINDOW: Duration = Duration::from_secs(60);

/// What a running scheduler is fed and what it reports.
pub struct Feeds {
    pub game_pids: Vec<u32>,
    /// The game also is every child of ours (game_tree::roots).
    pub adopted: bool,
    pub input_dir: PathBuf,
}

/// The part of a run that outlives any one scheduler: stats server, input
/// watch, game tracking.
pub struct Session {
    feeds: Feeds,
    shutdown: Arc<AtomicBool>,
    stats_req: Receiver<()>,
    stats_res: Sender<Metrics>,
    _stats_server: StatsServer<(), Metrics>,
    input_rx: Receiver<input::InputBatch>,
    /// The userspace reader of /dev/input: its events go to a scheduler
    /// that does not see input itself (no hook in this kernel, or it did
    /// not attach: `Scheduler::sees_input`).
    _input: input::InputWatcher,
    /// When the game's tree is looked up next, and how old a process
    /// table may be then (another user's read is shared; none when the
    /// game or the scheduler has just changed: a fresh read).
    next_scan: Instant,
    scan_max_age: Duration,
    /// The game's process tree at the last lookup, and when its process
    /// table was read.
    last_tree: Option<(Instant, BTreeSet<u32>)>,
    /// When the scheduler was last restarted, within RESTART_WINDOW.
    restarts: Vec<Instant>,
}

impl Session {
    pub fn start(feeds: Feeds, shutdown: Arc<AtomicBool>) -> Result<Self> {
        // (Adopted: the game's first process may have exited already, a
        // launcher that left the game to us.)
        if !feeds.adopted {
            for &pid in &feeds.game_pids {
                game_tree::check_pid(pid)?;
            }
        }
        let server = StatsServer::new(stats::server_data()).launch().context("starting the stats server")?;
        let (stats_res, stats_req) = server.channels();
        if super::preflight::input_hook_enabled() {
            info!("input: seen in the kernel (fentry on input_event, every device); {} read as the fallback", feeds.input_dir.display());
        } else {
            info!(
                "input: reading {} (no in-kernel hook: SCX_GAMER_INPUT_HOOK=0 or no input_event in the kernel's BTF)",
                feeds.input_dir.display()
            );
        }
        let (input_tx, input_rx) = channel::unbounded();
        let watcher = input::watch(&feeds.input_dir, input_tx)?;
        for dev in watcher.devices() {
            info!("watching input device {}", dev.display());
        }
        Ok(Self {
            feeds,
            shutdown,
            stats_req,
            stats_res,
            _stats_server: server,
            input_rx,
            _input: watcher,
            next_scan: Instant::now(),
            scan_max_age: Duration::ZERO,
            last_tree: None,
            restarts: Vec::new(),
        })
    }

    /// Follow another game (the daemon serves one game after another;
    /// each request names it again, the same game most of the time).
    pub fn set_game_pids(&mut self, pids: Vec<u32>) {
        if pids != self.feeds.game_pids {
            self.feeds.game_pids = pids;
            (self.next_scan, self.scan_max_age) = (Instant::now(), Duration::ZERO);
            self.last_tree = None;
        }
    }

    /// Bring `sched`'s game set in line with the game's process tree, from
    /// a process table read afresh when the game or the scheduler has just
    /// changed, else one up to RESCAN old (another reader's: what BPF added
    /// since is in the set already, and `hand_over` carries it to the next
    /// copy).
    pub fn sync_game(&mut self, sched: &Scheduler) -> Result<()> {
        if self.feeds.game_pids.is_empty() {
            return Ok(());
        }
        let table = game_tree::process_table(self.scan_max_age)?;
        let alive: BTreeSet<u32> = table.procs.iter().map(|&(pid, _)| pid).collect();
        let roots = game_tree::roots(&self.feeds.game_pids, self.feeds.adopted, &table.procs);
        let tree = game_tree::process_tree(&roots, &table.procs);
        let gone_now = |pid| crate::procfs::exited(crate::procfs::root(), pid).is_some();
        let (add, remove) = game_tree::plan_update(&sched.game_tgids(), &tree, &alive, gone_now);
        if !add.is_empty() {
            info!("game processes added: {add:?}");
        }
        self.last_tree = Some((table.read_at, tree));
        (self.next_scan, self.scan_max_age) = (table.read_at + game_tree::RESCAN, game_tree::RESCAN);
        sched.update_game_tgids(&add, &remove)
    }

    /// Before `to` takes over from `from` (None: the kernel's scheduler
    /// runs): give it the game's processes. The tree of a lookup younger
    /// than RESCAN, with what `from`'s BPF added at fork since,
    /// stands in for a scan of every process on the machine at every switch
    /// (a switch every few seconds in an interleaved tune); exited
    /// processes leave `to`'s set at its next periodic scan, as they do
    /// any scheduler's. An older tree: a full `sync_game`.
    pub fn hand_over(&mut self, from: Option<&Scheduler>, to: &Scheduler) -> Result<()> {
        let Some((at, tree)) = self.last_tree.as_ref().filter(|(at, _)| at.elapsed() < game_tree::RESCAN) else {
            return self.sync_game(to);
        };
        let mut members = tree.clone();
        members.extend(from.map(Scheduler::game_tgids).unwrap_or_default());
        let current = to.game_tgids();
        let add: Vec<u32> = members.difference(&current).copied().collect();
        log::debug!("game processes handed over from a scan {:?} old: {} added", at.elapsed(), add.len());
        to.update_game_tgids(&add, &[])
    }

    /// Bring back `sched` if the kernel ejected it asking for a restart
    /// (a CPU went offline or came online: hotplug, suspend/resume): the
    /// same config, the same game, counters reading on. True if it runs
    /// again; false leaves it ejected for the caller to report.
    fn revive(&mut self, sched: &mut Scheduler) -> bool {
        if !sched.restartable() {
            return false;
        }
        let why = format!("{:#}", ejection_error(sched));
        let now = Instant::now();
        self.restarts.retain(|&t| now.duration_since(t) < RESTART_WINDOW);
        if self.restarts.len() >= MAX_RESTARTS {
            warn!("not restarting scx_gamer: {} restarts within {RESTART_WINDOW:?} ({why})", self.restarts.len());
            return false;
        }
        self.restarts.push(now);
        match sched.restart() {
            Ok(()) => {
                // Forks while no scheduler was attached: caught now.
                (self.next_scan, self.scan_max_age) = (now, Duration::ZERO);
                info!("scx_gamer restarted ({}) after: {why}", sched.config());
                true
            }
            Err(e) => {
                warn!("restarting scx_gamer after \"{why}\": {e:#}");
                false
            }
        }
    }

    /// Serve `sched` (None: the kernel's scheduler runs, nothing to feed)
    /// until shutdown, an ejection it cannot come back from, or `until`.
    /// An ejection that asks for a restart (CPU hotplug) is served through:
    /// `sched` is replaced by a fresh copy (`Metrics::restarts` counts
    /// them). Returns true if it stopped because of shutdown.
    pub fn serve(&mut self, mut sched: Option<&mut Scheduler>, until: Option<Instant>) -> Result<bool> {
        loop {
            if self.shutdown.load(Ordering::Relaxed) {
                return Ok(true);
            }
            if let Some(s) = sched.as_deref_mut()
                && s.ejected()
                && !self.revive(s)
            {
                return Ok(false);
            }
            let sched = sched.as_deref();
            let now = Instant::now();
            if until.is_some_and(|t| now >= t) {
                return Ok(false);
            }
            if now >= self.next_scan
                && let Some(sched) = sched
                && let Err(e) = self.sync_game(sched)
            {
                warn!("updating the game's processes: {e:#}");
                self.next_scan = now + game_tree::RESCAN;
            }
            let wait = until.map_or(TICK, |t| t.saturating_duration_since(now).min(TICK));
            channel::select! {
                recv(self.stats_req) -> req => {
                    if req.is_ok() {
                        self.stats_res.send(sched.map(Scheduler::stats).unwrap_or_default())?;
                    }
                }
                recv(self.input_rx) -> n => match n {
                    Ok(n) => {
                        // One BPF call for a burst of events (which, beside
                        // the hook, only measures how early it was).
                        let burst = self.input_rx.try_iter().fold(n, input::InputBatch::merge);
                        if let Some(sched) = sched {
                            sched.signal_input(&burst)?;
                        }
                    }
                    // No device readers left (none found): stop listening,
                    // or this arm would fire on every select.
                    Err(_) => self.input_rx = channel::never(),
                },
                default(wait) => {}
            }
        }
    }
}

/// Turn an ejection into an error carrying the kernel's reason.
pub fn ejection_error(sched: &Scheduler) -> anyhow::Error {
    let info = sched.exit_info();
    match info.report() {
        Err(e) => e.context("the kernel ejected scx_gamer"),
        Ok(()) => anyhow::anyhow!("the kernel unregistered scx_gamer"),
    }
}
