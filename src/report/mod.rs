//! `scx_gamer report`: what the data says, for players and scripts.

pub mod logs;
