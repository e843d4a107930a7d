//! The in-process switcher of `tune` and `attach`: each config's BPF
//! scheduler is loaded once, while the previous one still runs the game,
//! then switched in (detach + attach, the gap timed); switched out, it
//! waits in a `Pool` for its next turn (interleaved segments come back to
//! the same few configs round after round).

use std::time::{Duration, Instant};

use anyhow::Result;
use log::warn;

use super::{ServeEnd, Switcher};
use crate::sched::pool::Pool;
use crate::sched::scheduler::wait_for_state;
use crate::sched::session::{Session, ejection_error};
use crate::sched::{Metrics, SchedConfig, Scheduler};
use crate::store::SwitchInfo;

/// How long sched_ext may take to reach a state after a switch.
const STATE_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Local {
    session: Session,
    current: Option<Scheduler>,
    pool: Pool,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn state(want: &'static str) -> Result<(), String> {
    wait_for_state(|s| s == want, STATE_TIMEOUT).map_err(|e| format!("{e:#}"))
}

impl Local {
    pub(crate) fn new(session: Session) -> Self {
        Self { session, current: None, pool: Pool::default() }
    }

    fn put_in_place(&mut self, config: Option<&SchedConfig>, sw: &mut SwitchInfo) -> Result<(), String> {
        let Some(config) = config else {
            if let Some(mut cur) = self.current.take() {
                sw.detach_ms = Some(ms(cur.detach().map_err(|e| format!("detaching: {e:#}"))?));
                self.pool.put(cur);
            }
            return state("disabled");
        };
        // Its turn again right after its last one (a new round can start
        // with the contender that ended the previous one): it stays.
        if self.current.as_ref().is_some_and(|c| c.is_attached() && c.config() == config) {
            return Ok(());
        }
        // Loaded (or kept from its last turn) while the previous config
        // still runs the game.
        let taken = self.pool.take(config).map_err(|e| format!("load failed: {e:#}"))?;
        let mut next = taken.scheduler;
        sw.load_ms = taken.loaded.then(|| ms(next.load_time()));
        let from = self.current.as_ref().filter(|c| c.is_attached());
        if let Err(e) = self.session.hand_over(from, &next) {
            warn!("telling the scheduler the game's processes: {e:#}");
        }
        let switched = match self.current.take() {
            Some(mut cur) if cur.is_attached() => {
                let switched = cur.switch_to(&mut next);
                self.pool.put(cur);
                Some(switched.map_err(|e| format!("switching: {e:#}"))?)
            }
            _ => None,
        };
        let loaded_afresh = match switched {
            Some(t) => {
                sw.detach_ms = Some(ms(t.detach));
                sw.gap_ms = Some(ms(t.gap));
                t.loaded_afresh
            }
            None => {
                // From the kernel's scheduler: the gap is the attach.
                state("disabled")?;
                let t = Instant::now();
                let loaded_afresh = next.attach().map_err(|e| format!("attach failed: {e:#}"))?;
                state("enabled")?;
                sw.gap_ms = Some(ms(t.elapsed()));
                loaded_afresh
            }
        };
        // A kept copy the kernel would not link again was loaded in the gap.
        if loaded_afresh {
            sw.load_ms = Some(ms(next.load_time()));
        }
        self.current = Some(next);
        Ok(())
    }
}

impl Switcher for Local {
    /// Every failure here is the config's (or the kernel's) alone: the next
    /// trial may still work.
    fn switch(&mut self, config: Option<&SchedConfig>, sw: &mut SwitchInfo) -> Result<Result<(), String>> {
        Ok(self.put_in_place(config, sw))
    }

    fn serve(&mut self, until: Instant) -> Result<ServeEnd> {
        if self.session.serve(self.current.as_mut(), Some(until))? {
            return Ok(ServeEnd::Interrupted);
        }
        if let Some(cur) = self.current.as_ref().filter(|c| c.ejected()) {
            let reason = format!("{:#}", ejection_error(cur));
            self.current = None;
            return Ok(ServeEnd::Ejected(reason));
        }
        Ok(ServeEnd::Done)
    }

    fn stats(&mut self) -> Option<Metrics> {
        self.current.as_ref().map(Scheduler::stats)
    }

    fn finish(&mut self) -> Result<()> {
        match self.current.take() {
            Some(mut cur) => cur.detach().map(|_| ()),
            None => Ok(()),
        }
    }
}
