//! `scx_gamer report`: what the data says, for players and scripts.
//! `rank` judges a store; `text`, `csv`, JSON (serde) and `html` print it;
//! `sparkline` draws frame times in a few characters for `text`. `compare`
//! (with `compare_md`) sets schedulers against each other for the benchmark.

pub mod compare;
pub mod compare_md;
pub mod csv;
pub mod game;
pub mod html;
pub mod logs;
pub mod rank;
pub mod sparkline;
pub mod text;
