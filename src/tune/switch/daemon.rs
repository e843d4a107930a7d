//! The switcher of `launch --tune`: the player's wrapper asks the root
//! daemon (`scx_gamer daemon`) to apply each config for the game's pid and
//! to revert for the baseline. The daemon does the loading and attaching,
//! so the player never needs root; it only accepts knob values for the
//! caller's own game.
//!
//! The daemon times nothing for us, so these trials carry no switch
//! timings. An ejection is noticed through `stats`: the daemon reverts an
//! ejected scheduler and answers the next `stats` with the reason.

use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};

use super::{Served, Switcher};
use crate::daemon::client::Client;
use crate::daemon::protocol::{Request, Response};
use crate::sched::scheduler::wait_for_state;
use crate::sched::{Metrics, SchedConfig};
use crate::store::SwitchInfo;

/// How often a running trial asks whether its config is still attached.
const POLL: Duration = Duration::from_secs(1);
/// How long sched_ext may take to reach a state after the daemon switched.
const STATE_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Daemon {
    client: Client,
    /// The game: the daemon applies configs for its process tree.
    pid: u32,
    /// A config of ours is attached (as far as we know).
    applied: bool,
    next_poll: Instant,
}

fn broken(e: anyhow::Error) -> anyhow::Error {
    e.context("lost the scx_gamer service")
}

impl Daemon {
    pub fn new(client: Client, pid: u32) -> Self {
        Self { client, pid, applied: false, next_poll: Instant::now() }
    }

    /// The connection, to keep a final config applied until the game exits
    /// (the daemon reverts when it closes).
    pub fn into_client(self) -> Client {
        self.client
    }

    fn ask(&mut self, req: &Request) -> Result<Response> {
        self.client.request(req).map_err(broken)
    }
}

impl Switcher for Daemon {
    fn switch(&mut self, config: Option<&SchedConfig>, _sw: &mut SwitchInfo) -> Result<Result<(), String>> {
        let Some(config) = config else {
            if self.applied {
                self.applied = false;
                if let Response::Error(e) = self.ask(&Request::Revert)? {
                    return Ok(Err(format!("the scx_gamer service did not revert: {e}")));
                }
            }
            return Ok(wait_for_state(|s| s == "disabled", STATE_TIMEOUT).map_err(|e| format!("{e:#}")));
        };
        match self.ask(&Request::Apply { pid: self.pid, config: *config })? {
            Response::Ok(_) => {}
            Response::Error(e) => {
                // A refused apply leaves the previous config or none; which
                // one does not matter, the next switch replaces it.
                return Ok(Err(format!("the scx_gamer service refused {config}: {e}")));
            }
            other => return Err(anyhow!("unexpected answer from the scx_gamer service: {other:?}")),
        }
        self.applied = true;
        self.next_poll = Instant::now() + POLL;
        Ok(wait_for_state(|s| s == "enabled", STATE_TIMEOUT).map_err(|e| format!("{e:#}")))
    }

    fn serve(&mut self, until: Instant) -> Result<Served> {
        // The daemon feeds the scheduler; here there is only waiting, and
        // now and then checking our config is still the one attached.
        loop {
            let now = Instant::now();
            if self.applied && now >= self.next_poll {
                self.next_poll = now + POLL;
                match self.ask(&Request::Stats)? {
                    Response::Stats(_) => {}
                    Response::Error(e) => {
                        self.applied = false;
                        return Ok(Served::Ejected(e));
                    }
                    other => return Err(anyhow!("unexpected answer from the scx_gamer service: {other:?}")),
                }
            }
            if now >= until {
                return Ok(Served::Done);
            }
            let wake = if self.applied { until.min(self.next_poll) } else { until };
            std::thread::sleep(wake.saturating_duration_since(now));
        }
    }

    fn stats(&mut self) -> Option<Metrics> {
        if !self.applied {
            return None;
        }
        match self.ask(&Request::Stats) {
            Ok(Response::Stats(m)) => Some(m),
            _ => None,
        }
    }

    fn finish(&mut self) -> Result<()> {
        if std::mem::take(&mut self.applied)
            && let Response::Error(e) = self.ask(&Request::Revert)?
        {
            return Err(anyhow!("the scx_gamer service did not revert: {e}"));
        }
        Ok(())
    }
}
