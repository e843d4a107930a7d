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

use super::{ServeEnd, Switcher};
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

    fn serve(&mut self, until: Instant) -> Result<ServeEnd> {
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
                        return Ok(ServeEnd::Ejected(e));
                    }
                    other => return Err(anyhow!("unexpected answer from the scx_gamer service: {other:?}")),
                }
            }
            if now >= until {
                return Ok(ServeEnd::Done);
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

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Write};
    use std::os::unix::net::UnixListener;

    use super::*;

    /// A daemon that answers each request with the next of `answers`, then
    /// hangs up; returns its socket path (in `dir`).
    fn fake_daemon(dir: &std::path::Path, answers: Vec<String>) -> std::path::PathBuf {
        let path = dir.join("d.sock");
        let listener = UnixListener::bind(&path).unwrap();
        std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut writer = stream;
            for answer in answers {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    return;
                }
                writer.write_all(format!("{answer}\n").as_bytes()).unwrap();
            }
        });
        path
    }

    fn switcher(path: &std::path::Path) -> Daemon {
        Daemon::new(Client::connect(path, Duration::from_secs(5)).unwrap(), 42)
    }

    #[test]
    fn an_ejection_the_daemon_reports_ends_the_trial_with_its_reason() {
        let dir = tempfile::tempdir().unwrap();
        let reason = "no config is applied for you: reverted (the kernel ejected the scheduler: runnable task stall)";
        let answers = [Response::Ok("applied".into()), Response::Stats(Metrics::default()), Response::Error(reason.into())];
        let path = fake_daemon(dir.path(), answers.iter().map(|a| serde_json::to_string(a).unwrap()).collect());
        let mut d = switcher(&path);
        // Nothing really attached, so waiting for sched_ext's "enabled"
        // fails the trial; the config still counts as applied (the daemon
        // said so), which is what this test needs.
        let _ = d.switch(Some(&SchedConfig::default()), &mut SwitchInfo::default()).unwrap();
        assert!(d.stats().is_some(), "counters while applied");
        let served = d.serve(Instant::now() + Duration::from_secs(5)).unwrap();
        assert_eq!(served, ServeEnd::Ejected(reason.to_string()));
        // Nothing of ours is attached any more: no counters, nothing to revert.
        assert!(d.stats().is_none());
        d.finish().unwrap();
    }

    #[test]
    fn a_refused_config_fails_the_trial_and_a_lost_daemon_stops_the_tune() {
        let dir = tempfile::tempdir().unwrap();
        let path = fake_daemon(dir.path(), vec![r#"{"error":"busy: serving the game of uid 1001 (pid 7)"}"#.into()]);
        let mut d = switcher(&path);
        let failed = d.switch(Some(&SchedConfig::default()), &mut SwitchInfo::default()).unwrap().unwrap_err();
        assert!(failed.contains("refused") && failed.contains("busy"), "{failed}");
        // The fake daemon has hung up now.
        let lost = d.switch(Some(&SchedConfig::default()), &mut SwitchInfo::default()).unwrap_err();
        assert!(format!("{lost:#}").contains("lost the scx_gamer service"), "{lost:#}");
    }
}
