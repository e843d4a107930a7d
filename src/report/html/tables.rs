//! The report's tables as HTML: the ranking (with each config's interval
//! drawn as a small bar around 1 × baseline), the trials with their
//! scheduler counters, the sessions' system info, and the logs of
//! `report --log`. Every string from the data goes through `esc`.

use std::fmt::Write as _;

use super::charts::Ink;
use super::page::{esc, num, opt_num};
use crate::report::logs::LogReport;
use crate::sched::SchedConfig;
use crate::store::{GameStore, TrialKind};
use crate::verdict::rank::{ConfigRow, Ranking};
use crate::verdict::score::{Interval, Verdict};

/// The CSS class of a verdict (colours it in both themes).
pub fn verdict_class(v: Verdict) -> &'static str {
    match v {
        Verdict::Better => "better",
        Verdict::Worse => "worse",
        Verdict::NoSignificantDifference => "no_significant_difference",
        Verdict::FpsLoss => "fps_loss",
        Verdict::Failed => "failed",
        Verdict::NoBaseline => "no_baseline",
        Verdict::TooFewPairs => "too_few_pairs",
    }
}

/// A row's verdict as a coloured badge.
pub fn verdict_badge(row: &ConfigRow) -> String {
    if row.config.is_none() {
        return "<span class=\"badge neutral\">baseline (kernel scheduler)</span>".into();
    }
    format!("<span class=\"badge {}\">{}</span>", verdict_class(row.verdict), esc(row.verdict.text()))
}

/// The ratio axis every bar of the table shares: all intervals and 1.
fn ratio_domain(rows: &[ConfigRow]) -> (f64, f64) {
    let (mut lo, mut hi) = (1.0f64, 1.0f64);
    for i in rows.iter().filter_map(|r| r.p99_ratio.as_ref()).filter(|i| i.low.is_finite() && i.high.is_finite()) {
        lo = lo.min(i.low);
        hi = hi.max(i.high);
    }
    let pad = ((hi - lo) * 0.08).max(0.02);
    (lo - pad, hi + pad)
}

/// A small forest-plot bar: the interval, its estimate, and 1 × baseline.
fn ci_bar(i: &Interval, (lo, hi): (f64, f64), class: &str) -> String {
    if !(i.low.is_finite() && i.high.is_finite() && i.estimate.is_finite()) {
        return String::new();
    }
    let pos = |x: f64| ((x - lo) / (hi - lo) * 100.0).clamp(0.0, 100.0);
    format!(
        "<span class=\"ci {class}\" title=\"{:.3} [{:.3}–{:.3}] × baseline\"><span class=\"one\" style=\"left:{:.1}%\"></span>\
         <span class=\"bar\" style=\"left:{:.1}%;width:{:.1}%\"></span><span class=\"dot\" style=\"left:{:.1}%\"></span></span>",
        i.estimate,
        i.low,
        i.high,
        pos(1.0),
        pos(i.low),
        (pos(i.high) - pos(i.low)).max(0.5),
        pos(i.estimate),
    )
}

fn interval_text(i: &Interval, digits: usize) -> String {
    if i.low.is_finite() && i.high.is_finite() {
        format!("{} [{}–{}]", num(i.estimate, digits), num(i.low, digits), num(i.high, digits))
    } else {
        num(i.estimate, digits)
    }
}

/// The ranking, best first, one `<tr class="config">` per config.
pub fn ranking(r: &Ranking, inks: &[Ink]) -> String {
    let domain = ratio_domain(&r.rows);
    let mut out = String::from(
        "<div class=\"scroll\"><table id=\"ranking\">\n<thead><tr><th>#</th><th class=\"name\">config</th><th class=\"text\">verdict</th>\
         <th>p99 ÷ baseline [95% CI]</th><th>p99 ms [95% CI]</th><th>p50 ms</th><th>avg fps</th><th>fps ×</th><th>1% low</th>\
         <th>0.1% low</th><th>stutters</th><th>trials ok</th><th>migrations</th><th>mig blocked</th><th>game share</th>\
         <th>boosted</th><th>switch gap ms</th></tr></thead>\n<tbody>\n",
    );
    for (i, row) in r.rows.iter().enumerate() {
        let s = &row.stats;
        // A config without measured frames has no statistics, not zeros.
        let measured = |x: f64, digits: usize| {
            if row.ok_trials > 0 { num(x, digits) } else { "–".into() }
        };
        let class = if row.config.is_none() { "neutral" } else { verdict_class(row.verdict) };
        let ratio = row.p99_ratio.as_ref().map_or_else(|| "–".into(), |x| format!("{}{}", interval_text(x, 3), ci_bar(x, domain, class)));
        let sched = row.sched.as_ref();
        let flags = row.config.as_ref().map_or_else(|| "the kernel's own scheduler, no sched_ext".into(), SchedConfig::as_flags);
        let verified =
            if row.verified || row.ok_trials == 0 { "" } else { "<div class=\"note warn\">scheduler not verified attached</div>" };
        let failures = if row.failures.is_empty() {
            String::new()
        } else {
            let items: String = row.failures.iter().map(|f| format!("<li>{}</li>", esc(f))).collect();
            format!("<ul class=\"failures\">{items}</ul>")
        };
        let _ = writeln!(
            out,
            "<tr class=\"config{}\"><td>{}</td><td class=\"name\" title=\"{}\">{} {}</td><td class=\"text\">{}{verified}{failures}</td>\
             <td>{ratio}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}/{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            if row.config.is_none() { " baseline" } else { "" },
            i + 1,
            esc(&flags),
            inks.get(i).map_or_else(String::new, |k| k.swatch()),
            esc(&row.name),
            verdict_badge(row),
            interval_text(&row.p99_ms, 2),
            measured(s.p50_ms, 2),
            measured(s.avg_fps, 1),
            opt_num(row.fps_ratio, 3),
            measured(s.low1_fps, 1),
            measured(s.low01_fps, 1),
            measured(s.stutters as f64, 0),
            row.ok_trials,
            row.trials,
            sched.map_or_else(|| "–".into(), |x| x.migrations.to_string()),
            sched.map_or_else(|| "–".into(), |x| x.mig_blocked.to_string()),
            sched.map_or_else(|| "–".into(), |x| format!("{:.0} %", x.game_dispatch_share * 100.0)),
            sched.map_or_else(|| "–".into(), |x| x.boosted_dispatches.to_string()),
            opt_num(row.switch_gap_ms, 1),
        );
    }
    out.push_str("</tbody></table></div>\n");
    out
}

/// Every trial, one `<tr class="trial">` each: frames, status, switch and
/// the scheduler's counters over its measured part.
pub fn trials(store: &GameStore) -> String {
    let mut out = String::from(
        "<div class=\"scroll\"><table id=\"trials\">\n<thead><tr><th>id</th><th>block</th><th class=\"name\">config</th>\
         <th class=\"name\">status</th><th>measured s</th><th>frames</th><th>avg fps</th><th>p50 ms</th><th>p99 ms</th>\
         <th>max ms</th><th>stutters</th><th>load ms</th><th>gap ms</th><th>dispatches</th><th>game</th><th>boosted</th>\
         <th>migrations</th><th>mig blocked</th><th>mig saturated</th><th>preempt kicks</th><th>slice expired</th>\
         <th>input events</th><th class=\"text\">sched_ext seen</th></tr></thead>\n<tbody>\n",
    );
    for t in &store.trials {
        let f = &t.frames;
        let m = t.sched.as_ref();
        let count = |get: fn(&crate::sched::Metrics) -> u64| m.map_or_else(|| "–".into(), |m| get(m).to_string());
        let status = match t.status.reason() {
            Some(r) => format!("<span class=\"{}\">{}</span>: {}", t.status.label(), t.status.label(), esc(r)),
            None => esc(t.status.label()),
        };
        let seen = match (t.observed.state_end.as_deref(), t.observed.ops_end.as_deref()) {
            (Some(s), Some(o)) => format!("{} ({})", esc(s), esc(o)),
            (Some(s), None) => esc(s),
            _ => "–".into(),
        };
        let kind = if t.kind == TrialKind::Collect { " (collect)" } else { "" };
        let _ = writeln!(
            out,
            "<tr class=\"trial\"><td>{}</td><td>{}</td><td class=\"name\" title=\"{}\">{}{kind}</td><td class=\"name\">{status}</td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"text\">{seen}</td></tr>",
            t.id,
            t.block,
            esc(&t.config_label()),
            esc(&t.name),
            num(t.measured_secs, 1),
            f.frames,
            num(f.avg_fps, 1),
            num(f.p50_ms, 2),
            num(f.p99_ms, 2),
            num(f.max_ms, 1),
            f.stutters,
            opt_num(t.switch.load_ms, 1),
            opt_num(t.switch.gap_ms, 2),
            m.map_or_else(|| "–".into(), |m| m.dispatches().to_string()),
            count(|m| m.game_dispatches),
            count(|m| m.boosted_dispatches),
            count(|m| m.migrations),
            count(|m| m.mig_blocked),
            count(|m| m.mig_saturated),
            count(|m| m.preempt_kicks),
            count(|m| m.slice_expired),
            count(|m| m.input_events),
        );
    }
    out.push_str("</tbody></table></div>\n");
    out
}

/// The machine and run of every session, one `<tr class="session">` each.
pub fn sessions(store: &GameStore) -> String {
    let mut out = String::from(
        "<div class=\"scroll\"><table id=\"sessions\">\n<thead><tr><th class=\"name\">session</th><th class=\"name\">mode</th>\
         <th class=\"name\">scx_gamer</th><th class=\"text\">kernel</th><th class=\"text\">CPU</th><th>CPUs</th>\
         <th class=\"name\">MangoHud</th><th class=\"name\">search</th><th class=\"name\">trials file</th><th>seed</th>\
         <th>trial s</th><th>warm-up s</th><th class=\"name\">frames from</th></tr></thead>\n<tbody>\n",
    );
    for s in &store.sessions {
        let y = &s.system;
        let _ = writeln!(
            out,
            "<tr class=\"session\"><td class=\"name\">{}</td><td class=\"name\">{}</td><td class=\"name\">{}</td><td class=\"text\">{}</td>\
             <td class=\"text\">{}</td><td>{}</td><td class=\"name\">{}</td><td class=\"name\">{}</td><td class=\"name\">{}</td>\
             <td>{}</td><td>{}</td><td>{}</td><td class=\"name\">{}</td></tr>",
            esc(&s.id),
            esc(s.mode.as_str()),
            esc(&s.scx_gamer_version),
            esc(&y.kernel),
            esc(&y.cpu),
            y.cpus,
            esc(y.mangohud_version.as_deref().unwrap_or("unknown")),
            esc(s.search.as_deref().unwrap_or("–")),
            esc(s.trials_file.as_deref().unwrap_or("–")),
            s.seed.map_or_else(|| "–".into(), |x| x.to_string()),
            num(s.trial_secs, 0),
            num(s.warmup_secs, 0),
            esc(&s.frame_source),
        );
    }
    out.push_str("</tbody></table></div>\n");
    out
}

/// `report --log`: one `<tr class="log">` per log, with the machine it
/// says it ran on.
pub fn logs(reports: &[&LogReport], inks: &[Ink]) -> String {
    let mut out = String::from(
        "<div class=\"scroll\"><table id=\"logs\">\n<thead><tr><th class=\"name\">log</th><th class=\"name\">MangoHud</th>\
         <th class=\"name\">rows</th><th>frames</th><th>s</th><th>avg fps</th><th>p50 ms</th><th>p90 ms</th><th>p99 ms</th>\
         <th>p99.9 ms</th><th>max ms</th><th>1% low</th><th>0.1% low</th><th>stutters</th><th>bad rows</th>\
         <th class=\"text\">CPU</th><th class=\"text\">kernel</th></tr></thead>\n<tbody>\n",
    );
    for (i, r) in reports.iter().enumerate() {
        let s = &r.stats;
        let kind = match r.sampled {
            Some(true) => "<span class=\"warn\" title=\"one row per interval: percentiles describe samples, not frames\">sampled</span>",
            Some(false) => "per frame",
            None => "too short to tell",
        };
        let _ = writeln!(
            out,
            "<tr class=\"log\"><td class=\"name\">{} {}</td><td class=\"name\">{}</td><td class=\"name\">{kind}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td class=\"text\">{}</td><td class=\"text\">{}</td></tr>",
            inks.get(i).map_or_else(String::new, |k| k.swatch()),
            esc(&r.file.display().to_string()),
            esc(r.mangohud_version.as_deref().unwrap_or("unknown")),
            s.frames,
            num(s.duration_s, 1),
            num(s.avg_fps, 1),
            num(s.p50_ms, 2),
            num(s.p90_ms, 2),
            num(s.p99_ms, 2),
            num(s.p999_ms, 2),
            num(s.max_ms, 1),
            num(s.low1_fps, 1),
            num(s.low01_fps, 1),
            s.stutters,
            r.bad_rows,
            esc(r.cpu.as_deref().unwrap_or("–")),
            esc(r.kernel.as_deref().unwrap_or("–")),
        );
    }
    out.push_str("</tbody></table></div>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bar_puts_one_and_the_interval_on_a_shared_axis() {
        let i = Interval { estimate: 0.8, low: 0.7, high: 0.9 };
        let bar = ci_bar(&i, (0.5, 1.5), "better");
        assert!(bar.contains("class=\"one\" style=\"left:50.0%\""), "{bar}");
        assert!(bar.contains("left:20.0%;width:20.0%"), "{bar}");
        let nan = Interval { estimate: f64::NAN, low: f64::NAN, high: f64::NAN };
        assert_eq!(ci_bar(&nan, (0.5, 1.5), "x"), "");
        assert_eq!(interval_text(&nan, 2), "–");
    }
}
