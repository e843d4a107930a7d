//! The decision: which frames are paired with which (a config's trial with
//! its block's baseline and defaults), the verdict on each config, and the
//! winner. `report` shows it; `launch` and the daemon act on it; the tuner
//! scores its search with it. Pure functions of a store.

pub mod choice;
pub mod rank;
pub mod score;
