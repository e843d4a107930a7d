//! Rank a game's configs from its store: pool each config's trials, pair
//! each with its block's baseline, and judge it (`score`). Pure: a
//! store in, a ranking out; the exporters print it.

use std::collections::HashMap;

use anyhow::Result;
use log::warn;
use serde::Serialize;

use super::score::{self, Interval, Pair, Verdict};
use crate::frames::sequence::decode_us;
use crate::frames::{FrameSeries, FrameStats};
use crate::game::identity::GameId;
use crate::sched::SchedConfig;
use crate::store::{GameStore, SystemInfo, TrialKind, TrialRecord, TrialStatus};

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
    /// Blocks (rounds) in which this config was paired with the baseline:
    /// a verdict needs `score::MIN_PAIRS`.
    pub pairs: usize,
    pub fps_ratio: Option<f64>,
    pub verdict: Verdict,
    pub sched: Option<SchedSummary>,
    /// p99 ÷ the default config's p99, paired by block (None: the defaults
    /// themselves, or never measured in a block with this config).
    pub p99_vs_defaults: Option<Interval>,
    /// Blocks (rounds) in which this config was paired with the defaults.
    pub pairs_vs_defaults: usize,
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
    /// Index into `rows` of the winner: the best-ranked config that beats
    /// the baseline beyond the noise and, unless it is the default config,
    /// the defaults too.
    pub winner: Option<usize>,
    /// The best-ranked config that beat the baseline but not the defaults
    /// beyond the noise, passed over for a config ranked lower (or for
    /// nothing: then the defaults are the pick).
    pub passed_over: Option<String>,
    /// The tuner's CPU time ÷ the game's over every measured trial (None:
    /// no trial recorded both).
    pub tuner_cpu_share: Option<f64>,
}

/// Σ tuner CPU ÷ Σ game CPU over `trials` that recorded both.
pub fn tuner_cpu_share(trials: &[TrialRecord]) -> Option<f64> {
    let (tuner, game) = trials.iter().filter_map(|t| t.cpu).fold((0.0, 0.0), |(a, b), c| (a + c.tuner_secs, b + c.game_secs));
    (game > 0.0).then(|| tuner / game)
}

/// The trial's frame times; a record whose frames cannot be decoded (a
/// damaged store) is left out with a warning, not the whole ranking.
fn frames_of(t: &TrialRecord, game: &str) -> Vec<u32> {
    match t.frame_times.as_deref().map(decode_us) {
        Some(Ok(f)) => f,
        Some(Err(e)) => {
            warn!("{game}: trial {} left out: its frame times cannot be read: {e:#}", t.id);
            Vec::new()
        }
        None => Vec::new(),
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
        let f = frames_of(t, &store.game.key);
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
        let (vs_defaults, pairs_vs_defaults) = if config.is_none() || config == defaults {
            (None, 0)
        } else {
            let p = pairs_by_block(&ok, &default_trials, &frames);
            ((!p.is_empty()).then(|| score::p99_ratio(&p)), p.len())
        };
        // Failures of the config only: a trial without a usable measurement
        // (no frames, the log failed) is no fault of it.
        let failures: Vec<String> = trials
            .iter()
            .filter_map(|t| match &t.status {
                TrialStatus::Failed(r) => Some(format!("trial {}: {r}", t.id)),
                _ => None,
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
            (_, Some(r), Some(f)) => score::verdict(&r, f, failures.len(), pairs.len()),
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
            pairs: pairs.len(),
            fps_ratio,
            verdict,
            sched: sched_summary(&ok),
            p99_vs_defaults: vs_defaults,
            pairs_vs_defaults,
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
    let (winner, passed_over) = winner(&rows);
    Ok(Ranking {
        game: store.game.clone(),
        system: store.sessions.last().map(|s| s.system.clone()),
        rows,
        winner,
        passed_over,
        tuner_cpu_share: tuner_cpu_share(&store.trials),
    })
}

/// The winner among `rows` (best first), and the best-ranked config passed
/// over on the way. Short trials are noisy: the luckiest of several configs
/// that all beat the baseline often is no better than the defaults. So a
/// config other than the defaults wins only if it beats them beyond the
/// noise too (paired by block, like the baseline, in at least
/// `score::MIN_PAIRS` blocks); the first in rank order that beats both
/// wins, the defaults themselves if they beat the baseline. A config never
/// measured beside the defaults (older stores) is not shown to beat them.
fn winner(rows: &[ConfigRow]) -> (Option<usize>, Option<String>) {
    let defaults = Some(SchedConfig::default());
    let beats_defaults = |r: &ConfigRow| {
        r.config == defaults || (r.pairs_vs_defaults >= score::MIN_PAIRS && r.p99_vs_defaults.is_some_and(|i| i.high < 1.0))
    };
    let better = |r: &&ConfigRow| r.config.is_some() && r.verdict == Verdict::Better;
    let first = rows.iter().position(|r| better(&r));
    let winner = rows.iter().position(|r| better(&r) && beats_defaults(r));
    let passed_over = first.filter(|&f| Some(f) != winner).map(|f| rows[f].name.clone());
    (winner, passed_over)
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
        let kept = self.passed_over.as_ref().and_then(|_| self.rows.iter().filter(usable).find(|r| r.config == defaults));
        kept.or_else(|| self.rows.iter().find(usable)).map(|r| (r, false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, config: Option<SchedConfig>, verdict: Verdict, vs_defaults: Option<(f64, usize)>) -> ConfigRow {
        let i = |high: f64| Interval { estimate: high - 0.05, low: high - 0.1, high };
        ConfigRow {
            name: name.into(),
            config,
            trials: 3,
            ok_trials: 3,
            failures: Vec::new(),
            stats: FrameStats::default(),
            p99_ms: i(10.0),
            p99_ratio: Some(i(0.9)),
            pairs: 3,
            fps_ratio: Some(1.0),
            verdict,
            sched: None,
            p99_vs_defaults: vs_defaults.map(|(high, _)| i(high)),
            pairs_vs_defaults: vs_defaults.map_or(0, |(_, n)| n),
            switch_gap_ms: None,
            verified: true,
        }
    }

    fn cfg(slice_us: u64) -> Option<SchedConfig> {
        Some(SchedConfig { slice_us, ..SchedConfig::default() })
    }

    #[test]
    fn the_first_config_that_beats_the_kernel_and_the_defaults_wins_past_one_that_does_not() {
        use Verdict::*;
        let defaults = Some(SchedConfig::default());
        // "lucky" ranks first and beats the kernel's scheduler, not the
        // defaults; "steady" ranks second and beats both: it wins, and
        // "lucky" is named as passed over.
        let rows = vec![
            row("lucky", cfg(500), Better, Some((1.06, 3))),
            row("steady", cfg(2000), Better, Some((0.91, 3))),
            row("default", defaults, Better, None),
            row("baseline", None, NoSignificantDifference, None),
        ];
        assert_eq!(winner(&rows), (Some(1), Some("lucky".into())));
        // Without "steady": the defaults win, "lucky" passed over.
        let without: Vec<ConfigRow> = rows.iter().filter(|r| r.name != "steady").cloned().collect();
        assert_eq!(winner(&without), (Some(1), Some("lucky".into())));
        // Beating the defaults from fewer than MIN_PAIRS shared blocks, or
        // never measured beside them, does not count.
        let few = vec![row("few", cfg(500), Better, Some((0.8, 2))), row("never", cfg(4000), Better, None)];
        assert_eq!(winner(&few), (None, Some("few".into())));
        // The best one beats both: no one passed over.
        assert_eq!(winner(&rows[1..]), (Some(0), None));
        // Nothing better than the kernel's: no winner, nothing passed over.
        let none = vec![row("a", cfg(500), NoSignificantDifference, Some((0.8, 3))), row("b", cfg(2000), TooFewPairs, None)];
        assert_eq!(winner(&none), (None, None));
    }

    #[test]
    fn a_trial_whose_frames_cannot_be_read_is_left_out_not_the_ranking() {
        use crate::frames::sequence::encode_us;
        let mut store = GameStore::new(GameId { key: "g".into(), exe: "g".into(), steam_app_id: None });
        let frames: Vec<u32> = (0..400).map(|i| 10_000 + i % 7 * 100).collect();
        for (id, block, config, text) in [
            (1, 1, None, encode_us(&frames).unwrap()),
            (2, 1, cfg(500), encode_us(&frames).unwrap()),
            (3, 2, None, encode_us(&frames).unwrap()),
            (4, 2, cfg(500), "not frame times at all".to_string()),
        ] {
            let mut t = crate::testing::trial_record("s1", block);
            t.id = id;
            if config.is_some() {
                (t.kind, t.name, t.config) = (TrialKind::Config, "s500".into(), config);
            }
            t.frame_times = Some(text);
            store.trials.push(t);
        }
        let ranking = rank(&store).unwrap();
        let row = ranking.rows.iter().find(|r| r.name == "s500").unwrap();
        assert_eq!((row.trials, row.ok_trials, row.pairs), (2, 1, 1), "{row:?}");
        assert_eq!(row.verdict, Verdict::TooFewPairs, "{row:?}");
    }
}
