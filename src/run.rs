//! The `run` and `cycle` commands: keep a scheduler attached (one config,
//! or each in turn) in a `sched::session::Session`, and print its stats.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use log::{info, warn};

use crate::sched::pool::Pool;
use crate::sched::session::{Feeds, Session, ejection_error};
use crate::sched::{Metrics, SchedConfig, Scheduler, preflight};

/// Output of periodic stats.
#[derive(Clone, Copy)]
pub struct StatsOutput {
    pub interval: Duration,
    pub json: bool,
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

    let stopped = session.serve(Some(&mut sched), None)?;
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
    /// None: attached again from the pool, no load.
    load_ms: Option<f64>,
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
/// detach + attach; a config that comes again is attached again from the
/// pool, not loaded. Prints one JSON object per config.
pub fn cycle(configs: &[SchedConfig], hold: Duration, feeds: Feeds, shutdown: Arc<AtomicBool>) -> Result<()> {
    if configs.is_empty() {
        bail!("cycle needs at least one --config");
    }
    for c in configs {
        c.validate()?;
    }
    preflight::check_all()?;
    let mut session = Session::start(feeds, shutdown)?;
    let mut pool = Pool::default();
    let mut current = pool.take(&configs[0])?;
    session.sync_game(&current.scheduler)?;
    current.scheduler.attach()?;

    for i in 0..configs.len() {
        let started = Instant::now();
        let at_attach = current.scheduler.stats();
        // Preload the next config while this one runs.
        let mut next = match configs.get(i + 1) {
            Some(c) => Some(pool.take(c)?),
            None => None,
        };
        if session.serve(Some(&mut current.scheduler), Some(started + hold))? {
            bail!("interrupted");
        }
        if current.scheduler.ejected() {
            return Err(ejection_error(&current.scheduler));
        }
        let mut record = CycleRecord {
            config: current.scheduler.config().to_string(),
            load_ms: current.loaded.then(|| ms(current.scheduler.load_time())),
            stats: current.scheduler.stats().delta(&at_attach),
            next: None,
            detach_ms: None,
            gap_ms: None,
        };
        match next.as_mut() {
            Some(n) => {
                session.hand_over(Some(&current.scheduler), &n.scheduler)?;
                let t = current.scheduler.switch_to(&mut n.scheduler)?;
                // A kept copy loaded afresh: its line tells of that load.
                n.loaded |= t.loaded_afresh;
                record.next = Some(n.scheduler.config().to_string());
                record.detach_ms = Some(ms(t.detach));
                record.gap_ms = Some(ms(t.gap));
            }
            None => {
                record.detach_ms = Some(ms(current.scheduler.detach()?));
            }
        }
        println!("{}", serde_json::to_string(&record)?);
        if let Some(n) = next {
            pool.put(std::mem::replace(&mut current, n).scheduler);
        }
    }
    Ok(())
}
