//! The in-process switcher of `tune` and `attach`: a fresh load of the BPF
//! scheduler per config, loaded while the previous one still runs the game,
//! then switched in (detach + attach, the gap timed).

use std::time::{Duration, Instant};

use anyhow::Result;
use log::warn;

use super::{ServeEnd, Switcher};
use crate::sched::scheduler::wait_for_state;
use crate::sched::session::{Session, ejection_error};
use crate::sched::{Metrics, SchedConfig, Scheduler};
use crate::store::SwitchInfo;

/// How long sched_ext may take to reach a state after a switch.
const STATE_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Local {
    session: Session,
    current: Option<Scheduler>,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn state(want: &'static str) -> Result<(), String> {
    wait_for_state(|s| s == want, STATE_TIMEOUT).map_err(|e| format!("{e:#}"))
}

impl Local {
    pub(crate) fn new(session: Session) -> Self {
        Self { session, current: None }
    }

    fn put_in_place(&mut self, config: Option<&SchedConfig>, sw: &mut SwitchInfo) -> Result<(), String> {
        let Some(config) = config else {
            if let Some(mut cur) = self.current.take() {
                sw.detach_ms = Some(ms(cur.detach().map_err(|e| format!("detaching: {e:#}"))?));
            }
            return state("disabled");
        };
        // Loaded while the previous config still runs the game.
        let mut next = Scheduler::load(config).map_err(|e| format!("load failed: {e:#}"))?;
        sw.load_ms = Some(ms(next.load_time()));
        if let Err(e) = self.session.sync_game(&next) {
            warn!("telling the scheduler the game's processes: {e:#}");
        }
        match self.current.take() {
            Some(mut cur) if cur.is_attached() => {
                let t = cur.switch_to(&mut next).map_err(|e| format!("switching: {e:#}"))?;
                sw.detach_ms = Some(ms(t.detach));
                sw.gap_ms = Some(ms(t.gap));
            }
            _ => {
                // From the kernel's scheduler: the gap is the attach.
                state("disabled")?;
                let t = Instant::now();
                next.attach().map_err(|e| format!("attach failed: {e:#}"))?;
                state("enabled")?;
                sw.gap_ms = Some(ms(t.elapsed()));
            }
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
