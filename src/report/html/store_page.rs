//! The report of a game's store as one page: the verdict, the ranking, the
//! percentile curves of every config overlaid, a histogram of the baseline
//! against the best config, a timeline of each session (which config ran
//! when, over the frame times), each trial's frame times over time (small
//! multiples, grouped by config), the trials with their scheduler counters,
//! and the machine.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};

use super::charts::{self, Ink, Line};
use super::curves::{histogram, histogram_range, percentile_curve};
use super::data::{TrialFrames, row_frames, row_inks, trial_frames};
use super::downsample::{elapsed_s, min_max};
use super::page::{clip_note, document, esc, num};
use super::tables::{self, verdict_badge};
use crate::store::{GameStore, TrialKind};
use crate::verdict::rank::{Ranking, rank};

/// Points per percentile curve, and buckets per frame-time chart (about
/// one per pixel of its plot area: min and max each, see downsample.rs).
const CURVE_POINTS: usize = 240;
const TIME_BUCKETS: usize = 400;
const HISTOGRAM_BINS: usize = 60;

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

/// `source` is the store's file, named in the page and in errors.
pub fn render(store: &GameStore, source: &Path) -> Result<String> {
    let ranking = rank(store).with_context(|| format!("{}: ranking its trials", source.display()))?;
    let frames = trial_frames(store).with_context(|| format!("{}: reading frame times", source.display()))?;
    let inks = row_inks(&ranking.rows);
    let pooled: Vec<Vec<f64>> = ranking.rows.iter().map(|r| sorted(row_frames(&frames, r))).collect();

    let g = &store.game;
    let title = format!("scx_gamer report: {}", g.key);
    let mut body = String::new();
    let steam = g.steam_app_id.as_deref().map(|id| format!(", Steam app {}", esc(id))).unwrap_or_default();
    let _ = writeln!(
        body,
        "<h1>{}</h1>\n<p class=\"sub\">exe <code>{}</code>{steam} · {} trials in {} session{} · from <code>{}</code></p>",
        esc(&g.key),
        esc(&g.exe),
        store.trials.len(),
        store.sessions.len(),
        if store.sessions.len() == 1 { "" } else { "s" },
        esc(&source.display().to_string()),
    );
    body.push_str(&verdict(&ranking));

    body.push_str(
        "<h2>Ranking</h2>\n<p class=\"note\">Each config's p99 frame time is paired with the baseline of its block; \
        the bar shows its ratio's 95 % interval against 1 × baseline (the line). Lower is better.</p>\n",
    );
    body.push_str(&tables::ranking(&ranking, &inks));

    body.push_str(&percentile_section(&ranking, &pooled, &inks)?);
    body.push_str(&histogram_section(&ranking, &pooled, &inks)?);
    body.push_str(&timeline_section(store, &ranking, &frames, &inks)?);
    body.push_str(&multiples_section(&ranking, &frames, &inks)?);

    body.push_str(
        "<h2>Trials</h2>\n<p class=\"note\">Scheduler counters cover the measured part of each trial; \
        “sched_ext seen” is what the kernel said at the trial's end.</p>\n",
    );
    body.push_str(&tables::trials(store));
    body.push_str("<h2>System</h2>\n");
    body.push_str(&tables::sessions(store));
    Ok(document(&title, &body))
}

/// The answer first: which config to use, if any.
fn verdict(r: &Ranking) -> String {
    let ratio = |row: &crate::verdict::rank::ConfigRow| {
        row.p99_ratio
            .map_or_else(String::new, |i| format!(" — p99 {} × baseline [{}–{}]", num(i.estimate, 3), num(i.low, 3), num(i.high, 3)))
    };
    match r.best() {
        Some((row, true)) => format!(
            "<div class=\"verdict-box better\" id=\"verdict\"><b>{}</b> beats the kernel's scheduler beyond the noise{}.<br>\
             Use it: <code>scx_gamer {}</code></div>\n",
            esc(&row.name),
            ratio(row),
            esc(&row.config.unwrap_or_default().as_flags()),
        ),
        Some((row, false)) => format!(
            "<div class=\"verdict-box\" id=\"verdict\"><b>No significant difference:</b> no config beats the kernel's scheduler \
             beyond the noise. Best measured: <b>{}</b>{}.</div>\n",
            esc(&row.name),
            ratio(row),
        ),
        None => "<div class=\"verdict-box worse\" id=\"verdict\">No config has been measured successfully yet.</div>\n".into(),
    }
}

/// Whether a row is drawn emphasised: the baseline and the config to use.
fn emphasised(r: &Ranking, i: usize) -> bool {
    r.rows[i].config.is_none() || r.best().is_some_and(|(b, _)| std::ptr::eq(b, &r.rows[i]))
}

fn legend(items: &[(Ink, String, bool)]) -> String {
    let mut out = String::from("<ul class=\"legend\">");
    for (ink, text, em) in items {
        let _ = write!(out, "<li{}>{}{}</li>", if *em { " class=\"em\"" } else { "" }, ink.swatch(), text);
    }
    out.push_str("</ul>\n");
    out
}

fn percentile_section(r: &Ranking, pooled: &[Vec<f64>], inks: &[Ink]) -> Result<String> {
    let mut out = String::from(
        "<h2>Frame time by percentile</h2>\n<p class=\"note\">Every config's frames pooled over its trials; the axis gives \
         the slowest frames as much room as the rest. The baseline is drawn in the text colour, the best config thick.</p>\n",
    );
    let mut lines = Vec::new();
    let mut items = Vec::new();
    for (i, frames) in pooled.iter().enumerate().filter(|(_, f)| !f.is_empty()) {
        let em = emphasised(r, i);
        lines.push(Line { points: percentile_curve(frames, CURVE_POINTS), ink: inks[i], emphasis: em });
        items.push((
            inks[i],
            format!("{} <span class=\"note\">p99 {} ms</span>", esc(&r.rows[i].name), num(r.rows[i].stats.p99_ms, 2)),
            em,
        ));
    }
    if lines.is_empty() {
        out.push_str("<p class=\"nochart\">No frames measured yet.</p>\n");
        return Ok(out);
    }
    let svg = charts::percentiles(&lines, "frame time by percentile, one line per config")?;
    let _ = writeln!(out, "<figure class=\"wide\" id=\"percentiles\">{svg}{}</figure>", legend(&items));
    Ok(out)
}

fn histogram_section(r: &Ranking, pooled: &[Vec<f64>], inks: &[Ink]) -> Result<String> {
    // Baseline against the config to use: two shapes stay readable where
    // twenty would not (the percentile chart has them all).
    let mut pick: Vec<usize> = (0..r.rows.len()).filter(|&i| emphasised(r, i) && !pooled[i].is_empty()).collect();
    if pick.is_empty() {
        pick = (0..r.rows.len()).filter(|&i| !pooled[i].is_empty()).take(1).collect();
    }
    let mut out = String::from("<h2>Frame-time histogram</h2>\n");
    let sets: Vec<&[f64]> = pick.iter().map(|&i| pooled[i].as_slice()).collect();
    let Some((lo, hi)) = histogram_range(&sets) else {
        out.push_str("<p class=\"nochart\">No frames measured yet.</p>\n");
        return Ok(out);
    };
    let series: Vec<(Ink, Vec<f64>)> = pick.iter().map(|&i| (inks[i], histogram(&pooled[i], lo, hi, HISTOGRAM_BINS))).collect();
    let items: Vec<(Ink, String, bool)> = pick.iter().map(|&i| (inks[i], esc(&r.rows[i].name), true)).collect();
    let _ = writeln!(
        out,
        "<p class=\"note\">Share of frames per {:.2} ms; {}.</p>\n<figure class=\"wide\" id=\"histogram\">{}{}</figure>",
        (hi - lo) / HISTOGRAM_BINS as f64,
        clip_note(lo, hi),
        charts::histogram(&series, lo, hi, "frame-time histogram, baseline against the best config")?,
        legend(&items),
    );
    Ok(out)
}

/// Buckets per trial on a timeline: a session has tens of trials (an
/// interleaved one, hundreds of segments) across one chart's width.
const TIMELINE_BUCKETS: usize = 40;

/// When `t`'s measurement began, seconds after `t0`: its end less what it
/// measured (None without a parseable end).
fn measured_from(t: &crate::store::TrialRecord, t0: chrono::DateTime<chrono::FixedOffset>) -> Option<f64> {
    let end = chrono::DateTime::parse_from_rfc3339(&t.ended_at).ok()?;
    Some((end - t0).num_milliseconds() as f64 / 1e3 - t.measured_secs)
}

/// One chart per session of two or more measured trials: which config ran
/// when, over the frame times (x: seconds from the session's first
/// measurement).
fn timeline_section(store: &GameStore, r: &Ranking, frames: &[TrialFrames<'_>], inks: &[Ink]) -> Result<String> {
    let mut out = String::new();
    for session in &store.sessions {
        let trials: Vec<&TrialFrames> = frames.iter().filter(|f| f.trial.session == session.id && !f.ms.is_empty()).collect();
        let Some(t0) = trials.iter().filter_map(|f| chrono::DateTime::parse_from_rfc3339(&f.trial.ended_at).ok()).min() else {
            continue;
        };
        // (start, frames, ink) of each trial, then shifted so the first starts at 0.
        let placed: Vec<(f64, &TrialFrames, Ink)> = trials
            .iter()
            .filter_map(|f| {
                let row = r.rows.iter().position(|row| row.config == f.trial.config)?;
                Some((measured_from(f.trial, t0)?, *f, inks[row]))
            })
            .collect();
        if placed.len() < 2 {
            continue;
        }
        let first = placed.iter().map(|p| p.0).fold(f64::INFINITY, f64::min);
        let (mut x_max, mut y_max) = (0.0f64, 0.0f64);
        let segments: Vec<(Vec<(f64, f64)>, Ink)> = placed
            .iter()
            .map(|(start, f, ink)| {
                let elapsed = elapsed_s(&f.ms);
                let points: Vec<(f64, f64)> =
                    min_max(&f.ms, TIMELINE_BUCKETS).into_iter().map(|(k, ms)| (start - first + elapsed[k], ms)).collect();
                x_max = x_max.max(points.last().map_or(0.0, |p| p.0));
                y_max = y_max.max(points.iter().map(|p| p.1).fold(0.0, f64::max));
                (points, *ink)
            })
            .collect();
        if out.is_empty() {
            out.push_str(
                "<h2>Which config ran when</h2>\n<p class=\"note\">Every trial's frame times (ms) where they fell in its \
                 session (seconds from its first measurement), in its config's colour: the interleaving and the game's \
                 scenes at a glance.</p>\n",
            );
        }
        let how = session.measure.map_or("blocks", |m| m.as_str());
        let label = format!("session {}: frame times over the session, by config", session.id);
        let svg = charts::timeline(&segments, x_max, y_max * 1.05, &label)?;
        let _ = writeln!(
            out,
            "<figure class=\"timeline\">{svg}<figcaption>session {} · {how} · {} trials</figcaption></figure>",
            esc(&session.id),
            segments.len()
        );
    }
    Ok(out)
}

fn multiples_section(r: &Ranking, frames: &[TrialFrames<'_>], inks: &[Ink]) -> Result<String> {
    let mut out = String::from(
        "<h2>Frame times over each trial</h2>\n<p class=\"note\">Frame time (ms) against seconds into the trial, on the same \
         scale everywhere; each pixel column keeps the fastest and the slowest frame it covers, so every spike is drawn. \
         The faint line is the trial's p99.</p>\n",
    );
    let x_max = frames.iter().map(|f| f.ms.iter().sum::<f64>() / 1e3).fold(0.0, f64::max);
    let y_max = frames.iter().flat_map(|f| f.ms.iter().copied()).fold(0.0, f64::max) * 1.05;
    for (i, row) in r.rows.iter().enumerate() {
        let _ = writeln!(out, "<h3>{} {} {}</h3>\n<div class=\"multiples\">", inks[i].swatch(), esc(&row.name), verdict_badge(row));
        // Every trial of the config, the failed ones too (as a note).
        for f in frames.iter().filter(|f| f.trial.config == row.config && f.trial.kind != TrialKind::Collect) {
            let t = f.trial;
            let status = match t.status.reason() {
                Some(why) => format!(" · <span class=\"{}\">{}: {}</span>", t.status.label(), t.status.label(), esc(why)),
                None if !t.status.is_ok() => {
                    format!(" · <span class=\"warn\">{}</span>", t.status.label())
                }
                None => String::new(),
            };
            let caption = format!(
                "<figcaption><b>trial {}</b> · block {} · {} frames · p99 {} ms · max {} ms{status}</figcaption>",
                t.id,
                t.block,
                f.ms.len(),
                num(t.frames.p99_ms, 2),
                num(t.frames.max_ms, 1),
            );
            if f.ms.is_empty() {
                let _ = writeln!(out, "<figure class=\"trial\">{caption}<p class=\"nochart note\">no frames</p></figure>");
                continue;
            }
            let elapsed = elapsed_s(&f.ms);
            let points: Vec<(f64, f64)> = min_max(&f.ms, TIME_BUCKETS).into_iter().map(|(k, ms)| (elapsed[k], ms)).collect();
            let label = format!("trial {} ({}): frame time over time", t.id, t.name);
            let svg = charts::frame_time(&points, inks[i], t.frames.p99_ms, x_max, y_max, &label)?;
            let _ = writeln!(out, "<figure class=\"trial\">{svg}{caption}</figure>");
        }
        out.push_str("</div>\n");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::game::identity::GameId;

    fn store() -> GameStore {
        GameStore::new(GameId { key: "quake".into(), exe: "quake<3>".into(), steam_app_id: None })
    }

    #[test]
    fn an_empty_store_is_a_page_without_charts() {
        let html = render(&store(), Path::new("ml_data/quake.json")).unwrap();
        assert!(html.contains("No config has been measured successfully yet"));
        assert!(html.contains("No frames measured yet"));
        assert!(html.contains("<code>quake&lt;3&gt;</code>"));
        assert!(!html.contains("<svg"));
    }

    #[test]
    fn corrupt_frame_times_name_the_file_and_the_trial() {
        let mut s = store();
        let json = serde_json::json!({
            "id": 4, "session": "s", "block": 1, "kind": "baseline", "name": "baseline", "config": null,
            "status": {"state": "ok"}, "started_at": "", "ended_at": "", "planned_secs": 1.0, "measured_secs": 1.0,
            "warmup_secs": 0.0, "frames": crate::frames::FrameStats::default(), "histogram": null,
            "frame_times": "not base64!", "bad_rows": 0, "mangohud_log": null, "sched": null,
            "switch": {}, "observed": {}
        });
        s.trials.push(serde_json::from_value(json).unwrap());
        let err = format!("{:#}", render(&s, Path::new("ml_data/quake.json")).unwrap_err());
        assert!(err.contains("ml_data/quake.json") && err.contains("trial 4"), "{err}");
    }
}
