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
    /// The whole second the message was last written for.
    shown: Option<u64>,
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
        Self { bar, series: FrameSeries::default(), shown: None }
    }

    pub fn update(&mut self, elapsed: Duration, live_frames_ns: &[u64]) {
        for &f in live_frames_ns {
            self.series.push(f);
        }
        self.bar.set_position(elapsed.as_secs());
        // The p99 of every frame so far builds two histograms: once a
        // second, and only for a bar someone sees (not when stderr is a file).
        if self.bar.is_hidden() || self.shown == Some(elapsed.as_secs()) {
            return;
        }
        if self.series.frames() > 0 {
            self.shown = Some(elapsed.as_secs());
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

/// Where this process's CPU time went, by thread (threads of one name
/// summed; those gone already as one entry): the profile behind the
/// tuner's CPU share, logged when a tune ends. None where /proc can't say.
pub fn tuner_cpu_by_thread() -> Option<String> {
    let me = std::process::id();
    let total = crate::procfs::stat(crate::procfs::root(), me)?;
    let mut by_name: Vec<(String, f64, f64)> = Vec::new();
    for (name, st) in crate::procfs::threads(crate::procfs::root(), me) {
        // "input:/dev/input/event3": one entry for all the input readers.
        let name = name.split(':').next().unwrap_or(&name).to_string();
        let (cpu, sys) = (st.cpu_secs().unwrap_or(0.0), st.system_secs().unwrap_or(0.0));
        match by_name.iter_mut().find(|(n, ..)| *n == name) {
            Some(e) => (e.1, e.2) = (e.1 + cpu, e.2 + sys),
            None => by_name.push((name, cpu, sys)),
        }
    }
    let live: f64 = by_name.iter().map(|e| e.1).sum();
    let gone = total.cpu_secs()? - live;
    if gone >= 0.01 {
        by_name.push(("threads that ended".into(), gone, f64::NAN));
    }
    by_name.sort_by(|a, b| b.1.total_cmp(&a.1));
    let parts: Vec<String> = by_name
        .iter()
        .map(|(n, cpu, sys)| if sys.is_nan() { format!("{n} {cpu:.2}") } else { format!("{n} {cpu:.2} (system {sys:.2})") })
        .collect();
    Some(format!("tuner CPU by thread, s: {}", parts.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_profile_names_each_thread_with_its_cpu() {
        let (spun, done) = std::sync::mpsc::channel();
        let busy = std::thread::Builder::new()
            .name("cpu-probe".into())
            .spawn(move || {
                let (start, mut x) = (std::time::Instant::now(), 0u64);
                while start.elapsed() < Duration::from_millis(50) {
                    x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(1));
                }
                spun.send(()).unwrap();
                std::thread::park();
            })
            .unwrap();
        done.recv().unwrap();
        let line = tuner_cpu_by_thread().unwrap();
        busy.thread().unpark();
        busy.join().unwrap();
        assert!(line.starts_with("tuner CPU by thread, s: "), "{line}");
        assert!(line.contains("cpu-probe 0.") && line.contains("(system "), "{line}");
    }
}
