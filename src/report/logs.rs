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
    let mut series = FrameSeries::default();
    let parser = log::stream_file(path, |frames| frames.iter().for_each(|f| series.push(f.frametime_ns)))?;
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
