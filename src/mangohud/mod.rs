//! Everything about MangoHud: its CSV logs, watching them appear and grow,
//! its control socket, and the environment that makes a game log for us.

pub mod config;
pub mod control;
pub mod env;
pub mod log;
pub mod open;
pub mod watch;
