//! The trial loop: for each batch the search proposes, run its configs and
//! a baseline in random order; each trial is a fresh scheduler load, warm-up
//! frames are dropped, the measured frames and the scheduler's counters are
//! recorded, and the store is rewritten after every trial.
//!
//! Two schedules (`MeasureMode`): a batch is one block of long trials, or
//! an interleaved race of rounds of short segments (`race`), each round a
//! block of its own.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use log::{debug, info, warn};
use nix::sys::resource::{UsageWho, getrusage};
use nix::sys::time::TimeVal;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use super::frame_source::{Frames, Measurement};
use super::options::TuneOptions;
use super::plan::replay_rounds;
use super::progress::{TrialProgress, trial_line};
use super::race::{DROP_LEVEL, Lane, Race, Rounds, lineup, max_rounds};
use super::search::{Search, longest_budget};
use super::start::system_info;
use super::switch::{ServeEnd, Switcher};
use crate::frames::sequence::{encode_us, ns_to_us};
use crate::frames::{FrameSeries, FrameStats};
use crate::sched::config::KNOBS;
use crate::sched::{SchedConfig, preflight};
use crate::store::{
    CpuUse, GameStore, MeasureMode, Observed, SessionInfo, SessionMode, StoreWriter, SwitchInfo, TrialKind, TrialRecord, TrialStatus,
};
use crate::verdict::score::p99_us;

/// Most times a trial is measured again because the scheduler restarted
/// during its measurement (CPU hotplug, suspend/resume).
const MAX_REMEASURES: u32 = 2;
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

/// An interleaved segment of a game whose frame rate is known: about this
/// many frames (a p99 over 300 frames is its 3rd-highest frame time; fewer
/// make a round's p99 mostly noise)…
const SEGMENT_FRAMES: f64 = 300.0;
/// …but no shorter than this (a switch, its guard and the log's start and
/// stop cost about a second), nor longer than this (scenes must not change
/// within a round more than between rounds).
const MIN_SEGMENT: Duration = Duration::from_secs(3);
const MAX_SEGMENT: Duration = Duration::from_secs(20);

/// An interleaved segment's length: `--segment-secs`, else about
/// SEGMENT_FRAMES frames at the frame rate the warm-up saw.
fn segment_for(opts: &TuneOptions, fps: Option<f64>) -> Duration {
    if let Some(s) = opts.segment_secs {
        return Duration::from_secs_f64(s);
    }
    match fps {
        Some(fps) if fps > 0.0 => Duration::from_secs_f64(SEGMENT_FRAMES / fps).clamp(MIN_SEGMENT, MAX_SEGMENT),
        _ => MIN_SEGMENT * 2,
    }
}

/// The longest stretch one trial measures: a block trial, or an
/// interleaved segment (`--segment-secs`, else at most MAX_SEGMENT).
pub(crate) fn longest_measurement(opts: &TuneOptions) -> Duration {
    match opts.measure {
        MeasureMode::Blocks => opts.trial(),
        MeasureMode::Interleaved => opts.segment_secs.map_or(MAX_SEGMENT, Duration::from_secs_f64),
    }
}

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
    /// CPU time (s) the game's processes have used so far (None: unknown).
    fn cpu_secs(&mut self) -> Option<f64>;
}

/// CPU time (s) this process has used so far, every thread (a system
/// call, no /proc file to open and parse twice a segment).
fn own_cpu_secs() -> Option<f64> {
    let usage = getrusage(UsageWho::RUSAGE_SELF).ok()?;
    let secs = |t: TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
    Some(secs(usage.user_time()) + secs(usage.system_time()))
}

enum TrialItem {
    Baseline,
    /// `ask`: the search's id for it; None for the defaults the runner adds
    /// to a block that lacks them (see `run_blocks`).
    Config {
        ask: Option<usize>,
        name: String,
        config: SchedConfig,
    },
}

impl TrialItem {
    /// What it runs: a config, or None for the kernel's scheduler.
    fn key(&self) -> Option<SchedConfig> {
        match self {
            TrialItem::Baseline => None,
            TrialItem::Config { config, .. } => Some(*config),
        }
    }

    fn name(&self) -> &str {
        match self {
            TrialItem::Baseline => "baseline",
            TrialItem::Config { name, .. } => name,
        }
    }
}

/// How a wait ended.
enum WaitEnd {
    Done,
    Stopped(Stop),
    /// The scheduler is gone; the kernel's reason.
    Ejected(String),
}

pub(crate) struct Runner<'a> {
    opts: &'a TuneOptions,
    switcher: &'a mut dyn Switcher,
    source: Box<dyn Frames>,
    game: &'a mut dyn GameWatch,
    store: GameStore,
    /// Writes `store`: whole at the session's start and end, each trial
    /// appended to its journal in between.
    writer: StoreWriter,
    session_id: String,
    /// Trial names by config (from the trial file).
    names: HashMap<SchedConfig, String>,
    rng: StdRng,
    /// Play without a usable frame since the last trial that had frames:
    /// at `--frames-timeout` the tune stops (the game stopped rendering).
    frameless: Duration,
    /// The frame rate the warm-up settled at (`settle`).
    settled_fps: Option<f64>,
    /// Blocks (rounds) run so far in this session.
    block: u32,
    /// Interleaved: races go on from the rounds of earlier sessions of the
    /// same mode in the store (`launch --tune`: one race over many launches).
    earlier_rounds: bool,
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn read_observed() -> (Option<String>, Option<String>) {
    (preflight::sched_ext_state().ok(), preflight::attached_ops())
}

/// A short name for a config the trial file does not name: the knobs that
/// differ from the defaults, each as its initials and value (`s500-mm1`:
/// slice_us 500, mig_max 1).
fn config_name(c: &SchedConfig) -> String {
    let d = SchedConfig::default();
    let parts: Vec<String> = KNOBS
        .iter()
        .zip(c.values().into_iter().zip(d.values()))
        .filter(|(_, (v, dv))| v != dv)
        .map(|(k, (v, _))| {
            let words: Vec<&str> = k.name.split('_').filter(|w| !matches!(*w, "us" | "ms")).collect();
            format!("{}{v}", words.iter().filter_map(|w| w.chars().next()).collect::<String>())
        })
        .collect();
    if parts.is_empty() { "defaults".into() } else { parts.join("-") }
}

impl<'a> Runner<'a> {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        opts: &'a TuneOptions,
        switcher: &'a mut dyn Switcher,
        source: Box<dyn Frames>,
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
            writer: StoreWriter::new(store_path),
            session_id,
            names,
            frameless: Duration::ZERO,
            settled_fps: None,
            block: 0,
            earlier_rounds: false,
        }
    }

    /// Interleaved: start each race from the rounds earlier `launch --tune`
    /// sessions measured (`plan::replay_rounds`), so that it goes on across
    /// launches.
    pub(super) fn go_on_from_earlier_launches(&mut self) {
        self.earlier_rounds = true;
    }

    /// Add this session to the store and save it, before the first trial
    /// (`tune`, `attach` and `launch --tune` alike).
    pub(super) fn record_session(&mut self, mode: SessionMode, search: &str, started: chrono::DateTime<chrono::Utc>) -> Result<()> {
        let opts = self.opts;
        let (trial_secs, warmup_secs) = match opts.measure {
            MeasureMode::Blocks => (opts.trial_secs, opts.warmup_secs),
            MeasureMode::Interleaved => (self.segment().as_secs_f64(), opts.guard_secs),
        };
        self.store.sessions.push(SessionInfo {
            id: self.session_id.clone(),
            mode,
            started_at: started.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            scx_gamer_version: env!("CARGO_PKG_VERSION").to_string(),
            system: system_info(self.source.mangohud_version()),
            trials_file: Some(opts.trials_file.display().to_string()),
            search: Some(search.to_string()),
            seed: Some(opts.seed),
            trial_secs,
            warmup_secs,
            frame_source: self.source.kind().as_str().to_string(),
            measure: Some(opts.measure),
        });
        self.writer.save(&self.store)?;
        info!("recording into {}", self.writer.path().display());
        Ok(())
    }

    /// Run the search to its end (None) or until the game exits or we are
    /// interrupted (Some). The scheduler is detached on every way out.
    pub fn run(&mut self, search: &mut dyn Search) -> Result<Option<Stop>> {
        let result = match self.opts.measure {
            MeasureMode::Blocks => self.run_blocks(search),
            MeasureMode::Interleaved => self.run_races(search),
        };
        if let Err(e) = self.switcher.finish() {
            warn!("detaching the last scheduler: {e:#}");
        }
        if let Some(profile) = super::progress::tuner_cpu_by_thread() {
            info!("{profile}");
        }
        // The store file alone holds every trial once the tune is over.
        match (result, self.writer.finish(&self.store)) {
            (Ok(_), Err(e)) => Err(e),
            (Err(e), Err(f)) => {
                warn!("writing the store whole: {f:#}");
                Err(e)
            }
            (result, Ok(())) => result,
        }
    }

    /// A batch's trials, each with its budget (share of a full trial): its
    /// configs, the defaults when it is a full look without them, the
    /// kernel's scheduler (`race::lineup`).
    fn batch_items(&self, batch: &[super::search::Ask]) -> Vec<(TrialItem, f64)> {
        let budget = longest_budget(batch).clamp(0.05, 1.0);
        let name = |c: &SchedConfig| self.names.get(c).cloned().unwrap_or_else(|| config_name(c));
        let configs: Vec<SchedConfig> = batch.iter().map(|a| a.config).collect();
        let keys = lineup(&configs, budget >= 1.0, self.opts.baseline);
        // The batch's own asks first (in order, as lineup keeps them), then
        // what lineup adds: the defaults, the kernel's scheduler.
        let asked = batch
            .iter()
            .map(|a| (TrialItem::Config { ask: Some(a.id), name: name(&a.config), config: a.config }, a.budget.clamp(0.05, 1.0)));
        let added = keys[batch.len()..].iter().map(|key| match key {
            Some(config) => (TrialItem::Config { ask: None, name: name(config), config: *config }, budget),
            None => (TrialItem::Baseline, budget),
        });
        asked.chain(added).collect()
    }

    fn run_blocks(&mut self, search: &mut dyn Search) -> Result<Option<Stop>> {
        while let Some(batch) = search.next_batch() {
            self.block += 1;
            let block = self.block;
            let mut items = self.batch_items(&batch);
            // Random order within the block: no config always runs first
            // (right after the game's warm-up) or last.
            items.shuffle(&mut self.rng);

            let mut measured: Vec<(usize, Option<f64>)> = Vec::new();
            let has_baseline = items.iter().any(|(item, _)| matches!(item, TrialItem::Baseline));
            let mut baseline_p99 = None;
            for (item, budget) in &items {
                let planned = self.opts.trial().mul_f64(*budget);
                let (record, frames_us, stop) = self.run_trial(item, block, planned, self.opts.warmup())?;
                eprintln!("{}", trial_line(&record));
                let p99 = (record.status.is_ok() && !frames_us.is_empty()).then(|| p99_us(&frames_us));
                match item {
                    TrialItem::Baseline => baseline_p99 = p99,
                    TrialItem::Config { ask: Some(ask), .. } => measured.push((*ask, p99)),
                    TrialItem::Config { ask: None, .. } => {}
                }
                if let Some(stop) = stop {
                    return Ok(Some(stop));
                }
            }
            // Scores relative to this block's baseline cancel the game's
            // drift; without any baseline, absolute p99 (µs). A block whose
            // baseline has no measurement scores nothing: another block's
            // baseline saw another scene.
            for (ask, p99) in measured {
                let score = match (has_baseline, baseline_p99) {
                    (false, _) => p99,
                    (true, Some(b)) => p99.map(|p| p / b),
                    (true, None) => None,
                };
                search.tell(ask, score);
            }
        }
        Ok(None)
    }

    /// The interleaved schedule: each batch is a race (`race`) of rounds,
    /// every running contender one segment per round in a fresh random
    /// order, until the race is decided, has run the rounds its budget
    /// allows (`race::max_rounds`), or the next round would end past the
    /// play-time budget (then no new batch starts either).
    fn run_races(&mut self, search: &mut dyn Search) -> Result<Option<Stop>> {
        let started = Instant::now();
        let segment = self.segment();
        info!(
            "interleaved: segments of {:.1} s after a {:.1} s guard, a budget of {:.1} min",
            segment.as_secs_f64(),
            self.opts.guard_secs,
            self.opts.budget_mins
        );
        while let Some(batch) = search.next_batch() {
            let items = self.batch_items(&batch);
            let baseline = items.iter().position(|(item, _)| matches!(item, TrialItem::Baseline));
            let budget = longest_budget(&batch);
            let full_trial_rounds = self.opts.trial().as_secs_f64() / segment.as_secs_f64();
            let mut race = Race::new(items.len(), baseline).with_max_rounds(max_rounds(budget, full_trial_rounds));
            let mut spent = false;
            if self.earlier_rounds {
                let keys: Vec<_> = items.iter().map(|(item, _)| item.key()).collect();
                replay_rounds(&self.store, &keys, &mut race);
                if race.rounds() > 0 {
                    let configs = |n: usize| n - usize::from(baseline.is_some());
                    eprintln!(
                        "the race goes on from {} rounds of earlier launches, {} of its {} configs still in it",
                        race.rounds(),
                        configs(race.running().len()),
                        configs(items.len())
                    );
                }
            }
            let mut rounds = Rounds::default();
            while !race.over() {
                self.block += 1;
                let block = self.block;
                let round_started = Instant::now();
                let (order, first_in_place) = rounds.next(race.running(), &mut self.rng);
                for (k, &i) in order.iter().enumerate() {
                    // In place: no switch, nothing to guard against.
                    let guard = if k == 0 && first_in_place { Duration::ZERO } else { self.opts.guard() };
                    let (record, frames_us, stop) = self.run_trial(&items[i].0, block, segment, guard)?;
                    eprintln!("{}", trial_line(&record));
                    match &record.status {
                        TrialStatus::Failed(_) if record.config.is_some() => race.fail(i),
                        s if s.is_ok() && !frames_us.is_empty() => race.record(i, Some(p99_us(&frames_us))),
                        _ => {}
                    }
                    if let Some(stop) = stop {
                        return Ok(Some(stop));
                    }
                }
                for d in race.end_round() {
                    let name = |i: usize| items[i].0.name();
                    eprintln!(
                        "round {}: {} stops: p99 {:.2}× {}'s ({:.1} % beyond the noise: {:.2}–{:.2})",
                        race.rounds(),
                        name(d.contender),
                        d.ratio.estimate,
                        name(d.leader),
                        DROP_LEVEL * 100.0,
                        d.ratio.low,
                        d.ratio.high
                    );
                }
                // No round starts that would end past the budget, judged by
                // the length of this one: the tune keeps within it.
                if started.elapsed() + round_started.elapsed() > self.opts.budget() {
                    spent = true;
                    break;
                }
            }
            info!("race of block {}: {} rounds, {}", self.block, race.rounds(), if race.decided() { "decided" } else { "undecided" });
            for (i, (item, _)) in items.iter().enumerate() {
                if let TrialItem::Config { ask: Some(ask), .. } = item {
                    let score = if *race.lane(i) == Lane::Failed { None } else { race.score(i) };
                    search.tell(*ask, score);
                }
            }
            if spent {
                eprintln!("the play-time budget ({} min) is spent", self.opts.budget_mins);
                break;
            }
        }
        Ok(None)
    }

    /// The interleaved segment length (see `segment_for`).
    fn segment(&self) -> Duration {
        segment_for(self.opts, self.settled_fps)
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
            if let WaitEnd::Stopped(stop) = self.wait(Instant::now() + probe, None, None)? {
                self.source.abort();
                return Ok(Some(stop));
            }
            match self.source.end() {
                Ok(m) if m.sampled == Some(true) => {
                    bail!("the game's MangoHud logs a sample per interval, not every frame: set log_interval=0 in its MANGOHUD_CONFIG")
                }
                Ok(m) if m.frames_ns.len() >= MIN_PROBE_FRAMES => {
                    let fps = m.frames_ns.len() as f64 * 1e9 / m.frames_ns.iter().sum::<u64>() as f64;
                    info!("warm-up probe: {} frames, {fps:.1} fps", m.frames_ns.len());
                    if prev_fps.is_some_and(|p| (fps - p).abs() <= STEADY * p) {
                        self.settled_fps = Some(fps);
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
                    self.settled_fps = prev_fps;
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
    fn wait(
        &mut self,
        until: Instant,
        mut progress: Option<(&mut TrialProgress, Instant)>,
        mut mid: Option<(Instant, &mut Observed)>,
    ) -> Result<WaitEnd> {
        loop {
            if let Some(reason) = self.game.exited() {
                return Ok(WaitEnd::Stopped(Stop::GameExited(reason)));
            }
            let now = Instant::now();
            if let Some((at, obs)) = mid.as_mut()
                && now >= *at
            {
                (obs.state_mid, obs.ops_mid) = read_observed();
                // Tests wait for this line (a window "after the mid-trial
                // reading" is an event, not a guessed sleep).
                debug!("mid-trial reading: sched_ext {:?}, ops {:?}", obs.state_mid, obs.ops_mid);
                mid = None;
            }
            if now >= until {
                return Ok(WaitEnd::Done);
            }
            match self.switcher.serve(until.min(now + STEP))? {
                ServeEnd::Done => {}
                ServeEnd::Interrupted => return Ok(WaitEnd::Stopped(Stop::Interrupted)),
                ServeEnd::Ejected(reason) => {
                    // The daemon reverts when the game exits: seen from here
                    // that is the game's exit, not an ejection.
                    if let Some(exit) = self.game.exited() {
                        return Ok(WaitEnd::Stopped(Stop::GameExited(exit)));
                    }
                    return Ok(WaitEnd::Ejected(reason));
                }
            }
            let live = self.source.poll_live();
            if let Some((p, started)) = progress.as_mut() {
                p.update(started.elapsed(), &live);
            }
        }
    }

    /// Put `item`'s scheduler in place. Ok(Err(reason)) fails the trial.
    fn switch(&mut self, item: &TrialItem, sw: &mut SwitchInfo) -> Result<Result<(), String>> {
        let config = match item {
            TrialItem::Baseline => None,
            TrialItem::Config { config, .. } => Some(config),
        };
        self.switcher.switch(config, sw)
    }

    /// One trial: switch to `item`, wait `warmup`, measure for `planned`.
    fn run_trial(
        &mut self,
        item: &TrialItem,
        block: u32,
        planned: Duration,
        warmup: Duration,
    ) -> Result<(TrialRecord, Vec<u32>, Option<Stop>)> {
        let (kind, config) = match item {
            TrialItem::Baseline => (TrialKind::Baseline, None),
            TrialItem::Config { config, .. } => (TrialKind::Config, Some(*config)),
        };
        let name = item.name().to_string();
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
            warmup_secs: warmup.as_secs_f64(),
            frames: FrameStats::default(),
            frame_times: None,
            bad_rows: 0,
            mangohud_log: None,
            sched: None,
            switch: SwitchInfo::default(),
            observed: Observed::default(),
            remeasured: 0,
            cpu: None,
        };
        info!("trial {} [{}]: {}", rec.id, rec.name, rec.config_label());
        let mut frames_us = Vec::new();
        let mut stop = None;
        // The tuner's CPU time is counted from the switch on: loading a
        // config (the verifier) is the tuner's work too.
        let cpu_at_switch = (own_cpu_secs(), self.game.cpu_secs());
        let started = Instant::now();

        if let Err(reason) = self.switch(item, &mut rec.switch)? {
            rec.status = TrialStatus::Failed(reason);
            self.save(&mut rec)?;
            return Ok((rec, frames_us, None));
        }

        let mut progress = TrialProgress::start(&format!("trial {} {}", rec.id, rec.name), planned);
        let (waited, measuring) = loop {
            let (waited, measuring) = self.measure(&mut rec, planned, warmup, cpu_at_switch, &mut progress)?;
            // The scheduler came back after a CPU went offline or online
            // (hotplug, suspend/resume) during the measurement: its frames
            // show the restart, not the config. Measured again, not failed.
            let restarted = rec.sched.as_ref().map_or(0, |m| m.restarts);
            if !matches!(waited, Some(WaitEnd::Done)) || restarted == 0 {
                break (waited, measuring);
            }
            if rec.remeasured >= MAX_REMEASURES {
                self.source.abort();
                rec.status = TrialStatus::Unmeasured(format!(
                    "the scheduler restarted (CPU hotplug or suspend) during each of {} measurements",
                    rec.remeasured + 1
                ));
                break (None, false);
            }
            warn!(
                "trial {}: scx_gamer restarted {restarted} time(s) while measuring (a CPU went offline or online): measuring again",
                rec.id
            );
            self.source.abort();
            rec.remeasured += 1;
            rec.sched = None;
            rec.observed = Observed::default();
        };
        progress.finish();

        let measurement = match waited {
            None => None,
            Some(WaitEnd::Done) => match self.source.end() {
                Ok(m) => Some(m),
                Err(e) => {
                    rec.status = TrialStatus::Unmeasured(format!("no frames: {e:#}"));
                    None
                }
            },
            Some(WaitEnd::Ejected(reason)) => {
                rec.status = TrialStatus::Failed(reason);
                if measuring { self.source.end().ok() } else { None }
            }
            Some(WaitEnd::Stopped(Stop::GameExited(reason))) => {
                rec.status = TrialStatus::Partial(format!("the game exited: {reason}"));
                stop = Some(Stop::GameExited(reason));
                // A row-flushed log has what was played; a log written at
                // stop (MangoHud ≤ 0.6.8) died with the game.
                if measuring && self.source.kind().keeps_frames_at_game_exit() { self.source.end().ok() } else { None }
            }
            Some(WaitEnd::Stopped(Stop::Interrupted)) => {
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
        // (A trial given up after CPU changes had frames it threw away.)
        let frameless = frames_us.is_empty() && rec.remeasured < MAX_REMEASURES;
        self.frameless = if frameless { self.frameless + started.elapsed() } else { Duration::ZERO };
        if matches!(rec.status, TrialStatus::Unmeasured(_)) && self.frameless >= self.opts.frames_timeout() {
            bail!(
                "no frames from the game for {:.0} s ({}); tuning stopped, the trials so far are recorded",
                self.frameless.as_secs_f64(),
                rec.status.reason().unwrap_or_default()
            );
        }
        Ok((rec, frames_us, stop))
    }

    /// Warm up, then measure for `planned` (counters and observed states
    /// into `rec`; CPU times since `cpu_at_switch`, (tuner, game)). Returns
    /// how the measurement's wait ended (None: it never began, `rec.status`
    /// says why) and whether it began.
    fn measure(
        &mut self,
        rec: &mut TrialRecord,
        planned: Duration,
        warmup: Duration,
        cpu_at_switch: (Option<f64>, Option<f64>),
        progress: &mut TrialProgress,
    ) -> Result<(Option<WaitEnd>, bool)> {
        progress.set_message("warming up");
        let waited = self.wait(Instant::now() + warmup, None, None)?;
        let WaitEnd::Done = waited else { return Ok((Some(waited), false)) };
        if let Err(e) = self.source.begin() {
            rec.status = TrialStatus::Unmeasured(format!("starting the MangoHud log: {e:#}"));
            return Ok((None, false));
        }
        // MangoHud ≤ 0.6.8 writes its frames only at the end.
        progress.set_message("measuring");
        let start = Instant::now();
        let before = self.switcher.stats();
        let w = self.wait(start + planned, Some((progress, start)), Some((start + planned / 2, &mut rec.observed)))?;
        rec.measured_secs = start.elapsed().as_secs_f64();
        // The measurer must not disturb what it measures: its own CPU time
        // beside the game's, per trial (the report shows the share).
        if let ((Some(t0), Some(g0)), Some(t1), Some(g1)) = (cpu_at_switch, own_cpu_secs(), self.game.cpu_secs()) {
            rec.cpu = Some(CpuUse { tuner_secs: (t1 - t0).max(0.0), game_secs: (g1 - g0).max(0.0) });
        }
        (rec.observed.state_end, rec.observed.ops_end) = read_observed();
        if let (Some(before), Some(after)) = (before, self.switcher.stats()) {
            rec.sched = Some(after.delta(&before));
        }
        Ok((Some(w), true))
    }

    /// Fill the frame fields of `rec`; a trial without frames fails.
    fn record_frames(&self, rec: &mut TrialRecord, m: Measurement) -> Result<Vec<u32>> {
        let mut series = FrameSeries::default();
        for &f in &m.frames_ns {
            series.push(f);
        }
        rec.frames = series.stats();
        let frames_us: Vec<u32> = m.frames_ns.iter().map(|&f| ns_to_us(f)).collect();
        rec.frame_times = Some(encode_us(&frames_us)?);
        rec.bad_rows = m.bad_rows;
        rec.mangohud_log = m.logs.first().map(|p| p.display().to_string());
        if m.sampled == Some(true) && rec.status.is_ok() {
            rec.status = TrialStatus::Unmeasured("MangoHud logged samples, not frames (log_interval is not 0)".into());
        }
        if frames_us.is_empty() && rec.status.is_ok() {
            rec.status = TrialStatus::Unmeasured(format!("no frames in {:.0} s", rec.measured_secs));
        }
        Ok(frames_us)
    }

    fn save(&mut self, rec: &mut TrialRecord) -> Result<()> {
        rec.ended_at = now_rfc3339();
        self.writer.push_trial(&mut self.store, rec.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::game::identity::GameId;
    use crate::sched::Metrics;
    use crate::tune::frame_source::SourceKind;
    use crate::tune::race::MAX_ROUNDS;
    use crate::tune::search::{Strategy, new_search};
    use crate::tune::switch::ServeEnd;
    use std::cell::RefCell;
    use std::path::Path;
    use std::rc::Rc;

    /// What happens to the fakes, in order, for the assertions.
    type Log = Rc<RefCell<Vec<String>>>;
    /// The slice_us of the config the fake switcher has attached (None:
    /// the kernel's scheduler).
    type Attached = Rc<std::cell::Cell<Option<u64>>>;

    /// A switcher that loads nothing: configs with slice_us in `bad_load`
    /// fail to load; one with slice_us == `eject` is ejected mid-way; SIGINT
    /// comes during the trial numbered `interrupt_at` (1-based switch count);
    /// `restart` = (slice_us, n): the first n measurements of that config
    /// see the scheduler restart (its counters say so, as after hotplug).
    #[derive(Default)]
    struct FakeSwitcher {
        log: Log,
        bad_load: Vec<u64>,
        eject: Option<u64>,
        interrupt_at: Option<usize>,
        restart: Option<(u64, u64)>,
        switches: usize,
        current: Option<SchedConfig>,
        serves: usize,
        stat_reads: u64,
        /// The attached config's slice_us (None: the kernel's scheduler),
        /// for the frames to depend on.
        attached: Attached,
    }

    impl Switcher for FakeSwitcher {
        fn switch(&mut self, config: Option<&SchedConfig>, _sw: &mut SwitchInfo) -> Result<Result<(), String>> {
            self.switches += 1;
            self.serves = 0;
            self.stat_reads = 0;
            self.log.borrow_mut().push(format!("switch {}", config.map_or("kernel".into(), |c| c.slice_us.to_string())));
            if let Some(c) = config
                && self.bad_load.contains(&c.slice_us)
            {
                self.current = None;
                return Ok(Err("load failed: the verifier said no".into()));
            }
            self.current = config.copied();
            self.attached.set(config.map(|c| c.slice_us));
            Ok(Ok(()))
        }

        fn serve(&mut self, until: Instant) -> Result<ServeEnd> {
            self.serves += 1;
            if self.interrupt_at == Some(self.switches) {
                return Ok(ServeEnd::Interrupted);
            }
            if self.current.is_some_and(|c| Some(c.slice_us) == self.eject) && self.serves > 1 {
                self.current = None;
                return Ok(ServeEnd::Ejected("EXIT: Disabled by sysrq-S".into()));
            }
            std::thread::sleep(until.saturating_duration_since(Instant::now()).min(Duration::from_millis(5)));
            Ok(ServeEnd::Done)
        }

        fn stats(&mut self) -> Option<Metrics> {
            // Read before and after each measurement: the k-th "after"
            // counts a restart more than the k-th "before" while k <= n.
            self.stat_reads += 1;
            let restarts = match (self.restart, self.current) {
                (Some((slice, n)), Some(c)) if c.slice_us == slice => (self.stat_reads / 2).min(n),
                _ => 0,
            };
            self.current.map(|_| Metrics { game_dispatches: 10 * self.serves as u64, restarts, ..Default::default() })
        }

        fn finish(&mut self) -> Result<()> {
            self.log.borrow_mut().push("finish".into());
            self.current = None;
            Ok(())
        }
    }

    /// Frames at a steady 10 ms, 20 per measurement; with `levels`, at the
    /// level of the attached scheduler (by slice_us; None: the kernel's),
    /// × 1.00–1.03 from measurement to measurement (pseudo-random).
    struct FakeFrames {
        kind: SourceKind,
        log: Log,
        begun: Rc<std::cell::Cell<usize>>,
        /// The attached config's frame time (ns) and the noise on it
        /// (per mille, below).
        levels: Option<(Attached, HashMap<Option<u64>, u64>, u64)>,
        /// How many more measurements under each scheduler (by slice_us;
        /// None: the kernel's) show no frames at all (a loading screen).
        blank: HashMap<Option<u64>, usize>,
        attached: Attached,
    }

    impl Frames for FakeFrames {
        fn kind(&self) -> SourceKind {
            self.kind
        }
        fn folder(&self) -> &Path {
            Path::new("/fake/logs")
        }
        fn mangohud_version(&self) -> Option<String> {
            Some("0.8.4".into())
        }
        fn begin(&mut self) -> Result<()> {
            self.begun.set(self.begun.get() + 1);
            self.log.borrow_mut().push("begin".into());
            Ok(())
        }
        fn poll_live(&mut self) -> Vec<u64> {
            Vec::new()
        }
        fn end(&mut self) -> Result<Measurement> {
            self.log.borrow_mut().push("end".into());
            if let Some(left) = self.blank.get_mut(&self.attached.get()).filter(|n| **n > 0) {
                *left -= 1;
                return Ok(Measurement::default());
            }
            let frame = match &self.levels {
                None => 10_000_000,
                Some((attached, levels, noise)) => {
                    // splitmix64 of the measurement's number: below `noise` ‰.
                    let mut z = (self.begun.get() as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
                    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
                    levels.get(&attached.get()).copied().unwrap_or(10_000_000) * (1000 + (z ^ (z >> 31)) % (*noise).max(1)) / 1000
                }
            };
            Ok(Measurement { frames_ns: vec![frame; 20], ..Default::default() })
        }
        fn abort(&mut self) {
            self.log.borrow_mut().push("abort".into());
        }
    }

    /// A game that exits once the `exit_at`-th measurement has begun
    /// (None: never).
    struct FakeGame {
        exit_at: Option<usize>,
        begun: Rc<std::cell::Cell<usize>>,
        cpu_reads: u32,
    }

    impl FakeGame {
        fn new(exit_at: Option<usize>) -> Self {
            Self { exit_at, begun: Rc::default(), cpu_reads: 0 }
        }
    }

    impl GameWatch for FakeGame {
        fn exited(&mut self) -> Option<String> {
            self.exit_at.filter(|&n| self.begun.get() >= n).map(|_| "exit status: 0".into())
        }
        /// A second of CPU more at every look.
        fn cpu_secs(&mut self) -> Option<f64> {
            self.cpu_reads += 1;
            Some(f64::from(self.cpu_reads))
        }
    }

    fn opts(dir: &Path) -> TuneOptions {
        TuneOptions {
            trials_file: "trials/ci.toml".into(),
            trial_secs: 0.03,
            warmup_secs: 0.0,
            repeats: 1,
            search: Strategy::Grid,
            max_trials: None,
            seed: 5,
            data_dir: dir.to_path_buf(),
            baseline: true,
            frames_timeout_secs: 1.0,
            input_dir: dir.to_path_buf(),
            measure: MeasureMode::Blocks,
            segment_secs: None,
            guard_secs: 0.0,
            budget_mins: 10.0,
        }
    }

    /// Three configs (slice_us 500, 2000, 4000) and a baseline, one block.
    fn run(sw: &mut FakeSwitcher, game: &mut FakeGame, kind: SourceKind) -> (Option<Stop>, GameStore, Vec<String>) {
        let dir = tempfile::tempdir().unwrap();
        let o = opts(dir.path());
        let configs: Vec<SchedConfig> = [500, 2000, 4000].map(|s| SchedConfig { slice_us: s, ..Default::default() }).to_vec();
        let mut search = new_search(Strategy::Grid, &configs, None, 1, None, o.seed).unwrap();
        let log = sw.log.clone();
        let frames = Box::new(FakeFrames {
            kind,
            log: log.clone(),
            begun: game.begun.clone(),
            levels: None,
            blank: HashMap::new(),
            attached: sw.attached.clone(),
        });
        let path = dir.path().join("game.json");
        let store = GameStore::new(GameId { key: "game".into(), exe: "game".into(), steam_app_id: None });
        let names = configs.iter().map(|c| (*c, format!("s{}", c.slice_us))).collect();
        let mut r = Runner::new(&o, sw, frames, game, store, path.clone(), "s1".into(), names);
        let stop = r.run(search.as_mut()).unwrap();
        // What the loop recorded is what it saved, after every trial.
        let saved = GameStore::load(&path).unwrap();
        assert_eq!(saved.trials.len(), r.store.trials.len());
        let log = log.borrow().clone();
        (stop, saved, log)
    }

    fn states(store: &GameStore) -> Vec<(String, &'static str)> {
        store.trials.iter().map(|t| (t.name.clone(), t.status.label())).collect()
    }

    #[test]
    fn every_config_and_the_baseline_run_once_in_the_seeds_order() {
        let mut sw = FakeSwitcher::default();
        let (stop, store, log) = run(&mut sw, &mut FakeGame::new(None), SourceKind::ControlSocket);
        assert_eq!(stop, None);
        let names: Vec<_> = store.trials.iter().map(|t| t.name.as_str()).collect();
        // The three, the defaults (none of the three is; see
        // the_defaults_join_every_block_that_lacks_them) and the baseline.
        assert_eq!(names.len(), 5);
        for n in ["s500", "s2000", "s4000", "defaults", "baseline"] {
            assert!(names.contains(&n), "{names:?}");
        }
        // The same seed, the same order.
        let (_, again, _) = run(&mut FakeSwitcher::default(), &mut FakeGame::new(None), SourceKind::ControlSocket);
        assert_eq!(names, again.trials.iter().map(|t| t.name.as_str()).collect::<Vec<_>>());
        for t in &store.trials {
            assert_eq!(t.status.label(), "ok", "{t:?}");
            assert_eq!(t.frames.frames, 20);
            assert_eq!(t.sched.is_some(), t.config.is_some(), "counters only under scx_gamer: {t:?}");
            // The game's CPU time over the measurement (the fake's second
            // between two looks), and this process's own, however small.
            let cpu = t.cpu.expect("CPU time recorded");
            assert_eq!(cpu.game_secs, 1.0, "{t:?}");
            assert!(cpu.tuner_secs >= 0.0 && cpu.tuner_secs < 5.0, "{t:?}");
        }
        // Each trial: switch, then a measurement; the scheduler detached at the end.
        assert_eq!(log.iter().filter(|l| l.starts_with("switch")).count(), 5);
        assert_eq!(log.iter().filter(|l| *l == "begin").count(), 5);
        assert_eq!(log.last().map(String::as_str), Some("finish"));
    }

    #[test]
    fn a_config_that_fails_to_load_or_is_ejected_is_recorded_failed_and_the_tune_goes_on() {
        let mut sw = FakeSwitcher { bad_load: vec![2000], eject: Some(4000), ..Default::default() };
        let (stop, store, _) = run(&mut sw, &mut FakeGame::new(None), SourceKind::ControlSocket);
        assert_eq!(stop, None, "the tune went on to its end");
        let by_name = |n: &str| store.trials.iter().find(|t| t.name == n).unwrap();
        assert_eq!(by_name("s2000").status.label(), "failed");
        assert!(by_name("s2000").status.reason().unwrap().contains("load failed"));
        assert_eq!(by_name("s4000").status.label(), "failed");
        assert!(by_name("s4000").status.reason().unwrap().contains("sysrq"));
        assert_eq!(by_name("s500").status.label(), "ok");
        assert_eq!(by_name("baseline").status.label(), "ok");
    }

    #[test]
    fn a_measurement_the_scheduler_restarted_in_is_measured_again_not_failed() {
        let mut sw = FakeSwitcher { restart: Some((2000, 1)), ..Default::default() };
        let (stop, store, log) = run(&mut sw, &mut FakeGame::new(None), SourceKind::ControlSocket);
        assert_eq!(stop, None);
        let t = store.trials.iter().find(|t| t.name == "s2000").unwrap();
        assert_eq!((t.status.label(), t.remeasured, t.frames.frames), ("ok", 1, 20), "{t:?}");
        assert_eq!(t.sched.as_ref().map(|m| m.restarts), Some(0), "the kept measurement saw no restart");
        // Five trials, six measurements: the disturbed one was thrown away.
        assert_eq!(log.iter().filter(|l| *l == "begin").count(), 6, "{log:?}");
        assert_eq!(log.iter().filter(|l| *l == "abort").count(), 1, "{log:?}");
        for t in store.trials.iter().filter(|t| t.name != "s2000") {
            assert_eq!((t.status.label(), t.remeasured), ("ok", 0), "{t:?}");
        }

        // Restarted every time: given up after 1 + MAX_REMEASURES tries,
        // the tune goes on.
        let mut sw = FakeSwitcher { restart: Some((2000, 10)), ..Default::default() };
        let (stop, store, _) = run(&mut sw, &mut FakeGame::new(None), SourceKind::ControlSocket);
        assert_eq!(stop, None);
        let t = store.trials.iter().find(|t| t.name == "s2000").unwrap();
        // Not the config's fault: unmeasured, not failed.
        assert_eq!((t.status.label(), t.remeasured), ("unmeasured", MAX_REMEASURES), "{t:?}");
        assert!(t.status.reason().unwrap().contains("restarted"), "{t:?}");
        assert_eq!(store.trials.len(), 5);
    }

    #[test]
    fn sigint_records_the_running_trial_as_interrupted_and_stops() {
        let mut sw = FakeSwitcher { interrupt_at: Some(2), ..Default::default() };
        let (stop, store, log) = run(&mut sw, &mut FakeGame::new(None), SourceKind::ControlSocket);
        assert_eq!(stop, Some(Stop::Interrupted));
        let s = states(&store);
        assert_eq!(s.len(), 2, "{s:?}");
        assert_eq!(s[0].1, "ok");
        assert_eq!(s[1].1, "interrupted");
        assert_eq!(log.last().map(String::as_str), Some("finish"), "detached on the way out: {log:?}");
    }

    #[test]
    fn the_games_exit_ends_the_tune_and_a_row_flushed_log_keeps_its_frames() {
        for (kind, frames) in [(SourceKind::Stream, 20), (SourceKind::ControlSocket, 0)] {
            // Exits during the second trial's measurement.
            let mut game = FakeGame::new(Some(2));
            let (stop, store, _) = run(&mut FakeSwitcher::default(), &mut game, kind);
            assert!(matches!(stop, Some(Stop::GameExited(_))), "{stop:?}");
            let last = store.trials.last().unwrap();
            assert_eq!(last.status.label(), "partial", "{kind:?}: {:?}", states(&store));
            assert_eq!(last.frames.frames, frames, "{kind:?}");
        }
    }

    #[test]
    fn the_defaults_join_every_block_that_lacks_them_and_the_search_is_not_told_of_them() {
        let mut sw = FakeSwitcher::default();
        let (_, store, log) = run(&mut sw, &mut FakeGame::new(None), SourceKind::ControlSocket);
        let d: Vec<_> = store.trials.iter().filter(|t| t.config == Some(SchedConfig::default())).collect();
        assert_eq!(d.len(), 1, "{:?}", states(&store));
        assert_eq!((d[0].block, d[0].kind, d[0].name.as_str()), (1, TrialKind::Config, "defaults"));
        assert!(log.contains(&"switch 1000".to_string()), "{log:?}");

        // A block that has the defaults already gets no second copy.
        let dir = tempfile::tempdir().unwrap();
        let o = opts(dir.path());
        let configs = vec![SchedConfig::default(), SchedConfig { slice_us: 500, ..Default::default() }];
        let mut search = new_search(Strategy::Grid, &configs, None, 1, None, o.seed).unwrap();
        let mut sw = FakeSwitcher::default();
        let mut game = FakeGame::new(None);
        let frames = Box::new(FakeFrames {
            kind: SourceKind::ControlSocket,
            log: sw.log.clone(),
            begun: game.begun.clone(),
            levels: None,
            blank: HashMap::new(),
            attached: sw.attached.clone(),
        });
        let store = GameStore::new(GameId { key: "g".into(), exe: "g".into(), steam_app_id: None });
        let mut r = Runner::new(&o, &mut sw, frames, &mut game, store, dir.path().join("g.json"), "s1".into(), HashMap::new());
        r.run(search.as_mut()).unwrap();
        assert_eq!(r.store.trials.iter().filter(|t| t.config == Some(SchedConfig::default())).count(), 1);
        assert_eq!(r.store.trials.len(), 3);
    }

    #[test]
    fn unnamed_configs_are_named_by_what_differs_from_the_defaults() {
        assert_eq!(config_name(&SchedConfig::default()), "defaults");
        let c: SchedConfig = "slice_us=500,mig_max=1,wake_preempt=1".parse().unwrap();
        assert_eq!(config_name(&c), "s500-mm1-wp1");
    }

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

    /// An interleaved tune of `configs` (by slice_us) whose frames are at
    /// `levels` (ms by slice_us; None: the kernel's scheduler), with a
    /// search that records what it is told.
    fn race(
        configs: &[u64],
        levels: &[(Option<u64>, u64)],
        budget_mins: f64,
        bad_load: Vec<u64>,
    ) -> (GameStore, Vec<(usize, Option<f64>)>) {
        race_asking(configs, levels, budget_mins, bad_load, 1.0, 30)
    }

    /// As `race`, the search asking each config for `budget` of a full
    /// trial, each segment's p99 with noise below `noise` ‰.
    fn race_asking(
        configs: &[u64],
        levels: &[(Option<u64>, u64)],
        budget_mins: f64,
        bad_load: Vec<u64>,
        budget: f64,
        noise: u64,
    ) -> (GameStore, Told) {
        race_with_blanks(configs, levels, budget_mins, bad_load, budget, noise, HashMap::new()).unwrap()
    }

    /// What a search was told: (ask, score).
    type Told = Vec<(usize, Option<f64>)>;

    /// As `race_asking`, the first `blank[s]` measurements under scheduler
    /// s showing no frames; Err when the tune stopped with an error.
    fn race_with_blanks(
        configs: &[u64],
        levels: &[(Option<u64>, u64)],
        budget_mins: f64,
        bad_load: Vec<u64>,
        budget: f64,
        noise: u64,
        blank: HashMap<Option<u64>, usize>,
    ) -> Result<(GameStore, Told)> {
        let dir = tempfile::tempdir().unwrap();
        let mut o = opts(dir.path());
        o.measure = MeasureMode::Interleaved;
        o.segment_secs = Some(0.005);
        o.guard_secs = 0.001;
        o.budget_mins = budget_mins;
        let configs: Vec<SchedConfig> = configs.iter().map(|&s| SchedConfig { slice_us: s, ..Default::default() }).collect();
        let inner = new_search(Strategy::Grid, &configs, None, 1, None, o.seed).unwrap();
        let mut search = RecordingSearch { inner, budget, told: Vec::new() };
        let mut sw = FakeSwitcher { bad_load, ..Default::default() };
        let mut game = FakeGame::new(None);
        let levels = levels.iter().map(|&(s, ms)| (s, ms * 1_000_000)).collect();
        let frames = Box::new(FakeFrames {
            kind: SourceKind::Stream,
            log: sw.log.clone(),
            begun: game.begun.clone(),
            levels: Some((sw.attached.clone(), levels, noise)),
            blank,
            attached: sw.attached.clone(),
        });
        let path = dir.path().join("game.json");
        let store = GameStore::new(GameId { key: "game".into(), exe: "game".into(), steam_app_id: None });
        let names = configs.iter().map(|c| (*c, format!("s{}", c.slice_us))).collect();
        let mut r = Runner::new(&o, &mut sw, frames, &mut game, store, path.clone(), "s1".into(), names);
        r.record_session(SessionMode::Attach, "grid", chrono::Utc::now()).unwrap();
        let ran = r.run(&mut search);
        let store = GameStore::load(&path).unwrap();
        assert_eq!(ran?, None);
        Ok((store, search.told))
    }

    /// A search that passes everything through, asking for `budget` of a
    /// full trial, and keeps what it is told.
    struct RecordingSearch {
        inner: Box<dyn Search>,
        budget: f64,
        told: Vec<(usize, Option<f64>)>,
    }

    impl Search for RecordingSearch {
        fn name(&self) -> &'static str {
            "told"
        }
        fn next_batch(&mut self) -> Option<Vec<super::super::search::Ask>> {
            let mut batch = self.inner.next_batch()?;
            batch.iter_mut().for_each(|a| a.budget = self.budget);
            Some(batch)
        }
        fn tell(&mut self, id: usize, score: Option<f64>) {
            self.told.push((id, score));
            self.inner.tell(id, score);
        }
        fn best(&self) -> Option<(SchedConfig, f64)> {
            self.inner.best()
        }
    }

    /// The trials of each block (round), by name, sorted.
    fn rounds(store: &GameStore) -> Vec<Vec<String>> {
        let last = store.trials.iter().map(|t| t.block).max().unwrap_or(0);
        (1..=last)
            .map(|b| {
                let mut names: Vec<String> = store.trials.iter().filter(|t| t.block == b).map(|t| t.name.clone()).collect();
                names.sort();
                names
            })
            .collect()
    }

    #[test]
    fn interleaved_rounds_run_every_contender_once_and_the_confidently_worse_stop() {
        // s500 halves the kernel's p99; the defaults (slice_us 1000) match
        // it; s2000 and s4000 double it.
        let levels = [(None, 10), (Some(500), 5), (Some(1000), 10), (Some(2000), 20), (Some(4000), 20)];
        let (store, told) = race(&[500, 2000, 4000], &levels, 10.0, vec![]);
        let rounds = rounds(&store);
        // Every contender in each of the first MIN_ROUNDS rounds, none twice.
        let all: Vec<String> = ["baseline", "defaults", "s2000", "s4000", "s500"].map(String::from).to_vec();
        for r in &rounds[..super::super::race::MIN_ROUNDS] {
            assert_eq!(r, &all, "{rounds:?}");
        }
        // Then the three beaten by s500 stop, and one round with s500 and
        // the kernel alone would be the most there is: decided at once.
        assert_eq!(rounds.len(), super::super::race::MIN_ROUNDS, "{rounds:?}");
        // Segments and a guard after each switch, not trials; a round opens
        // with the contender that ended the last (it stays: no switch, no
        // guard) while that one still runs: rounds 2–4 here.
        let mut stays = 0;
        for (i, t) in store.trials.iter().enumerate() {
            let stay = i > 0 && store.trials[i - 1].name == t.name;
            assert!(!stay || store.trials[i - 1].block + 1 == t.block, "a stay opens the next round: {t:?}");
            stays += usize::from(stay);
            assert_eq!((t.planned_secs, t.warmup_secs), (0.005, if stay { 0.0 } else { 0.001 }), "{t:?}");
            assert_eq!(t.status.label(), "ok");
        }
        assert_eq!(stays, super::super::race::MIN_ROUNDS - 1);
        assert_eq!(store.sessions[0].measure, Some(MeasureMode::Interleaved));
        assert_eq!(store.sessions[0].trial_secs, 0.005);
        // The search hears each config once, relative to the kernel.
        let mut scores: Vec<f64> = told.iter().map(|(_, s)| s.unwrap()).collect();
        scores.sort_by(f64::total_cmp);
        assert_eq!(told.len(), 3, "{told:?}");
        assert!((scores[0] - 0.5).abs() < 0.02 && (scores[2] - 2.0).abs() < 0.05, "{scores:?}");
    }

    #[test]
    fn identical_configs_race_to_the_last_round_and_a_failed_load_leaves_the_race() {
        // Twins of the kernel's p99, and s4000 that does not load. Without
        // noise: how often noise parts twins is the race's to say (race's
        // `scene_changes_cancel_and_twins_are_not_told_apart`, race_sim's
        // A/A row); with the fake's 0–3 %, 2–4 of 60 seeds drop a twin in
        // one of the 60 rounds' looks.
        let levels = [(None, 10), (Some(500), 10), (Some(2000), 10), (Some(1000), 10)];
        let (store, told) = race_asking(&[500, 2000, 4000], &levels, 1440.0, vec![4000], 1.0, 0);
        let rounds = rounds(&store);
        assert_eq!(rounds.len(), MAX_ROUNDS, "undecided twins run on");
        // s4000: tried in the first round, failed, never again.
        let s4000: Vec<_> = store.trials.iter().filter(|t| t.name == "s4000").collect();
        assert_eq!(s4000.len(), 1);
        assert_eq!((s4000[0].block, s4000[0].status.label()), (1, "failed"));
        // No twin stops: each runs in every round.
        for r in &rounds {
            for n in ["baseline", "defaults", "s2000", "s500"] {
                assert!(r.contains(&n.to_string()), "{rounds:?}");
            }
        }
        assert_eq!(told.iter().filter(|(_, s)| s.is_none()).count(), 1, "the failed one: {told:?}");
        assert!(told.iter().flat_map(|(_, s)| *s).all(|s| (s - 1.0).abs() < 1e-9), "{told:?}");
    }

    #[test]
    fn a_segment_without_frames_is_unmeasured_and_its_config_stays_in_the_race() {
        // s500 is clearly the best, but its first two segments land on a
        // loading screen (no frames): it is measured at its next turns,
        // wins its race, and the report holds no failure against it.
        let levels = [(None, 10), (Some(500), 5), (Some(2000), 10), (Some(1000), 10)];
        let blank = HashMap::from([(Some(500), 2)]);
        let (store, told) = race_with_blanks(&[500, 2000], &levels, 1440.0, vec![], 1.0, 0, blank).unwrap();
        let s500: Vec<_> = store.trials.iter().filter(|t| t.name == "s500").collect();
        assert_eq!(s500.iter().filter(|t| t.status.label() == "unmeasured").count(), 2, "{s500:?}");
        assert!(s500[0].status.reason().unwrap().contains("no frames"), "{:?}", s500[0]);
        assert!(s500.iter().filter(|t| t.status.is_ok()).count() >= super::super::race::MIN_ROUNDS, "{s500:?}");
        let ranking = crate::verdict::rank::rank(&store).unwrap();
        let row = ranking.rows.iter().find(|r| r.name == "s500").unwrap();
        assert!(row.failures.is_empty(), "{row:?}");
        assert_eq!(row.verdict, crate::verdict::score::Verdict::Better, "{row:?}");
        assert_eq!(ranking.rows[ranking.winner.unwrap()].name, "s500");
        let (i, score) = told.iter().find(|(_, s)| s.is_some_and(|s| s < 0.75)).copied().unwrap();
        assert!((score.unwrap() - 0.5).abs() < 0.02, "{i}: {told:?}");

        // The game shows no frames at all for --frames-timeout (1 s here):
        // the tune stops with an error that says so; what was recorded stays.
        let blank = HashMap::from([(None, usize::MAX), (Some(500), usize::MAX), (Some(2000), usize::MAX), (Some(1000), usize::MAX)]);
        let err = race_with_blanks(&[500, 2000], &levels, 1440.0, vec![], 1.0, 0, blank).unwrap_err();
        assert!(format!("{err:#}").contains("no frames from the game for"), "{err:#}");
    }

    #[test]
    fn a_screening_ask_races_its_share_of_a_trial_without_the_defaults() {
        // Twins of the kernel never decide. Asked for 0.9 of a full trial
        // (30 ms here: 6 segments of 5 ms), their race ends after 6 rounds,
        // not MAX_ROUNDS; a screening look does not measure the defaults.
        let levels = [(None, 10), (Some(500), 10), (Some(2000), 10), (Some(1000), 10)];
        let (store, told) = race_asking(&[500, 2000], &levels, 1440.0, vec![], 0.9, 30);
        let rounds = rounds(&store);
        assert_eq!(rounds.len(), 6, "{rounds:?}");
        assert!(rounds.iter().all(|r| r == &["baseline", "s2000", "s500"]), "{rounds:?}");
        assert_eq!(told.len(), 2, "{told:?}");
    }

    #[test]
    fn a_spent_budget_ends_the_race_after_the_round_and_the_tune_with_it() {
        let levels = [(None, 10), (Some(500), 5), (Some(1000), 10), (Some(2000), 20)];
        let (store, told) = race(&[500, 2000], &levels, 1e-9, vec![]);
        assert_eq!(rounds(&store).len(), 1, "one round, then the budget is spent");
        // The search hears the one round's scores.
        let mut scores: Vec<f64> = told.iter().map(|(_, s)| s.unwrap()).collect();
        scores.sort_by(f64::total_cmp);
        assert!((scores[0] - 0.5).abs() < 0.02 && (scores[1] - 2.0).abs() < 0.05, "{scores:?}");
    }

    #[test]
    fn a_segment_is_about_300_frames_at_the_games_rate_within_bounds() {
        let dir = tempfile::tempdir().unwrap();
        let mut o = opts(dir.path());
        assert_eq!(segment_for(&o, Some(60.0)), Duration::from_secs(5));
        assert_eq!(segment_for(&o, Some(1000.0)), MIN_SEGMENT);
        assert_eq!(segment_for(&o, Some(5.0)), MAX_SEGMENT);
        assert_eq!(segment_for(&o, None), MIN_SEGMENT * 2);
        o.segment_secs = Some(7.5);
        assert_eq!(segment_for(&o, Some(60.0)), Duration::from_secs_f64(7.5));
    }
}
