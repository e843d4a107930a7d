//! The `run` and `cycle` commands: keep a scheduler attached, feed it the
//! game's processes and input activity, serve its stats.
//!
//! Everything that touches the BPF skeleton happens on this one thread; the
//! stats server and the input readers talk to it through channels.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use crossbeam::channel::{self, Receiver, Sender};
use log::{info, warn};
use scx_stats::prelude::*;

use crate::sched::{Metrics, SchedConfig, Scheduler, game, input, preflight, stats};

/// How often the game's process tree is re-read from /proc.
const GAME_SCAN_INTERVAL: Duration = Duration::from_secs(1);
/// Longest the loop sleeps before checking for shutdown or an ejection.
const TICK: Duration = Duration::from_millis(100);

/// What a running scheduler is fed and what it reports.
pub struct Feeds {
    pub game_pids: Vec<u32>,
    pub input_dir: PathBuf,
}

/// Output of periodic stats.
#[derive(Clone, Copy)]
pub struct StatsOutput {
    pub interval: Duration,
    pub json: bool,
}

/// The part of a run that outlives any one scheduler: stats server, input
/// watch, game tracking.
pub(crate) struct Session {
    feeds: Feeds,
    shutdown: Arc<AtomicBool>,
    stats_req: Receiver<()>,
    stats_res: Sender<Metrics>,
    _stats_server: StatsServer<(), Metrics>,
    input_rx: Receiver<u32>,
    _input: input::InputWatcher,
    next_scan: Instant,
}

impl Session {
    pub(crate) fn start(feeds: Feeds, shutdown: Arc<AtomicBool>) -> Result<Self> {
        for &pid in &feeds.game_pids {
            game::check_pid(pid)?;
        }
        let server = StatsServer::new(stats::server_data()).launch().context("starting the stats server")?;
        let (stats_res, stats_req) = server.channels();
        let (input_tx, input_rx) = channel::unbounded();
        let watcher = input::watch(&feeds.input_dir, input_tx)?;
        for dev in watcher.devices() {
            info!("watching input device {}", dev.display());
        }
        Ok(Self { feeds, shutdown, stats_req, stats_res, _stats_server: server, input_rx, _input: watcher, next_scan: Instant::now() })
    }

    /// Follow another game (the daemon serves one game after another).
    pub(crate) fn set_game_pids(&mut self, pids: Vec<u32>) {
        self.feeds.game_pids = pids;
        self.next_scan = Instant::now();
    }

    /// Bring `sched`'s game set in line with the game's process tree.
    pub(crate) fn sync_game(&self, sched: &Scheduler) -> Result<()> {
        if self.feeds.game_pids.is_empty() {
            return Ok(());
        }
        let procs = game::scan_processes(std::path::Path::new("/proc"))?;
        let alive: BTreeSet<u32> = procs.iter().map(|&(pid, _)| pid).collect();
        let tree = game::process_tree(&self.feeds.game_pids, &procs);
        let (add, remove) = game::plan_update(&sched.game_tgids(), &tree, &alive);
        if !add.is_empty() {
            info!("game processes added: {add:?}");
        }
        sched.update_game_tgids(&add, &remove)
    }

    /// Serve `sched` (None: the kernel's scheduler runs, nothing to feed)
    /// until shutdown, an ejection, or `until`. Returns true if it stopped
    /// because of shutdown.
    pub(crate) fn serve(&mut self, sched: Option<&Scheduler>, until: Option<Instant>) -> Result<bool> {
        loop {
            if self.shutdown.load(Ordering::Relaxed) {
                return Ok(true);
            }
            if sched.is_some_and(Scheduler::ejected) {
                return Ok(false);
            }
            let now = Instant::now();
            if until.is_some_and(|t| now >= t) {
                return Ok(false);
            }
            if now >= self.next_scan
                && let Some(sched) = sched
            {
                if let Err(e) = self.sync_game(sched) {
                    warn!("updating the game's processes: {e:#}");
                }
                self.next_scan = now + GAME_SCAN_INTERVAL;
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
                        // One BPF call for a burst of events.
                        let total = n + self.input_rx.try_iter().sum::<u32>();
                        if let Some(sched) = sched {
                            sched.signal_input(total)?;
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

/// Print stats read back through the stats socket, as a separate client
/// would (`--stats`), until `shutdown`.
pub fn spawn_stats_printer(out: StatsOutput, shutdown: Arc<AtomicBool>) {
    std::thread::spawn(move || {
        let res =
            scx_utils::monitor_stats::<Metrics>(&[], out.interval, || shutdown.load(Ordering::Relaxed), |m| print_metrics(&m, out.json));
        if let Err(e) = res {
            warn!("stats printer stopped: {e:#}");
        }
    });
}

fn print_metrics(m: &Metrics, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string(m)?);
    } else {
        m.format(&mut std::io::stdout())?;
    }
    Ok(())
}

/// Turn an ejection into an error carrying the kernel's reason.
pub(crate) fn ejection_error(sched: &Scheduler) -> anyhow::Error {
    let info = sched.exit_info();
    match info.report() {
        Err(e) => e.context("the kernel ejected scx_gamer"),
        Ok(()) => anyhow::anyhow!("the kernel unregistered scx_gamer"),
    }
}

/// `scx_gamer run`: attach one config until SIGINT/SIGTERM; returns the
/// scheduler's counters over the whole run.
pub fn run(config: &SchedConfig, feeds: Feeds, stats: Option<StatsOutput>, shutdown: Arc<AtomicBool>) -> Result<Metrics> {
    config.validate()?;
    preflight::check_all()?;
    let mut session = Session::start(feeds, shutdown.clone())?;
    let mut sched = Scheduler::load(config)?;
    session.sync_game(&sched)?;
    sched.attach()?;
    info!("scx_gamer attached ({config}), loaded in {:?}", sched.load_time());
    if let Some(out) = stats {
        spawn_stats_printer(out, shutdown.clone());
    }

    let stopped = session.serve(Some(&sched), None)?;
    let totals = sched.stats();
    if !stopped {
        return Err(ejection_error(&sched));
    }
    sched.detach()?;
    info!("scx_gamer detached");
    eprintln!("totals: {}", serde_json::to_string(&totals)?);
    Ok(totals)
}

/// One line of `cycle` output: a config's run and the switch that ended it.
#[derive(serde::Serialize)]
struct CycleRecord {
    config: String,
    load_ms: f64,
    stats: Metrics,
    next: Option<String>,
    detach_ms: Option<f64>,
    gap_ms: Option<f64>,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// `scx_gamer cycle`: run each config for `hold`, in one process. The next
/// config is loaded while the current one is attached, so each switch is
/// detach + attach. Prints one JSON object per config.
pub fn cycle(configs: &[SchedConfig], hold: Duration, feeds: Feeds, shutdown: Arc<AtomicBool>) -> Result<()> {
    if configs.is_empty() {
        bail!("cycle needs at least one --config");
    }
    for c in configs {
        c.validate()?;
    }
    preflight::check_all()?;
    let mut session = Session::start(feeds, shutdown)?;
    let mut current = Scheduler::load(&configs[0])?;
    session.sync_game(&current)?;
    current.attach()?;

    for i in 0..configs.len() {
        let started = Instant::now();
        // Preload the next config while this one runs.
        let mut next = match configs.get(i + 1) {
            Some(c) => Some(Scheduler::load(c)?),
            None => None,
        };
        if session.serve(Some(&current), Some(started + hold))? {
            bail!("interrupted");
        }
        if current.ejected() {
            return Err(ejection_error(&current));
        }
        let stats = current.stats();
        let mut record = CycleRecord {
            config: current.config().to_string(),
            load_ms: ms(current.load_time()),
            stats,
            next: None,
            detach_ms: None,
            gap_ms: None,
        };
        match next.as_mut() {
            Some(n) => {
                session.sync_game(n)?;
                let t = current.switch_to(n)?;
                record.next = Some(n.config().to_string());
                record.detach_ms = Some(ms(t.detach));
                record.gap_ms = Some(ms(t.gap));
            }
            None => {
                record.detach_ms = Some(ms(current.detach()?));
            }
        }
        println!("{}", serde_json::to_string(&record)?);
        if let Some(n) = next {
            current = n;
        }
    }
    Ok(())
}
