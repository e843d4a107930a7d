//! The tuner: try scheduler configs on a running game, one fresh scheduler
//! load per trial, and score each by the game's frame times.
//!
//! trials (what to try) → search (in which order) → start (get the game's
//! frames flowing) → runner (the trial loop) → store; score is the
//! statistics the report and the search share.

pub mod collect;
pub mod during_play;
pub mod frame_source;
pub mod game_watch;
pub mod options;
pub mod plan;
pub mod progress;
pub mod race;
pub mod runner;
pub mod search;
pub mod space;
pub mod start;
pub mod switch;
pub mod trials;

pub use options::TuneOptions;
pub use start::{Outcome, attach, tune};
