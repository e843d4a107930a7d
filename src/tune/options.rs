//! Every option of a tuning run, in one place, checked before anything
//! is launched.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Result, bail};

use super::search::Strategy;
use crate::store::MeasureMode;

/// Blocks: the measured length of a trial, by default (seconds).
pub const DEFAULT_TRIAL_SECS: f64 = 120.0;
/// Blocks: frames not measured after a switch, by default (seconds).
pub const DEFAULT_WARMUP_SECS: f64 = 10.0;
/// Interleaved: frames not measured after a switch, by default (seconds):
/// a switch disturbed the frames for under 0.75 s in the VM, by kind of
/// switch (BENCHMARKS.md "The guard after a switch"); 1 s keeps a margin.
pub const DEFAULT_GUARD_SECS: f64 = 1.0;
/// Interleaved: the play time a tune keeps within, by default (minutes):
/// no round starts that would end past it.
pub const DEFAULT_BUDGET_MINS: f64 = 10.0;
/// The longest play-time budget (minutes): a day. `launch --tune`'s, whose
/// race ends when decided.
pub const MAX_BUDGET_MINS: f64 = 1440.0;

#[derive(Clone, Debug)]
pub struct TuneOptions {
    pub trials_file: PathBuf,
    /// Measured length of a full trial.
    pub trial_secs: f64,
    /// Frames right after a switch are not measured for this long.
    pub warmup_secs: f64,
    pub repeats: u32,
    pub search: Strategy,
    pub max_trials: Option<usize>,
    /// Seeds the trial order and the search: a run can be repeated exactly.
    pub seed: u64,
    pub data_dir: PathBuf,
    /// Measure the kernel's own scheduler in every block.
    pub baseline: bool,
    /// Give up when the game shows no frames for this long at the start.
    pub frames_timeout_secs: f64,
    pub input_dir: PathBuf,
    /// Blocks of long trials, or interleaved rounds of short segments.
    pub measure: MeasureMode,
    /// Interleaved: a segment's measured length; None: from the game's
    /// frame rate (`runner::segment_for`).
    pub segment_secs: Option<f64>,
    /// Interleaved: frames right after a switch are not measured for this
    /// long (the switch's own disturbance).
    pub guard_secs: f64,
    /// Interleaved: the play time (minutes, from the first segment) after
    /// which no new round starts.
    pub budget_mins: f64,
}

fn secs(value: f64, flag: &str, min: f64, max: f64) -> Result<Duration> {
    if !value.is_finite() || value < min || value > max {
        bail!("{flag} {value}: give seconds in [{min}, {max}]");
    }
    Ok(Duration::from_secs_f64(value))
}

impl TuneOptions {
    pub fn validate(&self) -> Result<()> {
        secs(self.trial_secs, "--trial-secs", 1.0, 86_400.0)?;
        secs(self.warmup_secs, "--warmup-secs", 0.0, 3_600.0)?;
        secs(self.frames_timeout_secs, "--frames-timeout", 1.0, 3_600.0)?;
        if !(1..=100).contains(&self.repeats) {
            bail!("--repeats {}: give 1..=100", self.repeats);
        }
        if let Some(s) = self.segment_secs {
            secs(s, "--segment-secs", 1.0, 600.0)?;
        }
        secs(self.guard_secs, "--guard-secs", 0.0, 60.0)?;
        if !self.budget_mins.is_finite() || !(0.5..=MAX_BUDGET_MINS).contains(&self.budget_mins) {
            bail!("--budget-mins {}: give minutes in [0.5, {MAX_BUDGET_MINS}]", self.budget_mins);
        }
        if self.max_trials == Some(0) {
            bail!("--max-trials 0: give at least 1");
        }
        Ok(())
    }

    pub fn trial(&self) -> Duration {
        Duration::from_secs_f64(self.trial_secs)
    }

    pub fn warmup(&self) -> Duration {
        Duration::from_secs_f64(self.warmup_secs)
    }

    pub fn guard(&self) -> Duration {
        Duration::from_secs_f64(self.guard_secs)
    }

    pub fn budget(&self) -> Duration {
        Duration::from_secs_f64(self.budget_mins * 60.0)
    }

    pub fn frames_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.frames_timeout_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> TuneOptions {
        TuneOptions {
            trials_file: "trials/ci.toml".into(),
            trial_secs: 120.0,
            warmup_secs: 10.0,
            repeats: 2,
            search: Strategy::Grid,
            max_trials: None,
            seed: 1,
            data_dir: "ml_data".into(),
            baseline: true,
            frames_timeout_secs: 60.0,
            input_dir: "/dev/input".into(),
            measure: MeasureMode::Interleaved,
            segment_secs: None,
            guard_secs: 1.0,
            budget_mins: 10.0,
        }
    }

    #[test]
    fn interleaved_values_out_of_range_name_their_flag() {
        assert!(opts().validate().is_ok());
        let err = |o: TuneOptions| format!("{:#}", o.validate().unwrap_err());
        assert!(err(TuneOptions { segment_secs: Some(0.5), ..opts() }).contains("--segment-secs 0.5"));
        assert!(err(TuneOptions { guard_secs: -1.0, ..opts() }).contains("--guard-secs -1"));
        assert!(err(TuneOptions { budget_mins: 0.0, ..opts() }).contains("--budget-mins 0"));
        assert!(err(TuneOptions { budget_mins: f64::NAN, ..opts() }).contains("--budget-mins NaN"));
    }
}
