//! What the store keeps: one `GameStore` per game, holding every trial ever
//! run on it. Plain serde structs; the schema version guards old readers.

use serde::{Deserialize, Serialize};

use crate::frames::FrameStats;
use crate::game::identity::GameId;
use crate::sched::{Metrics, SchedConfig};

/// Bump when a field changes meaning or a required field is added.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GameStore {
    pub schema_version: u32,
    pub game: GameId,
    pub sessions: Vec<SessionInfo>,
    pub trials: Vec<TrialRecord>,
    /// The config `launch` applies, as the ranking chose it when the last
    /// tune of this game ended (`verdict::choice`): a player's launch then
    /// reads it instead of ranking the store, a bootstrap over every trial
    /// (seconds for a large store; minutes for a debug build under
    /// emulation). Absent in stores written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choice: Option<Choice>,
    /// Lines of the store's journal that `load` could not read (damaged on
    /// disk) and skipped: the next whole write keeps them aside in
    /// `<store>.trials.bad` instead of dropping them with the journal.
    #[serde(skip)]
    pub unreadable_journal: Vec<String>,
}

/// The ranking's pick (`Ranking::best`) over the store's first
/// `over_trials` trials, under version `rule` of the ranking rule. It holds
/// only while both still match; else the store is ranked again.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    pub over_trials: usize,
    pub rule: u32,
    pub name: String,
    pub config: SchedConfig,
    /// It beat the kernel's scheduler (and the defaults) beyond the noise;
    /// else it is the best measured config that did not fail.
    pub significant: bool,
}

/// How a session measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SessionMode {
    /// `scx_gamer tune`: the tuner started the game.
    Tune,
    /// `scx_gamer attach`: a game that already ran.
    Attach,
    /// `scx_gamer launch --tune`: through the daemon, while the player plays.
    LaunchTune,
    /// `--ml-collect`: one config's counters, no frames.
    Collect,
}

impl SessionMode {
    /// As the store spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tune => "tune",
            Self::Attach => "attach",
            Self::LaunchTune => "launch-tune",
            Self::Collect => "collect",
        }
    }
}

/// How a tune took turns between configs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum MeasureMode {
    /// Each batch of configs is a block of long trials (one per config and
    /// one of the kernel's scheduler, in random order), repeated.
    #[default]
    Blocks,
    /// Rounds of short segments, every contender once per round in a fresh
    /// random order; configs confidently worse than the leader stop being
    /// measured (`tune::race`). A round is a block of the store.
    Interleaved,
}

impl MeasureMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Blocks => "blocks",
            Self::Interleaved => "interleaved",
        }
    }
}

/// One `tune`/`attach`/`launch --tune`/`--ml-collect` run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionInfo {
    /// Unique within the store: start time, e.g. "2026-11-24T10:00:00Z-1234".
    pub id: String,
    pub mode: SessionMode,
    pub started_at: String,
    pub scx_gamer_version: String,
    pub system: SystemInfo,
    pub trials_file: Option<String>,
    pub search: Option<String>,
    pub seed: Option<u64>,
    pub trial_secs: f64,
    pub warmup_secs: f64,
    /// How frames were cut into trials: "control-socket" (one MangoHud log
    /// per trial) or "stream" (a live log cut by time).
    pub frame_source: String,
    /// How the trials took turns; None for a session that measured no
    /// frames (`--ml-collect`) and in stores from before the interleaved
    /// schedule (all blocks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measure: Option<MeasureMode>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SystemInfo {
    pub kernel: String,
    pub cpu: String,
    pub cpus: u32,
    pub mangohud_version: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrialKind {
    /// The kernel's own scheduler, no sched_ext.
    Baseline,
    /// A scx_gamer config.
    Config,
    /// Samples of a plain `run --ml-collect` (no frames measured by us).
    Collect,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state", content = "reason")]
pub enum TrialStatus {
    Ok,
    /// Cut short (the game exited); its frames are real but fewer.
    Partial(String),
    /// The config failed: it did not load or attach, or the kernel ejected
    /// it. It cannot win.
    Failed(String),
    /// No usable measurement, through no fault of the config: the game
    /// showed no frames (a loading screen, the player away), MangoHud's log
    /// failed, the CPUs kept changing (hotplug, suspend). Not a failure of
    /// the config: a loading screen that lands on one config's segment
    /// must not put it out of the tune for good. The config's next turn
    /// measures it.
    Unmeasured(String),
    /// Stopped by SIGINT/SIGTERM.
    Interrupted,
}

impl TrialStatus {
    pub fn is_ok(&self) -> bool {
        matches!(self, TrialStatus::Ok)
    }

    pub fn label(&self) -> &'static str {
        match self {
            TrialStatus::Ok => "ok",
            TrialStatus::Partial(_) => "partial",
            TrialStatus::Failed(_) => "failed",
            TrialStatus::Unmeasured(_) => "unmeasured",
            TrialStatus::Interrupted => "interrupted",
        }
    }

    pub fn reason(&self) -> Option<&str> {
        match self {
            TrialStatus::Partial(r) | TrialStatus::Failed(r) | TrialStatus::Unmeasured(r) => Some(r),
            _ => None,
        }
    }
}

/// How the scheduler change before this trial went.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SwitchInfo {
    /// Loading (verifier) the config, ms; None when a copy loaded for an
    /// earlier trial was attached again (`sched::pool`).
    pub load_ms: Option<f64>,
    /// Detaching the previous scheduler, ms.
    pub detach_ms: Option<f64>,
    /// Previous scheduler detached → this one attached, ms.
    pub gap_ms: Option<f64>,
}

/// What sched_ext said while the trial ran (read twice: mid-trial and at
/// its end), so a report can prove which scheduler the frames came from.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Observed {
    pub state_mid: Option<String>,
    pub ops_mid: Option<String>,
    pub state_end: Option<String>,
    pub ops_end: Option<String>,
}

impl Observed {
    /// The scx_gamer scheduler was attached at both readings.
    pub fn scx_gamer_attached(&self) -> bool {
        let on = |s: &Option<String>, o: &Option<String>| {
            s.as_deref() == Some("enabled") && o.as_deref().is_some_and(|o| o.starts_with("scx_gamer"))
        };
        on(&self.state_mid, &self.ops_mid) && on(&self.state_end, &self.ops_end)
    }

    /// No sched_ext scheduler at either reading.
    pub fn kernel_default(&self) -> bool {
        self.state_mid.as_deref() == Some("disabled") && self.state_end.as_deref() == Some("disabled")
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrialRecord {
    /// 1, 2, … within the store.
    pub id: u32,
    pub session: String,
    /// Trials of one block ran back to back around one baseline (drift
    /// control); ratios pair a config with its block's baseline.
    pub block: u32,
    pub kind: TrialKind,
    pub name: String,
    /// None for the baseline.
    pub config: Option<SchedConfig>,
    pub status: TrialStatus,
    pub started_at: String,
    pub ended_at: String,
    /// Planned measurement length (the search may ask for shorter trials).
    pub planned_secs: f64,
    pub measured_secs: f64,
    pub warmup_secs: f64,
    pub frames: FrameStats,
    /// `frames::sequence::encode_us`: the frame times in order.
    pub frame_times: Option<String>,
    pub bad_rows: u64,
    pub mangohud_log: Option<String>,
    /// Counters over the measured part of the trial.
    pub sched: Option<Metrics>,
    pub switch: SwitchInfo,
    pub observed: Observed,
    /// Measurements thrown away because the scheduler restarted during
    /// them (a CPU went offline or online); the frames are the last one's.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub remeasured: u32,
    /// CPU time during the measurement: the tuner's own and the game's
    /// (None in stores from before, and where the game's is unknown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<CpuUse>,
}

/// CPU time (s) over a trial: from its switch (a load, when the config
/// was not loaded yet) through its guard and measurement.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CpuUse {
    /// This process, every thread (the frame source, the stats reads, the
    /// store, and for `tune`/`attach` the scheduler's own userspace).
    pub tuner_secs: f64,
    /// The game's processes.
    pub game_secs: f64,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl TrialRecord {
    /// The config as `key=value,…`, or "kernel default".
    pub fn config_label(&self) -> String {
        self.config.map_or_else(|| "kernel default (no sched_ext)".to_string(), |c| c.to_string())
    }
}
