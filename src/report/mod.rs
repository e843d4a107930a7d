//! `scx_gamer report`: what the data says, for players and scripts.
//! `rank` judges a store; `text`, `csv` and JSON (serde) print it.

pub mod csv;
pub mod game;
pub mod logs;
pub mod rank;
pub mod text;
