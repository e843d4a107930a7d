//! Rank a game's configs from its store: pool each config's trials, pair
//! each with its block's baseline, and judge it (`score`). Pure: a
//! store in, a ranking out; the exporters print it.

use std::collections::HashMap;

use anyhow::Result;
use serde::Serialize;

use super::score::{self, Interval, Pair, Verdict};
use crate::frames::sequence::decode_us;
use crate::frames::{FrameSeries, FrameStats};
use crate::game::identity::GameId;
use crate::sched::SchedConfig;
use crate::store::{GameStore, SystemInfo, TrialKind, TrialRecord};

/// Scheduler counters summed over a config's measured trials.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SchedSummary {
    pub migrations: u64,
    pub mig_blocked: u64,
    /// Share of dispatches that were game threads.
    pub game_dispatch_share: f64,
    pub boosted_dispatches: u64,
    pub input_events: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct ConfigRow {
    pub name: String,
    /// None: the kernel's own scheduler.
    pub config: Option<SchedConfig>,
    pub trials: usize,
    pub ok_trials: usize,
    /// Reasons of failed trials (load failures, ejections, no frames).
    pub failures: Vec<String>,
    /// Statistics over the frames of every ok trial, pooled (its p99 is
    /// `p99_ms.estimate`).
    pub stats: FrameStats,
    /// p99 of the pooled frames with its 95 % interval, ms.
    pub p99_ms: Interval,
    /// p99 ÷ baseline p99, paired by block (None: nothing to pair with).
    pub p99_ratio: Option<Interval>,
    pub fps_ratio: Option<f64>,
    pub verdict: Verdict,
    pub sched: Option<SchedSummary>,
    /// p99 ÷ the default config's p99, paired by block (None: the defaults
    /// themselves, or never measured in a block with this config).
    pub p99_vs_defaults: Option<Interval>,
    /// Median switch gap into this config, ms.
    pub switch_gap_ms: Option<f64>,
    /// Every ok trial saw this scheduler attached (the baseline: none).
    pub verified: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct Ranking {
    pub game: GameId,
    pub system: Option<SystemInfo>,
    /// Best first; failed configs last.
    pub rows: Vec<ConfigRow>,
    /// Index into `rows` of the winner: beats the baseline beyond the noise
    /// and, unless it is the default config, the defaults too.
    pub winner: Option<usize>,
    /// The best-ranked config that beat the baseline lost the win to the
    /// defaults: it was not better than them beyond the noise.
    pub kept_defaults: Option<String>,
    /// The tuner's CPU time ÷ the game's over every measured trial (None:
    /// no trial recorded both).
    pub tuner_cpu_share: Option<f64>,
}

/// Σ tuner CPU ÷ Σ game CPU over `trials` that recorded both.
pub fn tuner_cpu_share(trials: &[TrialRecord]) -> Option<f64> {
    let (tuner, game) = trials.iter().filter_map(|t| t.cpu).fold((0.0, 0.0), |(a, b), c| (a + c.tuner_secs, b + c.game_secs));
    (game > 0.0).then(|| tuner / game)
}

fn frames_of(t: &TrialRecord) -> Result<Vec<u32>> {
    match &t.frame_times {
        Some(text) => decode_us(text).map_err(|e| e.context(format!("trial {}", t.id))),
        None => Ok(Vec::new()),
    }
}

fn median(v: Vec<f64>) -> Option<f64> {
    (!v.is_empty()).then(|| score::median(&v))
}

fn sched_summary(trials: &[&TrialRecord]) -> Option<SchedSummary> {
    let stats: Vec<_> = trials.iter().filter_map(|t| t.sched.as_ref()).collect();
    if stats.is_empty() {
        return None;
    }
    let dispatches: u64 = stats.iter().map(|s| s.dispatches()).sum();
    let game: u64 = stats.iter().map(|s| s.game_dispatches).sum();
    Some(SchedSummary {
        migrations: stats.iter().map(|s| s.migrations).sum(),
        mig_blocked: stats.iter().map(|s| s.mig_blocked).sum(),
        game_dispatch_share: if dispatches > 0 { game as f64 / dispatches as f64 } else { 0.0 },
        boosted_dispatches: stats.iter().map(|s| s.boosted_dispatches).sum(),
        input_events: stats.iter().map(|s| s.input_events).sum(),
    })
}

/// A trial id per block (session, block number): the block's baseline, or
/// its trial of some config.
type ByBlock<'s> = HashMap<(&'s str, u32), u32>;

/// Each config trial of @trials paired with @other's trial of the same block.
fn pairs_by_block<'f>(trials: &[&TrialRecord], other: &ByBlock, frames: &'f HashMap<u32, Vec<u32>>) -> Vec<Pair<'f>> {
    trials
        .iter()
        .filter(|t| t.kind == TrialKind::Config)
        .filter_map(|t| {
            let o = other.get(&(t.session.as_str(), t.block))?;
            Some(Pair { config: &frames[&t.id], baseline: &frames[o] })
        })
        .collect()
}

pub fn rank(store: &GameStore) -> Result<Ranking> {
    // Frames of every ok trial, and the ok baseline of each block.
    let mut frames: HashMap<u32, Vec<u32>> = HashMap::new();
    let mut baselines: ByBlock = HashMap::new();
    for t in store.trials.iter().filter(|t| t.status.is_ok() && t.kind != TrialKind::Collect) {
        let f = frames_of(t)?;
        if f.is_empty() {
            continue;
        }
        if t.kind == TrialKind::Baseline {
            baselines.insert((t.session.as_str(), t.block), t.id);
        }
        frames.insert(t.id, f);
    }

    // Group trials by config, in first-seen order.
    let mut groups: Vec<(Option<SchedConfig>, Vec<&TrialRecord>)> = Vec::new();
    for t in store.trials.iter().filter(|t| t.kind != TrialKind::Collect) {
        match groups.iter_mut().find(|(c, _)| *c == t.config) {
            Some((_, v)) => v.push(t),
            None => groups.push((t.config, vec![t])),
        }
    }

    // The default config's ok trial of each block: a tuned config has to
    // beat these too.
    let defaults = Some(SchedConfig::default());
    let default_trials: ByBlock = groups
        .iter()
        .filter(|(c, _)| *c == defaults)
        .flat_map(|(_, v)| v.iter())
        .filter(|t| t.kind == TrialKind::Config && frames.contains_key(&t.id))
        .map(|t| ((t.session.as_str(), t.block), t.id))
        .collect();

    let mut rows = Vec::new();
    for (config, trials) in groups {
        let ok: Vec<&TrialRecord> = trials.iter().copied().filter(|t| frames.contains_key(&t.id)).collect();
        let vs_defaults = if config.is_none() || config == defaults {
            None
        } else {
            let p = pairs_by_block(&ok, &default_trials, &frames);
            (!p.is_empty()).then(|| score::p99_ratio(&p))
        };
        let failures: Vec<String> = trials
            .iter()
            .filter_map(|t| {
                t.status
                    .reason()
                    .filter(|_| !matches!(t.status, crate::store::TrialStatus::Partial(_)))
                    .map(|r| format!("trial {}: {r}", t.id))
            })
            .collect();
        let mut series = FrameSeries::default();
        let mut pooled = Vec::new();
        for t in &ok {
            for &f in &frames[&t.id] {
                series.push(u64::from(f) * 1_000);
            }
            pooled.extend_from_slice(&frames[&t.id]);
        }
        let pairs = pairs_by_block(&ok, &baselines, &frames);
        let (ratio, fps_ratio) = if config.is_none() {
            let one = Interval { estimate: 1.0, low: 1.0, high: 1.0 };
            (Some(one), Some(1.0))
        } else if pairs.is_empty() {
            (None, None)
        } else {
            (Some(score::p99_ratio(&pairs)), Some(score::fps_ratio(&pairs)))
        };
        let nan = Interval { estimate: f64::NAN, low: f64::NAN, high: f64::NAN };
        let verdict = match (config, ratio, fps_ratio) {
            (None, ..) => Verdict::NoSignificantDifference,
            (_, Some(r), Some(f)) => score::verdict(&r, f, failures.len()),
            _ if !failures.is_empty() => Verdict::Failed,
            _ => Verdict::NoBaseline,
        };
        let verified = ok.iter().all(|t| if config.is_some() { t.observed.scx_gamer_attached() } else { t.observed.kernel_default() });
        let p99_ms = if pooled.is_empty() { nan } else { score::p99_interval_ms(&pooled) };
        // One p99 per config: the exact one the verdict uses, also in the
        // pooled statistics (the histogram's is within its 3 digits of it)
        // and in the 1 % low derived from it.
        let mut stats = series.stats();
        if p99_ms.estimate.is_finite() {
            stats.p99_ms = p99_ms.estimate;
            stats.low1_fps = 1000.0 / p99_ms.estimate;
        }
        rows.push(ConfigRow {
            name: trials[0].name.clone(),
            config,
            trials: trials.len(),
            ok_trials: ok.len(),
            failures,
            stats,
            p99_ms,
            p99_ratio: ratio,
            fps_ratio,
            verdict,
            sched: sched_summary(&ok),
            p99_vs_defaults: vs_defaults,
            switch_gap_ms: median(trials.iter().filter_map(|t| t.switch.gap_ms).collect()),
            verified,
        });
    }

    // Measured and not failed first, by ratio (else by p99).
    let key = |r: &ConfigRow| {
        let failed = r.verdict == Verdict::Failed || r.ok_trials == 0;
        let value = r.p99_ratio.map_or(r.p99_ms.estimate, |i| i.estimate);
        (failed, if value.is_finite() { value } else { f64::MAX })
    };
    rows.sort_by(|a, b| {
        let (fa, va) = key(a);
        let (fb, vb) = key(b);
        fa.cmp(&fb).then(va.total_cmp(&vb))
    });
    // Short trials are noisy: the luckiest of several configs that all beat
    // the baseline often is no better than the defaults. A config other than
    // the defaults wins only if it beats them beyond the noise too (paired
    // by block, like the baseline); else the defaults win if they beat the
    // baseline themselves.
    let mut winner = rows.iter().position(|r| r.config.is_some() && r.verdict == Verdict::Better);
    let mut kept_defaults = None;
    if let Some(w) = winner {
        // Never measured beside the defaults (no block shared with them):
        // not shown to beat them either. The runner measures the defaults
        // in every block since; older stores can lack them.
        let not_better = rows[w].config != defaults && rows[w].p99_vs_defaults.is_none_or(|i| i.high.is_nan() || i.high >= 1.0);
        if not_better {
            kept_defaults = Some(rows[w].name.clone());
            winner = rows.iter().position(|r| r.config == defaults && r.verdict == Verdict::Better);
        }
    }
    Ok(Ranking {
        game: store.game.clone(),
        system: store.sessions.last().map(|s| s.system.clone()),
        rows,
        winner,
        kept_defaults,
        tuner_cpu_share: tuner_cpu_share(&store.trials),
    })
}

impl Ranking {
    /// The config to use: the winner; else (`significant` false) the
    /// defaults if they were measured and did not fail (nothing beat them
    /// beyond the noise), else the best measured config that did not fail,
    /// for players who want to try it.
    pub fn best(&self) -> Option<(&ConfigRow, bool)> {
        if let Some(i) = self.winner {
            return Some((&self.rows[i], true));
        }
        let usable = |r: &&ConfigRow| r.config.is_some() && r.ok_trials > 0 && r.verdict != Verdict::Failed;
        let defaults = Some(SchedConfig::default());
        let kept = self.kept_defaults.as_ref().and_then(|_| self.rows.iter().filter(usable).find(|r| r.config == defaults));
        kept.or_else(|| self.rows.iter().find(usable)).map(|r| (r, false))
    }
}
