//! `ml_data/`: one JSON store per game with every trial ever run on it
//! (and, beside it, the journal of the trials recorded since it was last
//! written whole).

pub mod file;
pub mod journal;
pub mod record;

pub use file::{find_store, list_stores, store_path};
pub use journal::StoreWriter;
pub use record::{
    Choice, CpuUse, GameStore, MeasureMode, Observed, SessionInfo, SessionMode, SwitchInfo, SystemInfo, TrialKind, TrialRecord, TrialStatus,
};
