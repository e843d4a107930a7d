//! scx_gamer: a sched_ext CPU scheduler for games, and (in later modules) the
//! tuner that picks its config per game from MangoHud frame times.

pub mod bpf_intf;
mod bpf_skel;
pub mod frames;
pub mod mangohud;
pub mod report;
pub mod run;
pub mod sched;
