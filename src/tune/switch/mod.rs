//! How the trial loop changes the scheduler. The loop itself only says
//! "this config now" / "the kernel's scheduler now" and reads counters;
//! who does it is a `Switcher`:
//!
//! - `local`: this process loads and attaches the BPF scheduler itself
//!   (`tune` and `attach`, run as root);
//! - `daemon`: the root daemon does it on request (`launch --tune`, run by
//!   the player), so the player never needs root.

pub mod daemon;
pub mod local;

use std::time::Instant;

use anyhow::Result;

use crate::sched::{Metrics, SchedConfig};
use crate::store::SwitchInfo;

/// How serving the scheduler for a while ended.
#[derive(Debug, PartialEq)]
pub enum ServeEnd {
    /// `until` came.
    Done,
    /// SIGINT/SIGTERM: stop the tune.
    Interrupted,
    /// The scheduler is gone (the kernel ejected it); the reason.
    Ejected(String),
}

pub trait Switcher {
    /// Put `config` in place, or the kernel's own scheduler for None.
    /// Ok(Err(reason)): this trial failed (the config did not load, the
    /// daemon refused it), the tune goes on; Err: the switcher itself is
    /// broken (the daemon went away), the tune stops. Timings go into `sw`
    /// when known.
    fn switch(&mut self, config: Option<&SchedConfig>, sw: &mut SwitchInfo) -> Result<Result<(), String>>;
    /// Keep the current scheduler running (fed with the game's processes
    /// and input) until `until`, or until something ends it early.
    fn serve(&mut self, until: Instant) -> Result<ServeEnd>;
    /// The attached config's counters since it was attached (None under
    /// the kernel's scheduler, or when they cannot be read).
    fn stats(&mut self) -> Option<Metrics>;
    /// Back to the kernel's scheduler at the end of the run.
    fn finish(&mut self) -> Result<()>;
}
