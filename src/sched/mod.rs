//! The sched_ext scheduler: its config, loading and switching, stats, and
//! the inputs it reacts to (the game's processes, input devices), and the
//! session that serves them.

pub use crate::bpf_intf;
pub(crate) use crate::bpf_skel;

pub mod config;
pub mod game_tree;
pub mod input;
pub mod pool;
pub mod preflight;
pub mod rt_switch;
pub mod scheduler;
pub mod session;
pub mod stats;

pub use config::SchedConfig;
pub use scheduler::{Scheduler, SwitchTiming};
pub use stats::Metrics;
