//! `report --log FILE... --html OUT`: MangoHud logs as one page — their
//! statistics, percentile curves and histograms overlaid, and each log's
//! frame times over time. Logs that cannot be read are listed, not fatal.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;

use super::charts::{self, Ink, Line};
use super::curves::{histogram, histogram_range, percentile_curve};
use super::downsample::{elapsed_s, min_max};
use super::page::{clip_note, document, esc, num};
use super::tables;
use crate::mangohud::log;
use crate::report::logs::{LogReport, report_file};

const CURVE_POINTS: usize = 240;
const TIME_BUCKETS: usize = 400;
const HISTOGRAM_BINS: usize = 60;

/// A log's report and its frame times, ms, in order.
pub struct LogFrames {
    pub report: LogReport,
    pub ms: Vec<f64>,
}

/// Read one log: its statistics exactly as `report --log` gives them, and
/// its frames in order for the charts (a second pass over the file keeps
/// `report --log` itself untouched).
pub fn read(path: &Path) -> Result<LogFrames> {
    let report = report_file(path)?;
    let mut ms = Vec::with_capacity(usize::try_from(report.stats.frames).unwrap_or(0));
    log::stream_file(path, |frames| ms.extend(frames.iter().map(|f| f.frametime_ns as f64 / 1e6)))?;
    Ok(LogFrames { report, ms })
}

/// The page for `logs` (in the order given); `bad` are the errors of the
/// logs that could not be read.
pub fn render(logs: &[LogFrames], bad: &[String]) -> Result<String> {
    let inks: Vec<Ink> = (0..logs.len()).map(Ink::nth).collect();
    let name =
        |l: &LogFrames| l.report.file.file_name().map_or_else(|| l.report.file.display().to_string(), |n| n.to_string_lossy().into_owned());
    let mut body = format!("<h1>MangoHud logs</h1>\n<p class=\"sub\">{} logs read, {} could not be read</p>\n", logs.len(), bad.len());
    if !bad.is_empty() {
        body.push_str("<div class=\"verdict-box worse\" id=\"bad-logs\"><b>Could not be read:</b><ul class=\"failures\">");
        for b in bad {
            let _ = write!(body, "<li class=\"bad-log\">{}</li>", esc(b));
        }
        body.push_str("</ul></div>\n");
    }
    if logs.iter().any(|l| l.report.sampled == Some(true)) {
        body.push_str(
            "<p class=\"note warn\">Some logs are sampled (one row per interval, not per frame): their percentiles describe \
             samples. Log with <code>log_interval=0</code>.</p>\n",
        );
    }
    let reports: Vec<&LogReport> = logs.iter().map(|l| &l.report).collect();
    body.push_str("<h2>Statistics</h2>\n");
    body.push_str(&tables::logs(&reports, &inks));

    let sorted: Vec<Vec<f64>> = logs
        .iter()
        .map(|l| {
            let mut v = l.ms.clone();
            v.sort_by(f64::total_cmp);
            v
        })
        .collect();
    let items: String = logs.iter().zip(&inks).map(|(l, k)| format!("<li>{}{}</li>", k.swatch(), esc(&name(l)))).collect();
    let legend = format!("<ul class=\"legend\">{items}</ul>");

    body.push_str("<h2>Frame time by percentile</h2>\n");
    let lines: Vec<Line> = sorted
        .iter()
        .zip(&inks)
        .filter(|(s, _)| !s.is_empty())
        .map(|(s, &ink)| Line { points: percentile_curve(s, CURVE_POINTS), ink, emphasis: false })
        .collect();
    if lines.is_empty() {
        body.push_str("<p class=\"nochart\">No frames.</p>\n");
    } else {
        let svg = charts::percentiles(&lines, "frame time by percentile, one line per log")?;
        let _ = writeln!(body, "<figure class=\"wide\" id=\"percentiles\">{svg}{legend}</figure>");
    }

    body.push_str("<h2>Frame-time histogram</h2>\n");
    let sets: Vec<&[f64]> = sorted.iter().map(Vec::as_slice).collect();
    match histogram_range(&sets) {
        Some((lo, hi)) => {
            let series: Vec<(Ink, Vec<f64>)> = sorted.iter().zip(&inks).map(|(s, &k)| (k, histogram(s, lo, hi, HISTOGRAM_BINS))).collect();
            let _ = writeln!(
                body,
                "<p class=\"note\">Share of frames per {:.2} ms; {}.</p>\n<figure class=\"wide\" id=\"histogram\">{}{legend}</figure>",
                (hi - lo) / HISTOGRAM_BINS as f64,
                clip_note(lo, hi),
                charts::histogram(&series, lo, hi, "frame-time histogram, one shape per log")?,
            );
        }
        None => body.push_str("<p class=\"nochart\">No frames.</p>\n"),
    }

    body.push_str(
        "<h2>Frame times over each log</h2>\n<p class=\"note\">Frame time (ms) against seconds into the log, on the same scale \
         everywhere; every spike is drawn. The faint line is the log's p99.</p>\n<div class=\"multiples\">\n",
    );
    let x_max = logs.iter().map(|l| l.ms.iter().sum::<f64>() / 1e3).fold(0.0, f64::max);
    let y_max = logs.iter().flat_map(|l| l.ms.iter().copied()).fold(0.0, f64::max) * 1.05;
    for (l, &ink) in logs.iter().zip(&inks) {
        let s = &l.report.stats;
        let caption = format!(
            "<figcaption><b>{}</b> · {} frames · p99 {} ms · max {} ms</figcaption>",
            esc(&name(l)),
            l.ms.len(),
            num(s.p99_ms, 2),
            num(s.max_ms, 1)
        );
        if l.ms.is_empty() {
            let _ = writeln!(body, "<figure class=\"log\">{caption}<p class=\"nochart note\">no frames</p></figure>");
            continue;
        }
        let elapsed = elapsed_s(&l.ms);
        let points: Vec<(f64, f64)> = min_max(&l.ms, TIME_BUCKETS).into_iter().map(|(k, ms)| (elapsed[k], ms)).collect();
        let svg = charts::frame_time(&points, ink, s.p99_ms, x_max, y_max, &format!("{}: frame time over time", name(l)))?;
        let _ = writeln!(body, "<figure class=\"log\">{svg}{caption}</figure>");
    }
    body.push_str("</div>\n");
    Ok(document("scx_gamer report: MangoHud logs", &body))
}
