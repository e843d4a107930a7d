//! The trial loop: for each block the search proposes, run its configs and
//! a baseline in random order; each trial is a fresh scheduler load, warm-up
//! frames are dropped, the measured frames and the scheduler's counters are
//! recorded, and the store is rewritten after every trial.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use log::{info, warn};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use super::frame_source::{FrameSource, Measurement};
use super::options::TuneOptions;
use super::progress::{TrialProgress, trial_line};
use super::score::p99_us;
use super::search::Search;
use super::switch::{Served, Switcher};
use crate::frames::sequence::{encode_us, ns_to_us};
use crate::frames::{FrameSeries, FrameStats};
use crate::sched::{SchedConfig, preflight};
use crate::store::{GameStore, Observed, SwitchInfo, TrialKind, TrialRecord, TrialStatus};

/// How often the loop looks at the game, the frames and the clock.
const STEP: Duration = Duration::from_millis(250);
/// Length of the probes that tell when the game has warmed up…
const PROBE: Duration = Duration::from_secs(2);
/// …and how close two probes' frame rates must be to call it steady.
const STEADY: f64 = 0.15;
/// Fewer frames than this in a probe is not "showing frames" yet.
const MIN_PROBE_FRAMES: usize = 10;
/// Longest probe. A game that shows fewer than MIN_PROBE_FRAMES even in
/// this long (under ~0.6 fps) is not showing frames: settle() gives up on it.
const MAX_PROBE: Duration = Duration::from_secs(16);

/// The next warm-up probe's length after one that saw `frames` frames: twice
/// as long while it saw some but too few to judge the rate (a game at a few
/// fps, e.g. a heavily loaded machine), so that two probes can agree before
/// the timeout instead of every probe falling short; unchanged otherwise
/// (none at all means the game is not logging yet, not that it is slow).
fn next_probe(probe: Duration, frames: usize) -> Duration {
    if frames > 0 && frames < MIN_PROBE_FRAMES { (probe * 2).min(MAX_PROBE) } else { probe }
}

/// Why a tune ended before the search was done.
#[derive(Clone, Debug, PartialEq)]
pub enum Stop {
    GameExited(String),
    Interrupted,
}

/// The game as the runner sees it: is it still there?
pub trait GameWatch {
    /// Some(reason) once the game has exited.
    fn exited(&mut self) -> Option<String>;
}

enum Item {
    Baseline,
    Config { ask: usize, name: String, config: SchedConfig },
}

/// How a wait ended.
enum Waited {
    Done,
    Stopped(Stop),
    /// The scheduler is gone; the kernel's reason.
    Ejected(String),
}

pub(crate) struct Runner<'a> {
    pub(crate) opts: &'a TuneOptions,
    pub(crate) switcher: &'a mut dyn Switcher,
    pub(crate) source: FrameSource,
    pub(crate) game: &'a mut dyn GameWatch,
    pub(crate) store: GameStore,
    pub(crate) store_path: PathBuf,
    pub(crate) session_id: String,
    /// Trial names by config (from the trial file).
    pub(crate) names: HashMap<SchedConfig, String>,
    rng: StdRng,
    /// Last baseline p99 measured (µs): the reference when a block's own
    /// baseline failed.
    last_baseline_p99: Option<f64>,
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn read_observed() -> (Option<String>, Option<String>) {
    (preflight::sched_ext_state().ok(), preflight::attached_ops())
}

/// A short name for a config the trial file does not name.
fn config_name(c: &SchedConfig) -> String {
    let name = format!("s{}-w{}-m{}-b{}", c.slice_us, c.input_window_us, c.mig_max, c.game_boost_us);
    let name = if c.game_weight == 1 { name } else { format!("{name}-g{}", c.game_weight) };
    if c.wake_preempt == 0 { name } else { format!("{name}-p") }
}

impl<'a> Runner<'a> {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        opts: &'a TuneOptions,
        switcher: &'a mut dyn Switcher,
        source: FrameSource,
        game: &'a mut dyn GameWatch,
        store: GameStore,
        store_path: PathBuf,
        session_id: String,
        names: HashMap<SchedConfig, String>,
    ) -> Self {
        Self {
            rng: StdRng::seed_from_u64(opts.seed),
            opts,
            switcher,
            source,
            game,
            store,
            store_path,
            session_id,
            names,
            last_baseline_p99: None,
        }
    }

    /// Run the search to its end (None) or until the game exits or we are
    /// interrupted (Some). The scheduler is detached on every way out.
    pub fn run(&mut self, search: &mut dyn Search) -> Result<Option<Stop>> {
        let result = self.run_blocks(search);
        if let Err(e) = self.switcher.finish() {
            warn!("detaching the last scheduler: {e:#}");
        }
        result
    }

    fn run_blocks(&mut self, search: &mut dyn Search) -> Result<Option<Stop>> {
        let mut block = 0;
        while let Some(batch) = search.next_batch() {
            block += 1;
            let budget = batch.iter().map(|a| a.budget).fold(0.0, f64::max).clamp(0.05, 1.0);
            let mut items: Vec<(Item, f64)> = batch
                .iter()
                .map(|a| {
                    let name = self.names.get(&a.config).cloned().unwrap_or_else(|| config_name(&a.config));
                    (Item::Config { ask: a.id, name, config: a.config }, a.budget.clamp(0.05, 1.0))
                })
                .collect();
            if self.opts.baseline {
                items.push((Item::Baseline, budget));
            }
            // Random order within the block: no config always runs first
            // (right after the game's warm-up) or last.
            items.shuffle(&mut self.rng);

            let mut measured: Vec<(usize, Option<f64>)> = Vec::new();
            let mut baseline_p99 = None;
            for (item, budget) in &items {
                let (record, frames_us, stop) = self.run_trial(item, block, *budget)?;
                eprintln!("{}", trial_line(&record));
                let p99 = (record.status.is_ok() && !frames_us.is_empty()).then(|| p99_us(&frames_us));
                match item {
                    Item::Baseline => baseline_p99 = p99,
                    Item::Config { ask, .. } => measured.push((*ask, p99)),
                }
                if let Some(stop) = stop {
                    return Ok(Some(stop));
                }
            }
            if baseline_p99.is_some() {
                self.last_baseline_p99 = baseline_p99;
            }
            // Scores relative to this block's baseline cancel the game's
            // drift; without any baseline, absolute p99 (µs).
            let reference = baseline_p99.or(self.last_baseline_p99);
            for (ask, p99) in measured {
                search.tell(ask, p99.map(|p| reference.map_or(p, |r| p / r)));
            }
        }
        Ok(None)
    }

    /// Wait, under the kernel's scheduler, until the game shows frames at
    /// a steady rate (two probes in a row agree). Err when it shows none
    /// within `timeout`.
    pub fn settle(&mut self, timeout: Duration) -> Result<Option<Stop>> {
        let deadline = Instant::now() + timeout;
        let mut prev_fps: Option<f64> = None;
        let mut last_err = None;
        let mut probe = PROBE;
        loop {
            self.source.begin()?;
            if let Waited::Stopped(stop) = self.wait(Instant::now() + probe, None, None)? {
                self.source.abort();
                return Ok(Some(stop));
            }
            match self.source.end() {
                Ok(m) if m.sampled == Some(true) => bail!(
                    "the game's MangoHud logs a sample per interval, not every frame: set log_interval=0 in its MANGOHUD_CONFIG"
                ),
                Ok(m) if m.frames_ns.len() >= MIN_PROBE_FRAMES => {
                    let fps = m.frames_ns.len() as f64 * 1e9 / m.frames_ns.iter().sum::<u64>() as f64;
                    info!("warm-up probe: {} frames, {fps:.1} fps", m.frames_ns.len());
                    if prev_fps.is_some_and(|p| (fps - p).abs() <= STEADY * p) {
                        return Ok(None);
                    }
                    prev_fps = Some(fps);
                }
                Ok(m) => {
                    last_err = Some(format!("{} frames in a {probe:?} probe", m.frames_ns.len()));
                    probe = next_probe(probe, m.frames_ns.len());
                }
                Err(e) => last_err = Some(format!("{e:#}")),
            }
            if Instant::now() > deadline {
                if prev_fps.is_some() {
                    warn!("the game's frame rate is not steady after {timeout:?}; starting the trials anyway");
                    return Ok(None);
                }
                bail!(
                    "no frames from the game within {timeout:?} ({}); is MangoHud logging into {}?",
                    last_err.unwrap_or_default(),
                    self.source.folder().display()
                );
            }
        }
    }

    /// Serve the scheduler until `until`, watching the game, the signals,
    /// the frames (into `progress`) and, at `mid`, what sched_ext runs.
    fn wait(&mut self, until: Instant, mut progress: Option<(&mut TrialProgress, Instant)>, mut mid: Option<(Instant, &mut Observed)>) -> Result<Waited> {
        loop {
            if let Some(reason) = self.game.exited() {
                return Ok(Waited::Stopped(Stop::GameExited(reason)));
            }
            let now = Instant::now();
            if let Some((at, obs)) = mid.as_mut()
                && now >= *at
            {
                (obs.state_mid, obs.ops_mid) = read_observed();
                mid = None;
            }
            if now >= until {
                return Ok(Waited::Done);
            }
            match self.switcher.serve(until.min(now + STEP))? {
                Served::Done => {}
                Served::Interrupted => return Ok(Waited::Stopped(Stop::Interrupted)),
                Served::Ejected(reason) => {
                    // The daemon reverts when the game exits: seen from here
                    // that is the game's exit, not an ejection.
                    if let Some(exit) = self.game.exited() {
                        return Ok(Waited::Stopped(Stop::GameExited(exit)));
                    }
                    return Ok(Waited::Ejected(reason));
                }
            }
            let live = self.source.poll_live();
            if let Some((p, started)) = progress.as_mut() {
                p.update(started.elapsed(), &live);
            }
        }
    }

    /// Put `item`'s scheduler in place. Ok(Err(reason)) fails the trial.
    fn switch(&mut self, item: &Item, sw: &mut SwitchInfo) -> Result<Result<(), String>> {
        let config = match item {
            Item::Baseline => None,
            Item::Config { config, .. } => Some(config),
        };
        self.switcher.switch(config, sw)
    }

    fn run_trial(&mut self, item: &Item, block: u32, budget: f64) -> Result<(TrialRecord, Vec<u32>, Option<Stop>)> {
        let (kind, name, config) = match item {
            Item::Baseline => (TrialKind::Baseline, "baseline".to_string(), None),
            Item::Config { name, config, .. } => (TrialKind::Config, name.clone(), Some(*config)),
        };
        let planned = self.opts.trial().mul_f64(budget);
        let mut rec = TrialRecord {
            id: self.store.next_trial_id(),
            session: self.session_id.clone(),
            block,
            kind,
            name,
            config,
            status: TrialStatus::Ok,
            started_at: now_rfc3339(),
            ended_at: String::new(),
            planned_secs: planned.as_secs_f64(),
            measured_secs: 0.0,
            warmup_secs: self.opts.warmup_secs,
            frames: FrameStats::default(),
            histogram: None,
            frame_times: None,
            bad_rows: 0,
            mangohud_log: None,
            sched: None,
            switch: SwitchInfo::default(),
            observed: Observed::default(),
        };
        info!("trial {} [{}]: {}", rec.id, rec.name, rec.config_label());
        let mut frames_us = Vec::new();
        let mut stop = None;

        if let Err(reason) = self.switch(item, &mut rec.switch)? {
            rec.status = TrialStatus::Failed(reason);
            self.save(&mut rec)?;
            return Ok((rec, frames_us, None));
        }

        let mut progress = TrialProgress::start(&format!("trial {} {}", rec.id, rec.name), planned);
        progress.set_message("warming up");
        let waited = self.wait(Instant::now() + self.opts.warmup(), None, None)?;
        let mut measuring = false;
        let waited = match waited {
            Waited::Done => match self.source.begin() {
                Err(e) => {
                    rec.status = TrialStatus::Failed(format!("starting the MangoHud log: {e:#}"));
                    None
                }
                Ok(()) => {
                    measuring = true;
                    // MangoHud ≤ 0.6.8 writes its frames only at the end.
                    progress.set_message("measuring");
                    let start = Instant::now();
                    let before = self.switcher.stats();
                    let w = self.wait(start + planned, Some((&mut progress, start)), Some((start + planned / 2, &mut rec.observed)))?;
                    rec.measured_secs = start.elapsed().as_secs_f64();
                    (rec.observed.state_end, rec.observed.ops_end) = read_observed();
                    if let (Some(before), Some(after)) = (before, self.switcher.stats()) {
                        rec.sched = Some(after.delta(&before));
                    }
                    Some(w)
                }
            },
            w => Some(w),
        };
        progress.finish();

        let measurement = match waited {
            None => None,
            Some(Waited::Done) => match self.source.end() {
                Ok(m) => Some(m),
                Err(e) => {
                    rec.status = TrialStatus::Failed(format!("no frames: {e:#}"));
                    None
                }
            },
            Some(Waited::Ejected(reason)) => {
                rec.status = TrialStatus::Failed(reason);
                if measuring { self.source.end().ok() } else { None }
            }
            Some(Waited::Stopped(Stop::GameExited(reason))) => {
                rec.status = TrialStatus::Partial(format!("the game exited: {reason}"));
                stop = Some(Stop::GameExited(reason));
                // A row-flushed log has what was played; a log written at
                // stop (MangoHud ≤ 0.6.8) died with the game.
                if measuring && self.source.kind() == "stream" { self.source.end().ok() } else { None }
            }
            Some(Waited::Stopped(Stop::Interrupted)) => {
                rec.status = TrialStatus::Interrupted;
                stop = Some(Stop::Interrupted);
                if measuring {
                    self.source.abort();
                }
                None
            }
        };
        if let Some(m) = measurement {
            frames_us = self.record_frames(&mut rec, m)?;
        }
        self.save(&mut rec)?;
        Ok((rec, frames_us, stop))
    }

    /// Fill the frame fields of `rec`; a trial without frames fails.
    fn record_frames(&self, rec: &mut TrialRecord, m: Measurement) -> Result<Vec<u32>> {
        let mut series = FrameSeries::default();
        for &f in &m.frames_ns {
            series.push(f);
        }
        rec.frames = series.stats();
        rec.histogram = Some(series.histogram().to_base64()?);
        let frames_us: Vec<u32> = m.frames_ns.iter().map(|&f| ns_to_us(f)).collect();
        rec.frame_times = Some(encode_us(&frames_us)?);
        rec.bad_rows = m.bad_rows;
        rec.mangohud_log = m.logs.first().map(|p| p.display().to_string());
        if m.sampled == Some(true) && rec.status.is_ok() {
            rec.status = TrialStatus::Failed("MangoHud logged samples, not frames (log_interval is not 0)".into());
        }
        if frames_us.is_empty() && rec.status.is_ok() {
            rec.status = TrialStatus::Failed(format!("no frames in {:.0} s", rec.measured_secs));
        }
        Ok(frames_us)
    }

    fn save(&mut self, rec: &mut TrialRecord) -> Result<()> {
        rec.ended_at = now_rfc3339();
        self.store.trials.push(rec.clone());
        self.store.save(&self.store_path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_probe_with_too_few_frames_is_followed_by_a_longer_one() {
        assert_eq!(next_probe(PROBE, 4), PROBE * 2);
        assert_eq!(next_probe(PROBE * 2, 9), PROBE * 4);
        // Capped: no probe grows past MAX_PROBE.
        assert_eq!(next_probe(MAX_PROBE, 3), MAX_PROBE);
        assert_eq!(next_probe(MAX_PROBE / 2 + Duration::from_secs(1), 3), MAX_PROBE);
        // Enough frames, or none yet (not logging): the same length.
        assert_eq!(next_probe(PROBE, MIN_PROBE_FRAMES), PROBE);
        assert_eq!(next_probe(PROBE * 4, 0), PROBE * 4);
    }
}
