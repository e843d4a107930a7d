//! `SchedConfig`: every scheduler knob, its range, and its validation.
//!
//! The knobs become BPF rodata (`const volatile`), fixed when the program is
//! loaded. One table (`KNOBS`) names each knob's range and unit so the CLI,
//! trial files and error messages all agree.

use std::fmt;
use std::str::FromStr;

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

/// One scheduler configuration: what a tuner trial varies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SchedConfig {
    /// Time slice a task gets when dispatched, µs.
    pub slice_us: u64,
    /// How long game threads stay boosted after an input event, µs (0: off).
    pub input_window_us: u64,
    /// Most CPU changes per task per migration window (0: no limit).
    pub mig_max: u32,
    /// Length of the migration window, ms.
    pub mig_window_ms: u64,
    /// Deadline credit of game threads over other tasks, µs (doubled inside
    /// the input window).
    pub game_boost_us: u64,
    /// CPU share of a game thread against a background task of the same
    /// nice level under contention (1: equal). Absent from a record (stores
    /// and requests from before this knob): 1, what those configs ran with.
    #[serde(default = "weight_before_the_knob")]
    pub game_weight: u32,
    /// 1: a queued game thread with no idle CPU preempts a CPU that runs a
    /// background task at once, as inside the input window; 0: it waits for
    /// the next slice end there (preemption only inside the input window).
    /// Absent from a record: 0, what configs before this knob ran with.
    #[serde(default = "preempt_before_the_knob")]
    pub wake_preempt: u32,
}

fn weight_before_the_knob() -> u32 {
    1
}

fn preempt_before_the_knob() -> u32 {
    0
}

impl Default for SchedConfig {
    fn default() -> Self {
        Self {
            slice_us: 1000,
            input_window_us: 5000,
            mig_max: 3,
            mig_window_ms: 100,
            game_boost_us: 2000,
            game_weight: 2,
            wake_preempt: 0,
        }
    }
}

/// Name, inclusive range and unit of one knob.
pub struct Knob {
    pub name: &'static str,
    pub min: u64,
    pub max: u64,
    pub unit: &'static str,
}

/// The range of every knob. A slice of a few µs is legal (the old tuning
/// script tried 5 µs); sched_ext then preempts at the next tick.
pub const KNOBS: [Knob; 7] = [
    Knob { name: "slice_us", min: 1, max: 100_000, unit: "µs" },
    Knob { name: "input_window_us", min: 0, max: 1_000_000, unit: "µs" },
    Knob { name: "mig_max", min: 0, max: 1_000, unit: "migrations" },
    Knob { name: "mig_window_ms", min: 1, max: 10_000, unit: "ms" },
    Knob { name: "game_boost_us", min: 0, max: 100_000, unit: "µs" },
    Knob { name: "game_weight", min: 1, max: 64, unit: "× a background task's share" },
    Knob { name: "wake_preempt", min: 0, max: 1, unit: "(0: only inside the input window, 1: always)" },
];

impl SchedConfig {
    fn values(&self) -> [u64; 7] {
        [
            self.slice_us,
            self.input_window_us,
            u64::from(self.mig_max),
            self.mig_window_ms,
            self.game_boost_us,
            u64::from(self.game_weight),
            u64::from(self.wake_preempt),
        ]
    }

    /// Check every knob against its range; the error names the knob, the
    /// value and the allowed range.
    pub fn validate(&self) -> Result<()> {
        for (knob, value) in KNOBS.iter().zip(self.values()) {
            if value < knob.min || value > knob.max {
                bail!(
                    "{} = {} is out of range: allowed {}..={} {}",
                    knob.name,
                    value,
                    knob.min,
                    knob.max,
                    knob.unit
                );
            }
        }
        Ok(())
    }

    /// Set one knob by name from its text value (range not checked here).
    pub fn set(&mut self, name: &str, value: &str) -> Result<()> {
        let parsed: u64 = value.trim().parse().map_err(|_| {
            anyhow::anyhow!("{name} = '{value}' is not a whole number")
        })?;
        match name.trim() {
            "slice_us" => self.slice_us = parsed,
            "input_window_us" => self.input_window_us = parsed,
            "mig_max" => {
                self.mig_max = u32::try_from(parsed)
                    .map_err(|_| anyhow::anyhow!("mig_max = {parsed} is too large"))?
            }
            "mig_window_ms" => self.mig_window_ms = parsed,
            "game_boost_us" => self.game_boost_us = parsed,
            "game_weight" => {
                self.game_weight = u32::try_from(parsed)
                    .map_err(|_| anyhow::anyhow!("game_weight = {parsed} is too large"))?
            }
            "wake_preempt" => {
                self.wake_preempt = u32::try_from(parsed)
                    .map_err(|_| anyhow::anyhow!("wake_preempt = {parsed} is too large"))?
            }
            other => bail!(
                "unknown knob '{other}' (known: {})",
                KNOBS.map(|k| k.name).join(", ")
            ),
        }
        Ok(())
    }
}

/// `key=value,key=value` (unset knobs keep their defaults), validated.
impl FromStr for SchedConfig {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Self> {
        let mut cfg = SchedConfig::default();
        for pair in s.split(',').filter(|p| !p.trim().is_empty()) {
            let Some((key, value)) = pair.split_once('=') else {
                bail!("'{pair}' is not key=value (in config '{s}')");
            };
            cfg.set(key, value)?;
        }
        cfg.validate()?;
        Ok(cfg)
    }
}

/// The same `key=value,…` form `FromStr` reads.
impl fmt::Display for SchedConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = KNOBS
            .iter()
            .zip(self.values())
            .map(|(k, v)| format!("{}={}", k.name, v))
            .collect();
        f.write_str(&parts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid_and_round_trips_through_text() {
        let cfg = SchedConfig::default();
        cfg.validate().unwrap();
        assert_eq!(cfg.to_string().parse::<SchedConfig>().unwrap(), cfg);
    }

    #[test]
    fn parses_partial_configs_over_defaults() {
        let cfg: SchedConfig = "slice_us=5, mig_max=1".parse().unwrap();
        assert_eq!(cfg.slice_us, 5);
        assert_eq!(cfg.mig_max, 1);
        assert_eq!(cfg.input_window_us, SchedConfig::default().input_window_us);
    }

    #[test]
    fn out_of_range_names_knob_value_and_range() {
        let err = "slice_us=0".parse::<SchedConfig>().unwrap_err().to_string();
        assert!(err.contains("slice_us = 0"), "{err}");
        assert!(err.contains("1..=100000"), "{err}");
        let err = "mig_window_ms=10001".parse::<SchedConfig>().unwrap_err().to_string();
        assert!(err.contains("mig_window_ms = 10001"), "{err}");
    }

    #[test]
    fn bad_text_is_rejected_with_the_offending_part() {
        let err = "slice_us=abc".parse::<SchedConfig>().unwrap_err().to_string();
        assert!(err.contains("'abc' is not a whole number"), "{err}");
        let err = "slice=5".parse::<SchedConfig>().unwrap_err().to_string();
        assert!(err.contains("unknown knob 'slice'"), "{err}");
        let err = "slice_us".parse::<SchedConfig>().unwrap_err().to_string();
        assert!(err.contains("not key=value"), "{err}");
        let err = "mig_max=99999999999".parse::<SchedConfig>().unwrap_err().to_string();
        assert!(err.contains("too large"), "{err}");
    }

    #[test]
    fn serde_rejects_unknown_keys_and_fills_defaults() {
        let cfg: SchedConfig = serde_json::from_str(r#"{"slice_us": 7}"#).unwrap();
        assert_eq!(cfg.slice_us, 7);
        assert_eq!(cfg.mig_max, SchedConfig::default().mig_max);
        let err = serde_json::from_str::<SchedConfig>(r#"{"slice": 7}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field `slice`"), "{err}");
    }

    #[test]
    fn a_record_from_before_game_weight_ran_with_equal_shares() {
        let old: SchedConfig = serde_json::from_str(r#"{"slice_us": 500, "game_boost_us": 4000}"#).unwrap();
        assert_eq!(old.game_weight, 1);
        let new: SchedConfig = serde_json::from_str(&serde_json::to_string(&SchedConfig::default()).unwrap()).unwrap();
        assert_eq!(new, SchedConfig::default());
    }

    #[test]
    fn a_record_from_before_wake_preempt_preempted_only_in_the_input_window() {
        let old: SchedConfig = serde_json::from_str(r#"{"slice_us": 500, "game_weight": 2}"#).unwrap();
        assert_eq!(old.wake_preempt, 0);
        let cfg: SchedConfig = "wake_preempt=1".parse().unwrap();
        assert_eq!(cfg.wake_preempt, 1);
        let err = "wake_preempt=2".parse::<SchedConfig>().unwrap_err().to_string();
        assert!(err.contains("wake_preempt = 2") && err.contains("0..=1"), "{err}");
    }

    #[test]
    fn game_weight_is_a_knob_with_a_range() {
        let cfg: SchedConfig = "game_weight=8".parse().unwrap();
        assert_eq!(cfg.game_weight, 8);
        let err = "game_weight=0".parse::<SchedConfig>().unwrap_err().to_string();
        assert!(err.contains("game_weight = 0") && err.contains("1..=64"), "{err}");
        let err = "game_weight=65".parse::<SchedConfig>().unwrap_err().to_string();
        assert!(err.contains("game_weight = 65"), "{err}");
    }
}
