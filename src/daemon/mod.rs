//! The privileged half of the Steam launch option: `scx_gamer daemon` owns
//! the scheduler; `scx_gamer launch` (run by Steam as the player) asks it
//! over a unix socket to apply a config for the player's own game.
//!
//! protocol (the wire format) → peer (who is asking; pidns: the pids it
//! names, from a pid namespace of its own) → server (the loop
//! that owns the scheduler, pausing scx_loader's for a game; admission:
//! how many connections a user may hold, how long one may say nothing);
//! client is what `launch` uses.

pub mod admission;
pub mod client;
pub mod peer;
pub mod pidns;
pub mod protocol;
pub mod scx_loader;
pub mod server;
pub mod settings;
