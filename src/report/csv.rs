//! The trial table of a store as CSV: one row per trial, for spreadsheets
//! and notebooks.

use std::io::Write;

use anyhow::Result;

use crate::sched::config::KNOBS;
use crate::store::GameStore;

/// Columns before the knobs, the knobs (`KNOBS`, in order), and after.
const BEFORE: [&str; 7] = ["id", "session", "block", "kind", "name", "status", "reason"];
const AFTER: [&str; 13] = [
    "started_at",
    "measured_secs",
    "frames",
    "avg_fps",
    "p50_ms",
    "p99_ms",
    "p999_ms",
    "low1_fps",
    "stutters",
    "migrations",
    "mig_blocked",
    "switch_gap_ms",
    "ops",
];

fn header() -> Vec<&'static str> {
    BEFORE.into_iter().chain(KNOBS.iter().map(|k| k.name)).chain(AFTER).collect()
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

pub fn write<W: Write>(w: W, store: &GameStore) -> Result<()> {
    let mut out = csv::Writer::from_writer(w);
    out.write_record(header())?;
    for t in &store.trials {
        let c = t.config;
        let f = &t.frames;
        let before = [
            t.id.to_string(),
            t.session.clone(),
            t.block.to_string(),
            format!("{:?}", t.kind).to_lowercase(),
            t.name.clone(),
            t.status.label().to_string(),
            t.status.reason().unwrap_or("").to_string(),
        ];
        // The baseline has no config: empty knob cells.
        let knobs = c.map_or_else(|| vec![String::new(); KNOBS.len()], |c| c.values().map(|v| v.to_string()).to_vec());
        let after = [
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
        ];
        out.write_record(before.into_iter().chain(knobs).chain(after))?;
    }
    out.flush()?;
    Ok(())
}
