//! `scx_gamer report --log FILE...`: frame statistics of MangoHud logs.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::Serialize;

use crate::frames::{FrameSeries, FrameStats};
use crate::mangohud::log::{self, FrametimeSource};

/// One log's report; the JSON form of `report --log --json`.
#[derive(Clone, Debug, Serialize)]
pub struct LogReport {
    pub file: PathBuf,
    #[serde(flatten)]
    pub stats: FrameStats,
    /// One row per sampling interval, not per frame: percentiles describe
    /// samples, not frames. `null` when the log has too few rows to tell.
    pub sampled: Option<bool>,
    pub bad_rows: u64,
    pub dropped_first_rows: u64,
    pub mangohud_version: Option<String>,
    pub frametime_source: Option<FrametimeSource>,
    pub logs_in_file: u32,
    pub cpu: Option<String>,
    pub kernel: Option<String>,
}

pub fn report_file(path: &Path) -> Result<LogReport> {
    let (series, parser) = stats_of(path)?;
    let meta = parser.meta().clone();
    Ok(LogReport {
        file: path.to_path_buf(),
        stats: series.stats(),
        sampled: meta.sampled,
        bad_rows: parser.bad_rows().count,
        dropped_first_rows: parser.dropped_first_rows(),
        mangohud_version: meta.mangohud_version,
        frametime_source: meta.frametime_source,
        logs_in_file: meta.segments,
        cpu: meta.cpu,
        kernel: meta.kernel,
    })
}

/// A log's frames as a series (statistics and histogram).
pub fn series_of(path: &Path) -> Result<FrameSeries> {
    Ok(stats_of(path)?.0)
}

/// Parse a log and take its statistics. The statistics run on a thread of
/// their own, fed the frame times in batches as the parser (and its reader
/// thread) produce them: the same frames in the same order as in line, so
/// the same numbers. Without a thread (spawning failed) they run in line.
fn stats_of(path: &Path) -> Result<(FrameSeries, log::LogParser)> {
    use std::sync::mpsc;
    std::thread::scope(|scope| {
        // Batches of frame times one way (a few in flight), empty ones back.
        let (batch_tx, batch_rx) = mpsc::sync_channel::<Vec<u64>>(4);
        let (empty_tx, empty_rx) = mpsc::channel::<Vec<u64>>();
        let worker = std::thread::Builder::new()
            .name("log-stats".into())
            .spawn_scoped(scope, move || {
                let mut series = FrameSeries::default();
                for batch in batch_rx {
                    batch.iter().for_each(|&ns| series.push(ns));
                    let _ = empty_tx.send(batch);
                }
                series
            })
            .ok();
        let Some(worker) = worker else {
            let mut series = FrameSeries::default();
            let parser = log::stream_file(path, |frames| frames.iter().for_each(|f| series.push(f.frametime_ns)))?;
            return Ok((series, parser));
        };
        let parsed = log::stream_file(path, |frames| {
            if frames.is_empty() {
                return;
            }
            let mut batch = empty_rx.try_recv().unwrap_or_default();
            batch.clear();
            batch.extend(frames.iter().map(|f| f.frametime_ns));
            let _ = batch_tx.send(batch); // fails only if the worker died (below)
        });
        drop(batch_tx); // the worker's loop ends when the batches do
        let series = worker.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        Ok((series, parsed?))
    })
}

pub fn write_text<W: Write>(w: &mut W, r: &LogReport) -> Result<()> {
    let s = &r.stats;
    writeln!(w, "{}", r.file.display())?;
    let version = r.mangohud_version.as_deref().unwrap_or("unknown");
    let kind = match r.sampled {
        Some(true) => "SAMPLED (one row per interval, not per frame)",
        Some(false) => "per frame",
        None => "too short to tell per-frame from sampled",
    };
    writeln!(w, "  MangoHud {version}, {kind}; {} bad rows, {} logs in file", r.bad_rows, r.logs_in_file)?;
    writeln!(w, "  frames {:>8}   duration {:>8.1} s   avg {:>8.1} fps", s.frames, s.duration_s, s.avg_fps)?;
    writeln!(
        w,
        "  frame time ms: p50 {:.2}  p90 {:.2}  p95 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}  stddev {:.2}",
        s.p50_ms, s.p90_ms, s.p95_ms, s.p99_ms, s.p999_ms, s.max_ms, s.stddev_ms
    )?;
    writeln!(
        w,
        "  lows fps: 1% {:.1}  0.1% {:.1} (percentile)   1% {:.1}  0.1% {:.1} (avg of worst)",
        s.low1_fps, s.low01_fps, s.low1_avg_fps, s.low01_avg_fps
    )?;
    writeln!(w, "  stutters {}   p99 frame-to-frame change {:.2} ms", s.stutters, s.p99_delta_ms)?;
    Ok(())
}

/// Report every log, good ones first to last; the bad ones are listed on
/// stderr afterwards and make the result an error.
pub fn run(files: &[PathBuf], json: bool) -> Result<()> {
    let mut failed = Vec::new();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for path in files {
        match report_file(path) {
            Ok(r) if json => writeln!(out, "{}", serde_json::to_string(&r)?)?,
            Ok(r) => write_text(&mut out, &r)?,
            Err(e) => failed.push(format!("{e:#}")),
        }
    }
    out.flush()?;
    if failed.is_empty() {
        return Ok(());
    }
    for f in &failed {
        eprintln!("scx_gamer: bad log: {f}");
    }
    anyhow::bail!("{} of {} logs could not be read", failed.len(), files.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stats_thread_gives_the_numbers_taken_in_line() {
        // A few read chunks' worth, with bad rows and a second log.
        let mut text = String::from("v1\nv0.8.2\nfps,frametime,cpu_load,elapsed\n");
        let (mut x, mut elapsed) = (0x9e37_79b9_7f4a_7c15u64, 0u64);
        for i in 0..150_000u64 {
            crate::testing::xorshift(&mut x);
            let ft_us = 5_000 + x % 20_000 + if x % 50 == 0 { 60_000 } else { 0 };
            elapsed += ft_us * 1_000;
            match i {
                _ if x % 997 == 0 => text.push_str("60,abc,1,2\n"),
                70_000 => text.push_str("v1\nv0.8.2\nfps,frametime,cpu_load,elapsed\n"),
                _ => text.push_str(&format!("{:.4},{}.{:03},37.5,{elapsed}\n", 1e6 / ft_us as f64, ft_us / 1000, ft_us % 1000)),
            }
        }
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("game.csv");
        std::fs::write(&path, &text).unwrap();

        let report = report_file(&path).unwrap();
        let parsed = log::parse_file(&path).unwrap();
        let mut series = FrameSeries::default();
        parsed.frames.iter().for_each(|f| series.push(f.frametime_ns));
        assert_eq!(report.stats, series.stats());
        assert!(report.stats.frames > 140_000 && report.stats.stutters > 0, "{:?}", report.stats);
        assert_eq!(report.bad_rows, parsed.bad_rows.count);
        assert!(report.bad_rows > 50);
        assert_eq!(report.logs_in_file, 2);
        assert_eq!(report.dropped_first_rows, 2);
    }
}
