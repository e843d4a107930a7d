//! `Metrics`: the scheduler's counters, as served through scx_stats and
//! printed by `--stats`. The tuner scores configs alongside these.

use std::io::Write;

use anyhow::Result;
use scx_stats::prelude::*;
use scx_stats_derive::{Stats, stat_doc};
use serde::{Deserialize, Serialize};

#[stat_doc]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, Stats)]
#[stat(top)]
pub struct Metrics {
    #[stat(desc = "Tasks running on a CPU right now")]
    pub nr_running: u64,
    #[stat(desc = "Processes (tgids) scheduled as the game")]
    pub game_tgids: u64,
    #[stat(desc = "Dispatches straight to an idle CPU")]
    pub local_dispatches: u64,
    #[stat(desc = "Dispatches to a per-CPU queue (affinity or migration limit)")]
    pub cpu_dispatches: u64,
    #[stat(desc = "Dispatches to the shared queue")]
    pub shared_dispatches: u64,
    #[stat(desc = "Per-CPU kthread dispatches")]
    pub kthread_dispatches: u64,
    #[stat(desc = "Dispatches of game threads")]
    pub game_dispatches: u64,
    #[stat(desc = "Dispatches of game threads inside the input window")]
    pub boosted_dispatches: u64,
    #[stat(desc = "Input events signalled to the scheduler")]
    pub input_events: u64,
    #[stat(desc = "Tasks that ran on another CPU than the last time")]
    pub migrations: u64,
    #[stat(desc = "Tasks over their migration budget kept on their CPU")]
    pub mig_blocked: u64,
    #[stat(
        desc = "Tasks over budget let go because their CPU was busy (a queue; for a game thread also another game thread, or any task it may not preempt)"
    )]
    pub mig_saturated: u64,
    // (Absent from records made before these two: 0.)
    #[stat(desc = "Game threads among mig_blocked")]
    #[serde(default)]
    pub game_mig_blocked: u64,
    #[stat(desc = "Game threads among mig_saturated")]
    #[serde(default)]
    pub game_mig_saturated: u64,
    #[stat(desc = "CPUs running a non-game task preempted for a queued game thread (with --wake-preempt 1, or inside the input window)")]
    pub preempt_kicks: u64,
    #[stat(desc = "Wake-up kicks sent to a CPU for a queued task (SCX_KICK_IDLE: wakes the CPU if idle, a no-op if busy)")]
    pub idle_kicks: u64,
    #[stat(desc = "Tasks that used a whole slice and were still runnable")]
    pub slice_expired: u64,
    #[stat(desc = "Processes added to the game by fork inheritance")]
    pub game_forks: u64,
    #[stat(desc = "Times the scheduler came back after the kernel asked for a restart (CPU hotplug, suspend/resume)")]
    #[serde(default)]
    pub restarts: u64,
    #[stat(desc = "1: input seen in the kernel (fentry on input_event, every device); 0: read from /dev/input by userspace")]
    #[serde(default)]
    pub input_hook: u64,
    // Input delay, against evdev's stamp of the event (CLOCK_MONOTONIC),
    // sampled where the userspace reader can open /dev/input.
    #[stat(desc = "Input batches whose window the userspace reader opened, with a known event time")]
    #[serde(default)]
    pub input_delay_samples: u64,
    #[stat(desc = "Sum of their delays from evdev's stamp of the first event to the window opening (ns)")]
    #[serde(default)]
    pub input_delay_ns: u64,
    #[stat(desc = "Input batches whose window the in-kernel hook had opened, compared with evdev's stamp of their last event")]
    #[serde(default)]
    pub input_lead_samples: u64,
    #[stat(desc = "Sum of how long before evdev's stamp the hook had opened the window (ns)")]
    #[serde(default)]
    pub input_lead_ns: u64,
}

impl Metrics {
    /// Counters accumulated between `prev` and `self`; gauges (running
    /// tasks, game processes) keep their current value. Saturating, so a
    /// scheduler switch (counters restart at 0) gives 0, not garbage.
    pub fn delta(&self, prev: &Self) -> Self {
        Self {
            nr_running: self.nr_running,
            game_tgids: self.game_tgids,
            local_dispatches: self.local_dispatches.saturating_sub(prev.local_dispatches),
            cpu_dispatches: self.cpu_dispatches.saturating_sub(prev.cpu_dispatches),
            shared_dispatches: self.shared_dispatches.saturating_sub(prev.shared_dispatches),
            kthread_dispatches: self.kthread_dispatches.saturating_sub(prev.kthread_dispatches),
            game_dispatches: self.game_dispatches.saturating_sub(prev.game_dispatches),
            boosted_dispatches: self.boosted_dispatches.saturating_sub(prev.boosted_dispatches),
            input_events: self.input_events.saturating_sub(prev.input_events),
            migrations: self.migrations.saturating_sub(prev.migrations),
            mig_blocked: self.mig_blocked.saturating_sub(prev.mig_blocked),
            mig_saturated: self.mig_saturated.saturating_sub(prev.mig_saturated),
            game_mig_blocked: self.game_mig_blocked.saturating_sub(prev.game_mig_blocked),
            game_mig_saturated: self.game_mig_saturated.saturating_sub(prev.game_mig_saturated),
            preempt_kicks: self.preempt_kicks.saturating_sub(prev.preempt_kicks),
            idle_kicks: self.idle_kicks.saturating_sub(prev.idle_kicks),
            slice_expired: self.slice_expired.saturating_sub(prev.slice_expired),
            game_forks: self.game_forks.saturating_sub(prev.game_forks),
            restarts: self.restarts.saturating_sub(prev.restarts),
            input_hook: self.input_hook,
            input_delay_samples: self.input_delay_samples.saturating_sub(prev.input_delay_samples),
            input_delay_ns: self.input_delay_ns.saturating_sub(prev.input_delay_ns),
            input_lead_samples: self.input_lead_samples.saturating_sub(prev.input_lead_samples),
            input_lead_ns: self.input_lead_ns.saturating_sub(prev.input_lead_ns),
        }
    }

    /// Add `other`'s counters to these (gauges stay): the totals of a
    /// scheduler and the copies it replaced.
    pub fn add_counters(&mut self, other: &Self) {
        let sum = |a: u64, b: u64| a.wrapping_add(b);
        self.local_dispatches = sum(self.local_dispatches, other.local_dispatches);
        self.cpu_dispatches = sum(self.cpu_dispatches, other.cpu_dispatches);
        self.shared_dispatches = sum(self.shared_dispatches, other.shared_dispatches);
        self.kthread_dispatches = sum(self.kthread_dispatches, other.kthread_dispatches);
        self.game_dispatches = sum(self.game_dispatches, other.game_dispatches);
        self.boosted_dispatches = sum(self.boosted_dispatches, other.boosted_dispatches);
        self.input_events = sum(self.input_events, other.input_events);
        self.migrations = sum(self.migrations, other.migrations);
        self.mig_blocked = sum(self.mig_blocked, other.mig_blocked);
        self.mig_saturated = sum(self.mig_saturated, other.mig_saturated);
        self.game_mig_blocked = sum(self.game_mig_blocked, other.game_mig_blocked);
        self.game_mig_saturated = sum(self.game_mig_saturated, other.game_mig_saturated);
        self.preempt_kicks = sum(self.preempt_kicks, other.preempt_kicks);
        self.idle_kicks = sum(self.idle_kicks, other.idle_kicks);
        self.slice_expired = sum(self.slice_expired, other.slice_expired);
        self.game_forks = sum(self.game_forks, other.game_forks);
        self.restarts = sum(self.restarts, other.restarts);
        self.input_delay_samples = sum(self.input_delay_samples, other.input_delay_samples);
        self.input_delay_ns = sum(self.input_delay_ns, other.input_delay_ns);
        self.input_lead_samples = sum(self.input_lead_samples, other.input_lead_samples);
        self.input_lead_ns = sum(self.input_lead_ns, other.input_lead_ns);
    }

    /// Mean delay (µs) from an input event to the window the userspace
    /// reader opened for it; None without samples.
    pub fn input_delay_us(&self) -> Option<f64> {
        mean_us(self.input_delay_ns, self.input_delay_samples)
    }

    /// Mean time (µs) by which the in-kernel hook had opened the window
    /// before evdev stamped the event; None without samples.
    pub fn input_lead_us(&self) -> Option<f64> {
        mean_us(self.input_lead_ns, self.input_lead_samples)
    }

    /// All dispatches, whatever the queue.
    pub fn dispatches(&self) -> u64 {
        self.local_dispatches + self.cpu_dispatches + self.shared_dispatches + self.kthread_dispatches
    }

    /// One human-readable line.
    pub fn format<W: Write>(&self, w: &mut W) -> Result<()> {
        writeln!(
            w,
            "[scx_gamer] run {:>2} game {:>3} | disp local {} cpu {} shared {} kthr {} | game {} boost {} input {} | mig {} blocked {} sat {} (game {} {}) | kick preempt {} idle {} | slice-exp {} | restarts {} | input {} delay {} lead {}",
            self.nr_running,
            self.game_tgids,
            self.local_dispatches,
            self.cpu_dispatches,
            self.shared_dispatches,
            self.kthread_dispatches,
            self.game_dispatches,
            self.boosted_dispatches,
            self.input_events,
            self.migrations,
            self.mig_blocked,
            self.mig_saturated,
            self.game_mig_blocked,
            self.game_mig_saturated,
            self.preempt_kicks,
            self.idle_kicks,
            self.slice_expired,
            self.restarts,
            if self.input_hook == 1 { "kernel" } else { "evdev" },
            show_us(self.input_delay_us()),
            show_us(self.input_lead_us()),
        )?;
        Ok(())
    }
}

fn mean_us(sum_ns: u64, n: u64) -> Option<f64> {
    (n > 0).then(|| sum_ns as f64 / n as f64 / 1000.0)
}

fn show_us(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |us| format!("{us:.0}us"))
}

/// The scx_stats server's data: one "top" stat answering each client with the
/// counters since that client's previous request.
pub fn server_data() -> StatsServerData<(), Metrics> {
    let open: Box<dyn StatsOpener<(), Metrics>> = Box::new(move |(req_ch, res_ch)| {
        req_ch.send(())?;
        let mut prev = res_ch.recv()?;
        let read: Box<dyn StatsReader<(), Metrics>> = Box::new(move |_args, (req_ch, res_ch)| {
            req_ch.send(())?;
            let cur = res_ch.recv()?;
            let delta = cur.delta(&prev);
            prev = cur;
            delta.to_json()
        });
        Ok(read)
    });
    StatsServerData::new().add_meta(Metrics::meta()).add_ops("top", StatsOps { open, close: None })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delta_subtracts_counters_and_keeps_gauges() {
        let prev = Metrics { game_dispatches: 10, migrations: 4, nr_running: 9, ..Default::default() };
        let cur = Metrics { game_dispatches: 25, migrations: 4, nr_running: 2, game_tgids: 3, ..Default::default() };
        let d = cur.delta(&prev);
        assert_eq!(d.game_dispatches, 15);
        assert_eq!(d.migrations, 0);
        assert_eq!(d.nr_running, 2);
        assert_eq!(d.game_tgids, 3);
    }

    #[test]
    fn delta_after_a_switch_does_not_underflow() {
        let prev = Metrics { shared_dispatches: 1000, ..Default::default() };
        let cur = Metrics { shared_dispatches: 5, ..Default::default() };
        assert_eq!(cur.delta(&prev).shared_dispatches, 0);
    }

    #[test]
    fn a_restarted_schedulers_counters_read_on_from_the_old_ones() {
        let old = Metrics { game_dispatches: 100, nr_running: 3, game_tgids: 2, restarts: 1, ..Default::default() };
        let mut fresh = Metrics { game_dispatches: 5, nr_running: 1, game_tgids: 2, ..Default::default() };
        fresh.add_counters(&old);
        assert_eq!(fresh.game_dispatches, 105);
        assert_eq!(fresh.restarts, 1);
        // Gauges are the current copy's.
        assert_eq!((fresh.nr_running, fresh.game_tgids), (1, 2));
    }

    #[test]
    fn input_delay_and_lead_are_means_over_their_samples() {
        let m = Metrics { input_delay_samples: 4, input_delay_ns: 2_000_000, ..Default::default() };
        assert_eq!(m.input_delay_us(), Some(500.0));
        assert_eq!(m.input_lead_us(), None);
        let mut line = Vec::new();
        m.format(&mut line).unwrap();
        assert!(String::from_utf8(line).unwrap().ends_with("| input evdev delay 500us lead -\n"));
    }

    #[test]
    fn json_round_trip() {
        let m = Metrics { boosted_dispatches: 7, input_events: 2, ..Default::default() };
        let text = serde_json::to_string(&m).unwrap();
        assert_eq!(serde_json::from_str::<Metrics>(&text).unwrap(), m);
    }
}
