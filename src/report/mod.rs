//! `scx_gamer report`: what the data says, for players and scripts.
//! `crate::verdict` judges a store; `text`, `csv`, JSON (serde) and `html`
//! print it; `sparkline` draws frame times in a few characters for `text`;
//! `logs` reads MangoHud logs for `report --log`. (The benchmark's tables
//! of schedulers against each other live with the benchmark:
//! `examples/bench_tables/`.)

pub mod csv;
pub mod html;
pub mod logs;
pub mod ranking;
pub mod sparkline;
pub mod text;
