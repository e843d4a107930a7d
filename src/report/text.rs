//! The ranking as a table for the terminal.

use std::io::Write;

use anyhow::Result;

use super::rank::{Ranking, as_flags};
use crate::tune::score::Interval;

fn ci(i: &Interval, digits: usize) -> String {
    if i.low.is_finite() && i.high.is_finite() {
        format!("{:.d$} [{:.d$}–{:.d$}]", i.estimate, i.low, i.high, d = digits)
    } else if i.estimate.is_finite() {
        format!("{:.d$}", i.estimate, d = digits)
    } else {
        "–".into()
    }
}

pub fn write<W: Write>(w: &mut W, r: &Ranking) -> Result<()> {
    writeln!(w, "game: {} (exe {})", r.game.key, r.game.exe)?;
    if let Some(s) = &r.system {
        let mh = s.mangohud_version.as_deref().unwrap_or("unknown");
        writeln!(w, "system: kernel {}, {} ({} CPUs), MangoHud {mh}", s.kernel, s.cpu, s.cpus)?;
    }
    writeln!(
        w,
        "{:<4} {:<20} {:>6} {:>22} {:>20} {:>8} {:>8} {:>7} {:>8} {:>8} {:>9} {:>10}  verdict",
        "rank", "config", "trials", "p99 ms [95% CI]", "p99 ÷ baseline", "p50 ms", "avg fps", "fps ×", "1% low", "0.1% low", "stutters", "mig blocked"
    )?;
    for (i, row) in r.rows.iter().enumerate() {
        let s = &row.stats;
        let ratio = row.p99_ratio.as_ref().map_or("–".into(), |x| ci(x, 3));
        let fps = row.fps_ratio.map_or("–".into(), |f| format!("{f:.3}"));
        let blocked = row.sched.as_ref().map_or("–".into(), |x| x.mig_blocked.to_string());
        let unverified = if row.verified { "" } else { " (scheduler not verified attached)" };
        writeln!(
            w,
            "{:<4} {:<20} {:>6} {:>22} {:>20} {:>8.2} {:>8.1} {:>7} {:>8.1} {:>8.1} {:>9} {:>10}  {}{unverified}",
            i + 1,
            row.name,
            format!("{}/{}", row.ok_trials, row.trials),
            ci(&row.p99_ms, 2),
            ratio,
            s.p50_ms,
            s.avg_fps,
            fps,
            s.low1_fps,
            s.low01_fps,
            s.stutters,
            blocked,
            if row.config.is_none() { "baseline (kernel scheduler)" } else { row.verdict.text() },
        )?;
        for f in &row.failures {
            writeln!(w, "       {f}")?;
        }
    }
    match r.best() {
        Some((row, true)) => writeln!(w, "\nbest: {} beats the kernel's scheduler beyond the noise\n  scx_gamer {}", row.name, as_flags(&row.config.unwrap_or_default()))?,
        Some((row, false)) => writeln!(
            w,
            "\nno significant difference: no config beats the kernel's scheduler beyond the noise (best measured: {})",
            row.name
        )?,
        None => writeln!(w, "\nno config has been measured successfully yet")?,
    }
    Ok(())
}
