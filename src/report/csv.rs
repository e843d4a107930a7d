//! The trial table of a store as CSV: one row per trial, for spreadsheets
//! and notebooks.

use std::io::Write;

use anyhow::Result;

use crate::store::GameStore;

const HEADER: [&str; 27] = [
    "id", "session", "block", "kind", "name", "status", "reason", "slice_us", "input_window_us", "mig_max", "mig_window_ms",
    "game_boost_us", "game_weight", "wake_preempt", "started_at", "measured_secs", "frames", "avg_fps", "p50_ms", "p99_ms", "p999_ms", "low1_fps", "stutters",
    "migrations", "mig_blocked", "switch_gap_ms", "ops",
];

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

pub fn write<W: Write>(w: W, store: &GameStore) -> Result<()> {
    let mut out = csv::Writer::from_writer(w);
    out.write_record(HEADER)?;
    for t in &store.trials {
        let c = t.config;
        let f = &t.frames;
        out.write_record([
            t.id.to_string(),
            t.session.clone(),
            t.block.to_string(),
            format!("{:?}", t.kind).to_lowercase(),
            t.name.clone(),
            t.status.label().to_string(),
            t.status.reason().unwrap_or("").to_string(),
            opt(c.map(|c| c.slice_us)),
            opt(c.map(|c| c.input_window_us)),
            opt(c.map(|c| c.mig_max)),
            opt(c.map(|c| c.mig_window_ms)),
            opt(c.map(|c| c.game_boost_us)),
            opt(c.map(|c| c.game_weight)),
            opt(c.map(|c| c.wake_preempt)),
            t.started_at.clone(),
            format!("{:.3}", t.measured_secs),
            f.frames.to_string(),
            format!("{:.3}", f.avg_fps),
            format!("{:.3}", f.p50_ms),
            format!("{:.3}", f.p99_ms),
            format!("{:.3}", f.p999_ms),
            format!("{:.3}", f.low1_fps),
            f.stutters.to_string(),
            opt(t.sched.as_ref().map(|s| s.migrations)),
            opt(t.sched.as_ref().map(|s| s.mig_blocked)),
            opt(t.switch.gap_ms.map(|g| format!("{g:.3}"))),
            t.observed.ops_end.clone().unwrap_or_default(),
        ])?;
    }
    out.flush()?;
    Ok(())
}
