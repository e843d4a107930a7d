//! `ml_data/`: one JSON store per game with every trial ever run on it.

pub mod file;
pub mod record;

pub use file::{find_store, list_stores, store_path};
pub use record::{
    Choice, CpuUse, GameStore, MeasureMode, Observed, SessionInfo, SessionMode, SwitchInfo, SystemInfo, TrialKind, TrialRecord, TrialStatus,
};
