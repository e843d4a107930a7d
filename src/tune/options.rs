//! Every option of a tuning run, in one place, checked before anything
//! is launched.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Result, bail};

use super::search::Strategy;

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

    pub fn frames_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.frames_timeout_secs)
    }
}
