//! The ranking as a table for the terminal: verdicts in colour when the
//! output is a terminal (and `NO_COLOR` is not set), and a sparkline of
//! each config's frame times, one short run per trial.

use std::ffi::OsStr;
use std::io::{IsTerminal, Write};

use anyhow::Result;

use super::html::data::{row_trials, trial_frames};
use super::sparkline::per_trial;
use crate::store::GameStore;
use crate::verdict::rank::{ConfigRow, Ranking};
use crate::verdict::score::{Interval, Verdict};

/// Characters of sparkline per config.
const SPARK_WIDTH: usize = 16;

/// How the table is dressed.
#[derive(Clone, Debug, Default)]
pub struct Style {
    /// ANSI colours on the verdicts.
    pub color: bool,
    /// One sparkline per ranking row; empty: no sparkline column.
    pub sparklines: Vec<String>,
}

/// Colour only for a person at a terminal: not into pipes and files, and
/// never when `NO_COLOR` is set to anything but the empty string
/// (no-color.org's convention).
pub fn color_wanted(is_tty: bool, no_color: Option<&OsStr>) -> bool {
    is_tty && no_color.is_none_or(|v| v.is_empty())
}

impl Style {
    /// For stdout: colour as `color_wanted` says, sparklines from `store`.
    pub fn for_stdout(store: &GameStore, ranking: &Ranking) -> Result<Self> {
        let color = color_wanted(std::io::stdout().is_terminal(), std::env::var_os("NO_COLOR").as_deref());
        Ok(Self { color, sparklines: sparklines(store, ranking)? })
    }
}

/// Each row's trials as sparklines on one scale shared by the whole table
/// (fastest to slowest frame of any trial), so rows compare at a glance.
pub fn sparklines(store: &GameStore, ranking: &Ranking) -> Result<Vec<String>> {
    let frames = trial_frames(store)?;
    let all = frames.iter().flat_map(|f| f.ms.iter().copied());
    let (lo, hi) = all.fold((f64::MAX, f64::MIN), |(lo, hi), x| (lo.min(x), hi.max(x)));
    Ok(ranking
        .rows
        .iter()
        .map(|row| {
            let trials: Vec<&[f64]> = row_trials(&frames, row).into_iter().map(|f| f.ms.as_slice()).collect();
            per_trial(&trials, SPARK_WIDTH, lo, hi)
        })
        .collect())
}

fn ci(i: &Interval, digits: usize) -> String {
    if i.low.is_finite() && i.high.is_finite() {
        format!("{:.d$} [{:.d$}–{:.d$}]", i.estimate, i.low, i.high, d = digits)
    } else if i.estimate.is_finite() {
        format!("{:.d$}", i.estimate, d = digits)
    } else {
        "–".into()
    }
}

/// `text` in an SGR colour when `on`. Only unpadded text (the last column,
/// whole lines) is coloured, so escape codes never shift the columns.
fn paint(text: &str, sgr: &str, on: bool) -> String {
    if on && !sgr.is_empty() { format!("\x1b[{sgr}m{text}\x1b[0m") } else { text.to_string() }
}

fn verdict_sgr(row: &ConfigRow) -> &'static str {
    if row.config.is_none() {
        return "";
    }
    match row.verdict {
        Verdict::Better => "1;32",
        Verdict::Worse => "31",
        Verdict::FpsLoss => "33",
        Verdict::Failed => "1;31",
        Verdict::NoSignificantDifference | Verdict::NoBaseline | Verdict::TooFewPairs => "2",
    }
}

/// The table without colour or sparklines.
pub fn write<W: Write>(w: &mut W, r: &Ranking) -> Result<()> {
    write_styled(w, r, &Style::default())
}

pub fn write_styled<W: Write>(w: &mut W, r: &Ranking, style: &Style) -> Result<()> {
    let on = style.color;
    writeln!(w, "game: {} (exe {})", r.game.key, r.game.exe)?;
    if let Some(s) = &r.system {
        let mh = s.mangohud_version.as_deref().unwrap_or("unknown");
        writeln!(w, "system: kernel {}, {} ({} CPUs), MangoHud {mh}", s.kernel, s.cpu, s.cpus)?;
    }
    if let Some(share) = r.tuner_cpu_share {
        writeln!(w, "tuner CPU: {:.1} % of the game's while measuring", share * 100.0)?;
    }
    let spark_w = style.sparklines.iter().map(|s| s.chars().count()).max().unwrap_or(0).max("frames".len());
    let spark = |i: usize| style.sparklines.get(i).map_or(String::new(), |s| format!("{s:<spark_w$} "));
    let spark_head = if style.sparklines.is_empty() { String::new() } else { format!("{:<spark_w$} ", "frames") };
    writeln!(
        w,
        "{:<4} {:<20} {spark_head}{:>6} {:>22} {:>20} {:>8} {:>8} {:>7} {:>8} {:>8} {:>9} {:>10}  verdict",
        "rank",
        "config",
        "trials",
        "p99 ms [95% CI]",
        "p99 ÷ baseline",
        "p50 ms",
        "avg fps",
        "fps ×",
        "1% low",
        "0.1% low",
        "stutters",
        "mig blocked"
    )?;
    for (i, row) in r.rows.iter().enumerate() {
        let s = &row.stats;
        let ratio = row.p99_ratio.as_ref().map_or("–".into(), |x| ci(x, 3));
        let fps = row.fps_ratio.map_or("–".into(), |f| format!("{f:.3}"));
        let blocked = row.sched.as_ref().map_or("–".into(), |x| x.mig_blocked.to_string());
        let unverified = if row.verified { "" } else { " (scheduler not verified attached)" };
        let verdict = if row.config.is_none() { "baseline (kernel scheduler)" } else { row.verdict.text() };
        writeln!(
            w,
            "{:<4} {:<20} {}{:>6} {:>22} {:>20} {:>8.2} {:>8.1} {:>7} {:>8.1} {:>8.1} {:>9} {:>10}  {}{unverified}",
            i + 1,
            row.name,
            spark(i),
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
            paint(verdict, verdict_sgr(row), on),
        )?;
        for f in &row.failures {
            writeln!(w, "       {}", paint(f, "31", on))?;
        }
    }
    match r.best() {
        Some((row, true)) => writeln!(
            w,
            "\n{}\n  scx_gamer {}",
            paint(&format!("best: {} beats the kernel's scheduler beyond the noise", row.name), "1;32", on),
            row.config.unwrap_or_default().as_flags()
        )?,
        Some((row, false)) => writeln!(
            w,
            "\n{}: no config beats the kernel's scheduler beyond the noise (best measured: {})",
            paint("no significant difference", "1", on),
            row.name
        )?,
        None => writeln!(w, "\nno config has been measured successfully yet")?,
    }
    if let Some(name) = &r.passed_over {
        writeln!(w, "  ({name} ranked higher, but it does not beat the default config beyond the noise)")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_only_for_a_terminal_without_no_color() {
        assert!(color_wanted(true, None));
        assert!(!color_wanted(false, None));
        assert!(!color_wanted(true, Some(OsStr::new("1"))));
        // An empty NO_COLOR does not count (no-color.org).
        assert!(color_wanted(true, Some(OsStr::new(""))));
    }

    #[test]
    fn paint_wraps_only_when_on() {
        assert_eq!(paint("better", "1;32", true), "\x1b[1;32mbetter\x1b[0m");
        assert_eq!(paint("better", "1;32", false), "better");
        assert_eq!(paint("x", "", true), "x");
    }
}
