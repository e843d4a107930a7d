//! What the player sees while trials run: a bar per trial with live fps and
//! running p99 (when MangoHud writes frames live), and a line per finished
//! trial. The bar hides itself when stderr is not a terminal.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use crate::frames::FrameSeries;
use crate::store::TrialRecord;

pub struct TrialProgress {
    bar: ProgressBar,
    series: FrameSeries,
}

impl TrialProgress {
    pub fn start(label: &str, length: Duration) -> Self {
        let bar = ProgressBar::new(length.as_secs().max(1));
        bar.set_style(
            ProgressStyle::with_template("{prefix:.bold} [{bar:30}] {pos}/{len} s  {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_prefix(label.to_string());
        Self { bar, series: FrameSeries::default() }
    }

    pub fn update(&mut self, elapsed: Duration, live_frames_ns: &[u64]) {
        for &f in live_frames_ns {
            self.series.push(f);
        }
        self.bar.set_position(elapsed.as_secs());
        if self.series.frames() > 0 {
            let s = self.series.stats();
            self.bar.set_message(format!("{:.0} fps, p99 {:.2} ms, {} frames", s.avg_fps, s.p99_ms, s.frames));
        }
    }

    pub fn set_message(&self, msg: &str) {
        self.bar.set_message(msg.to_string());
    }

    pub fn finish(self) {
        self.bar.finish_and_clear();
    }
}

/// One line per finished trial, on stderr.
pub fn trial_line(r: &TrialRecord) -> String {
    let status = match r.status.reason() {
        Some(reason) => format!("{}: {reason}", r.status.label()),
        None => r.status.label().to_string(),
    };
    let gap = r.switch.gap_ms.map(|g| format!(", switch gap {g:.0} ms")).unwrap_or_default();
    format!(
        "trial {} [{}] {}: {} frames, {:.1} fps, p99 {:.2} ms, {} stutters{gap} ({status})",
        r.id,
        r.name,
        r.config_label(),
        r.frames.frames,
        r.frames.avg_fps,
        r.frames.p99_ms,
        r.frames.stutters
    )
}
