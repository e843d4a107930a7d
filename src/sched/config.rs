//! `SchedConfig`: every scheduler knob, its range, and its validation.
//!
//! The knobs become BPF rodata (`const volatile`), fixed when the program is
//! loaded. Each knob is declared once, in `for_each_knob!`: from that line
//! come the `SchedConfig` field, its default, its range and unit (`KNOBS`:
//! the CLI flags, trial files, CSV columns and error messages), its rodata
//! write (`sched::scheduler`), and the value a stored record from before the
//! knob existed ran with. Adding a knob: the BPF code, and one line here.

use std::fmt;
use std::str::FromStr;

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

/// The knob table. Each entry:
/// `doc; name: type = default, min..=max, "unit", bpf_rodata_field * scale,
/// absent value;` — the rodata field gets `name × scale`, and `absent` is
/// the value of a record (a store, a daemon request) that lacks the knob.
/// `for_each_knob!(m)` expands `m!` over the whole table.
#[macro_export]
macro_rules! for_each_knob {
    ($then:ident) => {
        $then! {
            /// Time slice a task gets when dispatched, µs.
            slice_us: u64 = 1000, 1..=100_000, "µs", slice_ns * 1_000, absent 1000;
            /// How long game threads stay boosted after an input event, µs (0: off).
            input_window_us: u64 = 5000, 0..=1_000_000, "µs", input_window_ns * 1_000, absent 5000;
            /// Most CPU changes per task per migration window (0: no limit).
            mig_max: u32 = 3, 0..=1_000, "migrations", mig_max * 1, absent 3;
            /// Length of the migration window, ms.
            mig_window_ms: u64 = 100, 1..=10_000, "ms", mig_window_ns * 1_000_000, absent 100;
            /// Deadline credit of game threads over other tasks, µs (doubled inside the input window).
            game_boost_us: u64 = 2000, 0..=100_000, "µs", game_boost_ns * 1_000, absent 2000;
            // Records from before this knob ran with equal shares: absent 1.
            /// CPU share of a game thread against a background task of the same nice level under contention (1: equal).
            game_weight: u32 = 2, 1..=64, "× a background task's share", game_weight * 1, absent 1;
            // Records from before this knob preempted only in the input window: absent 0.
            /// 1: a queued game thread with no idle CPU preempts a CPU that runs a background task at once, as inside the input window; 0: it waits for the next slice end there.
            wake_preempt: u32 = 0, 0..=1, "(0: only inside the input window, 1: always)", wake_preempt * 1, absent 0;
        }
    };
}

/// Name, inclusive range, unit, default and description of one knob.
pub struct Knob {
    pub name: &'static str,
    pub min: u64,
    pub max: u64,
    pub unit: &'static str,
    pub default: u64,
    pub doc: &'static str,
}

impl Knob {
    /// The command-line flag: `--slice-us` for `slice_us`.
    pub fn flag(&self) -> String {
        format!("--{}", self.name.replace('_', "-"))
    }
}

macro_rules! define_config {
    ($( #[doc = $doc:literal] $name:ident : $ty:ty = $default:expr, $min:literal ..= $max:literal, $unit:literal,
        $bpf:ident * $scale:literal, absent $absent:expr; )*) => {
        /// One scheduler configuration: what a tuner trial varies.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
        pub struct SchedConfig {
            $( #[doc = $doc] pub $name: $ty, )*
        }

        impl Default for SchedConfig {
            fn default() -> Self {
                Self { $( $name: $default, )* }
            }
        }

        /// The range of every knob, in the table's order. A slice of a few
        /// µs is legal (the old tuning script tried 5 µs); sched_ext then
        /// preempts at the next tick.
        pub const KNOBS: [Knob; [$(stringify!($name)),*].len()] = [
            $( Knob { name: stringify!($name), min: $min, max: $max, unit: $unit, default: $default, doc: $doc.trim_ascii() }, )*
        ];

        impl SchedConfig {
            /// Every knob's value, in `KNOBS` order.
            pub fn values(&self) -> [u64; KNOBS.len()] {
                [ $( u64::from(self.$name), )* ]
            }

            /// The value of knob `name`, or None for an unknown name.
            pub fn get(&self, name: &str) -> Option<u64> {
                match name {
                    $( stringify!($name) => Some(u64::from(self.$name)), )*
                    _ => None,
                }
            }

            /// Set knob `name` to `value` (range not checked here).
            pub fn set_value(&mut self, name: &str, value: u64) -> Result<()> {
                match name {
                    $( stringify!($name) => {
                        self.$name = <$ty>::try_from(value)
                            .map_err(|_| anyhow::anyhow!("{} = {value} is too large", stringify!($name)))?
                    } )*
                    other => bail!("unknown knob '{other}' (known: {})", KNOBS.map(|k| k.name).join(", ")),
                }
                Ok(())
            }
        }

        /// A stored config: unknown keys are errors, a missing knob has the
        /// value configs from before that knob ran with.
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Record {
            $( #[serde(default)] $name: Option<$ty>, )*
        }

        impl<'de> Deserialize<'de> for SchedConfig {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                let r = Record::deserialize(d)?;
                Ok(Self { $( $name: r.$name.unwrap_or($absent), )* })
            }
        }
    };
}

for_each_knob!(define_config);

impl SchedConfig {
    /// Check every knob against its range; the error names the knob, the
    /// value and the allowed range.
    pub fn validate(&self) -> Result<()> {
        for (knob, value) in KNOBS.iter().zip(self.values()) {
            if value < knob.min || value > knob.max {
                bail!("{} = {} is out of range: allowed {}..={} {}", knob.name, value, knob.min, knob.max, knob.unit);
            }
        }
        Ok(())
    }

    /// Set one knob by name from its text value (range not checked here).
    pub fn set(&mut self, name: &str, value: &str) -> Result<()> {
        let parsed: u64 = value.trim().parse().map_err(|_| anyhow::anyhow!("{name} = '{value}' is not a whole number"))?;
        self.set_value(name.trim(), parsed)
    }

    /// As `scx_gamer` flags, ready to paste.
    pub fn as_flags(&self) -> String {
        KNOBS.iter().zip(self.values()).map(|(k, v)| format!("{} {v}", k.flag())).collect::<Vec<_>>().join(" ")
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
        let parts: Vec<String> = KNOBS.iter().zip(self.values()).map(|(k, v)| format!("{}={}", k.name, v)).collect();
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
    fn the_table_is_the_struct_get_set_and_flags_agree() {
        let d = SchedConfig::default();
        for (k, v) in KNOBS.iter().zip(d.values()) {
            assert_eq!(k.default, v, "{}", k.name);
            assert_eq!(d.get(k.name), Some(v));
            assert!(k.min <= k.default && k.default <= k.max, "{}", k.name);
            assert!(!k.doc.is_empty(), "{}", k.name);
            let mut c = d;
            c.set_value(k.name, k.max).unwrap();
            assert_eq!(c.get(k.name), Some(k.max));
        }
        assert_eq!(d.get("nope"), None);
        assert_eq!(
            d.as_flags(),
            "--slice-us 1000 --input-window-us 5000 --mig-max 3 --mig-window-ms 100 --game-boost-us 2000 --game-weight 2 --wake-preempt 0"
        );
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
