//! scx_gamer: a sched_ext CPU scheduler for games, and the tuner that picks
//! its config per game from MangoHud frame times.
//!
//! game → mangohud → frames → tune → store → report, with sched beside it.

pub mod bpf_intf;
mod bpf_skel;
pub mod daemon;
pub mod frames;
pub mod fs_user;
pub mod game;
pub mod launch;
pub mod mangohud;
pub mod procfs;
pub mod report;
pub mod run;
pub mod sched;
pub mod store;
#[cfg(test)]
mod testing;
pub mod tune;
pub mod verdict;
