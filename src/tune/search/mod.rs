//! Search strategies: which configs to measure next, and which one is best.
//!
//! A search never measures anything itself. It proposes a batch of `Ask`s;
//! the runner measures the batch as one block (its configs plus a baseline
//! trial, in random order) and `tell`s each config's score relative to that
//! block's baseline, so slow drift of the game's frame rate cancels. Keeping
//! the strategies pure (no clock, no I/O, a seeded RNG) lets the real tuner
//! and the simulation benchmark (`examples/search_sim.rs`) drive the same
//! code.
//!
//! Scores are handled as logarithms: frame-time noise and drift are
//! multiplicative, so in log space a config 5 % slower and one 5 % faster are
//! equally far from the baseline, and averaging is unbiased.

use std::collections::HashMap;

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

use crate::sched::SchedConfig;
use crate::tune::space::Space;

mod gp;
pub mod grid;
pub mod halving;
pub mod model;

/// One config the search wants measured. `budget` is the trial length
/// relative to a full trial (1.0 = `--trial-secs`).
#[derive(Clone, Debug, PartialEq)]
pub struct Ask {
    pub id: usize,
    pub config: SchedConfig,
    pub budget: f64,
}

/// A batch's longest ask (0 for none): what its block's baseline trial
/// lasts, whether it is a full look (`race::lineup`) and how many rounds
/// its race may run (`race::max_rounds`).
pub fn longest_budget(batch: &[Ask]) -> f64 {
    batch.iter().map(|a| a.budget).fold(0.0, f64::max)
}

/// A search proposes configs in batches. The runner measures a batch as one
/// block (the batch's configs plus a baseline trial, in random order) and
/// reports each config's score relative to that block's baseline, so slow
/// drift of the game's frame rate cancels. Score: p99 frame time of the
/// config ÷ p99 of the block's baseline (lower is better); None when the
/// trial failed (config failed to load, scheduler ejected, no frames) — a
/// failed config is never picked.
pub trait Search {
    fn name(&self) -> &'static str;
    /// The next batch, or None when the search is finished. Not called again
    /// until every Ask of the batch got `tell`.
    fn next_batch(&mut self) -> Option<Vec<Ask>>;
    fn tell(&mut self, id: usize, score: Option<f64>);
    /// The best config so far and its (mean) score, if any config has a
    /// score.
    fn best(&self) -> Option<(SchedConfig, f64)>;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// Every candidate, `repeats` times.
    Grid,
    /// Successive halving: short trials for all, longer ones for the best.
    Halving,
    /// Gaussian-process surrogate with expected improvement.
    Model,
}

/// Most configs a batch holds. A block is the batch plus one baseline trial
/// in random order; a short block keeps every config close in time to its
/// baseline (drift cancels better) while the baseline's cost is shared by
/// a few configs.
pub const BLOCK: usize = 6;

/// Largest space grid and model enumerate (the model evaluates its
/// acquisition on every point). Halving samples larger spaces instead.
pub const MAX_ENUMERATED: usize = 20_000;

/// Build a search. `seeds` = the configs listed in the trial file (always
/// tried first / included); `space` = optional knob space from the trial
/// file (None: only the seeds are candidates); `repeats` = how many times
/// grid measures each candidate (≥1) and how often the other strategies
/// re-measure their final pick(s); `max_trials` = cap on the trial time the
/// search asks for, in full trials (the sum of the Asks' budgets; for grid
/// and model, whose Asks are all full length, this is the number of Asks;
/// None: the strategy's default); `seed` = RNG seed (same seed, same asks).
pub fn new_search(
    strategy: Strategy,
    seeds: &[SchedConfig],
    space: Option<&Space>,
    repeats: u32,
    max_trials: Option<usize>,
    seed: u64,
) -> Result<Box<dyn Search>> {
    new_search_batched(strategy, seeds, space, repeats, max_trials, seed, BLOCK)
}

/// Most configs a grid's batch holds when each batch is a race
/// (`--measure interleaved`): the 8 of `trials/default.toml` race at once.
/// Batches race one after another within one play-time budget, so a grid
/// in blocks of `BLOCK` spent a 10-minute budget on its first race (configs
/// level with each other race on for up to 60 rounds) and never measured
/// the rest of the file. One race also measures the kernel's scheduler and
/// the defaults once per round for all configs, not once per batch. A
/// round of 8 configs (with or without the defaults among them) and the
/// kernel's scheduler at 5-s segments lasts about a minute (BENCHMARKS.md
/// "Scene changes": the default trial file's race).
pub const RACE_BATCH: usize = 8;

/// As `new_search`, a grid's batches holding at most `grid_batch` configs
/// (`BLOCK` in blocks, `RACE_BATCH` in races); the other strategies batch
/// their stages by `BLOCK` either way (a screening stage of dozens of
/// configs in one race would make a round last many minutes).
pub fn new_search_batched(
    strategy: Strategy,
    seeds: &[SchedConfig],
    space: Option<&Space>,
    repeats: u32,
    max_trials: Option<usize>,
    seed: u64,
    grid_batch: usize,
) -> Result<Box<dyn Search>> {
    if repeats == 0 {
        bail!("repeats must be at least 1");
    }
    if max_trials == Some(0) {
        bail!("max trials must be at least 1");
    }
    for s in seeds {
        if let Err(e) = s.validate() {
            bail!("config {s}: {e}");
        }
    }
    if seeds.is_empty() && space.is_none() {
        bail!("nothing to search: no configs and no space");
    }
    if let Some(space) = space {
        // A space deserialized without `Space::new` gets the same checks.
        let checked = Space::new(space.base, space.dims.clone())?;
        if checked != *space {
            bail!(
                "space is not normalised (levels ascending and distinct, knob names trimmed): \
                 build it with Space::new"
            );
        }
        if strategy != Strategy::Halving && space.size() > MAX_ENUMERATED {
            bail!(
                "space has {} points; the {} search enumerates at most {MAX_ENUMERATED} \
                 (use fewer levels, or the halving search, which samples)",
                space.size(),
                strategy.name()
            );
        }
    }
    let max = max_trials.map(|m| m as f64);
    Ok(match strategy {
        Strategy::Grid => Box::new(grid::Grid::new(seeds, space, repeats, max_trials, seed).with_batch(grid_batch)),
        Strategy::Halving => Box::new(halving::Halving::new(seeds, space, repeats, max, seed)),
        Strategy::Model => Box::new(model::Model::new(seeds, space, repeats, max, seed)),
    })
}

impl Strategy {
    /// As `--search` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Grid => "grid",
            Strategy::Halving => "halving",
            Strategy::Model => "model",
        }
    }
}

/// The log of a usable score; None for a failed trial, and for NaN, ±inf,
/// zero or negative ratios (which no real measurement produces).
pub(crate) fn log_score(score: Option<f64>) -> Option<f64> {
    match score {
        Some(s) if s.is_finite() && s > 0.0 => Some(s.ln()),
        _ => None,
    }
}

/// Measurements of one candidate: a budget-weighted mean of log scores (a
/// trial of budget b has noise variance ∝ 1/b, so weighting by b is the
/// inverse-variance mean), and whether any trial of it failed.
#[derive(Clone, Debug, Default)]
pub(crate) struct CandidateScore {
    pub weight: f64,
    pub sum: f64,
    pub n: u32,
    pub failed: bool,
}

impl CandidateScore {
    /// Mean log score; None without measurements or once failed.
    pub fn mean(&self) -> Option<f64> {
        (!self.failed && self.n > 0 && self.weight > 0.0).then(|| self.sum / self.weight)
    }
}

/// The bookkeeping every strategy shares: candidates (deduplicated, in the
/// order they were added), the Asks waiting for a score, and each
/// candidate's tally. Ask ids are sequence numbers, unique per search.
#[derive(Clone, Debug, Default)]
pub(crate) struct Candidates {
    pub configs: Vec<SchedConfig>,
    pub tallies: Vec<CandidateScore>,
    index: HashMap<SchedConfig, usize>,
    pending: HashMap<usize, (usize, f64)>,
    next_id: usize,
    /// Sum of the budgets asked so far, in full trials.
    pub spent: f64,
}

/// One `tell`, as the bookkeeping understood it.
pub(crate) struct TellResult {
    pub cand: usize,
    pub budget: f64,
    /// The log score; None for a failed trial.
    pub log: Option<f64>,
}

impl Candidates {
    /// Candidates that start with the trial file's configs.
    pub fn with_seeds(seeds: &[SchedConfig]) -> Candidates {
        let mut candidates = Candidates::default();
        for s in seeds {
            candidates.add(*s);
        }
        candidates
    }

    /// Index of `cfg`, adding it when new.
    pub fn add(&mut self, cfg: SchedConfig) -> usize {
        if let Some(&i) = self.index.get(&cfg) {
            return i;
        }
        let i = self.configs.len();
        self.configs.push(cfg);
        self.tallies.push(CandidateScore::default());
        self.index.insert(cfg, i);
        i
    }

    pub fn ask(&mut self, cand: usize, budget: f64) -> Ask {
        let id = self.next_id;
        self.next_id += 1;
        self.pending.insert(id, (cand, budget));
        self.spent += budget;
        Ask { id, config: self.configs[cand], budget }
    }

    /// Record a score. Unknown or already-told ids are ignored (None).
    pub fn tell(&mut self, id: usize, score: Option<f64>) -> Option<TellResult> {
        let (cand, budget) = self.pending.remove(&id)?;
        let log = log_score(score);
        let t = &mut self.tallies[cand];
        match log {
            Some(l) => {
                t.weight += budget;
                t.sum += l * budget;
                t.n += 1;
            }
            None => t.failed = true,
        }
        Some(TellResult { cand, budget, log })
    }

    pub fn mean(&self, cand: usize) -> Option<f64> {
        self.tallies.get(cand).and_then(CandidateScore::mean)
    }

    pub fn failed(&self, cand: usize) -> bool {
        self.tallies.get(cand).is_some_and(|t| t.failed)
    }

    /// The candidate of `among` with the lowest mean log score (ties: the
    /// earlier one), as (config, mean score).
    pub fn best_of(&self, among: impl IntoIterator<Item = usize>) -> Option<(SchedConfig, f64)> {
        let mut best: Option<(usize, f64)> = None;
        for c in among {
            if let Some(m) = self.mean(c)
                && best.is_none_or(|(_, b)| m < b)
            {
                best = Some((c, m));
            }
        }
        best.map(|(c, m)| (self.configs[c], m.exp()))
    }
}

/// Split `items` into consecutive batches of at most `max` each, as even
/// in size as possible (no batch of one paying a whole baseline when a
/// split 4+3 would do).
pub(crate) fn even_batches<T: Clone>(items: &[T], max: usize) -> Vec<Vec<T>> {
    if items.is_empty() {
        return Vec::new();
    }
    let max = max.max(1);
    let count = items.len().div_ceil(max);
    let (base, extra) = (items.len() / count, items.len() % count);
    let mut out = Vec::with_capacity(count);
    let mut at = 0;
    for b in 0..count {
        let len = base + usize::from(b < extra);
        out.push(items[at..at + len].to_vec());
        at += len;
    }
    out
}

/// Seeds then every point of the space, deduplicated, in that order.
pub(crate) fn seeds_and_space(seeds: &[SchedConfig], space: Option<&Space>) -> Vec<SchedConfig> {
    let mut candidates = Candidates::default();
    for s in seeds {
        candidates.add(*s);
    }
    if let Some(space) = space {
        for p in space.all_points() {
            candidates.add(space.config(&p));
        }
    }
    candidates.configs
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::tune::space::Dim;

    /// A 3-knob space of `n` levels each (slice, input window, boost).
    pub fn cube(n: usize) -> Space {
        let dims = [("slice_us", 250u64), ("input_window_us", 500), ("game_boost_us", 500)]
            .iter()
            .map(|&(k, step)| Dim { knob: k.into(), levels: (1..=n as u64).map(|i| i * step).collect() })
            .collect();
        Space::new(SchedConfig::default(), dims).unwrap()
    }

    /// Drive a search to the end with a score function; returns the number
    /// of asks and the summed budget. Also checks the batch protocol.
    pub fn drive(s: &mut dyn Search, mut score: impl FnMut(&SchedConfig, f64) -> Option<f64>) -> (usize, f64) {
        let (mut asks, mut budget) = (0, 0.0);
        let mut ids = std::collections::HashSet::new();
        while let Some(batch) = s.next_batch() {
            assert!(!batch.is_empty() && batch.len() <= BLOCK, "batch of {}", batch.len());
            for a in batch {
                assert!(ids.insert(a.id), "id {} asked twice", a.id);
                assert!(a.budget > 0.0 && a.budget <= 1.0, "budget {}", a.budget);
                asks += 1;
                budget += a.budget;
                let sc = score(&a.config, a.budget);
                s.tell(a.id, sc);
            }
            assert!(asks < 100_000, "search does not end");
        }
        (asks, budget)
    }

    #[test]
    fn the_default_trial_file_races_at_once_and_blocks_keep_their_size() {
        let file = crate::tune::trials::TrialFile::load(std::path::Path::new("trials/default.toml")).unwrap();
        let seeds: Vec<SchedConfig> = file.trials.iter().map(|t| t.config).collect();
        assert!(seeds.len() > BLOCK && seeds.len() <= RACE_BATCH, "{} configs", seeds.len());
        let batches = |batch: usize| {
            let mut g = new_search_batched(Strategy::Grid, &seeds, None, 1, None, 3, batch).unwrap();
            std::iter::from_fn(|| {
                let b = g.next_batch()?;
                b.iter().for_each(|a| g.tell(a.id, Some(1.0)));
                Some(b.len())
            })
            .collect::<Vec<_>>()
        };
        assert_eq!(batches(RACE_BATCH), vec![seeds.len()], "one race of the whole file");
        assert_eq!(batches(BLOCK), vec![4, 4], "blocks of at most BLOCK, even");
    }

    #[test]
    fn new_search_rejects_bad_arguments() {
        let d = [SchedConfig::default()];
        let err = |r: Result<Box<dyn Search>>| r.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err(new_search(Strategy::Grid, &d, None, 0, None, 1)).contains("repeats"));
        assert!(err(new_search(Strategy::Grid, &d, None, 1, Some(0), 1)).contains("max trials"));
        assert!(err(new_search(Strategy::Model, &[], None, 1, None, 1)).contains("nothing"));
        let bad = SchedConfig { slice_us: 0, ..SchedConfig::default() };
        assert!(err(new_search(Strategy::Halving, &[bad], None, 1, None, 1)).contains("slice_us = 0"));
        let mut unsorted = cube(3);
        unsorted.dims[0].levels.reverse();
        assert!(err(new_search(Strategy::Grid, &d, Some(&unsorted), 1, None, 1)).contains("ascending"));
        let levels: Vec<u64> = (0..30).collect();
        let dims =
            ["input_window_us", "mig_max", "game_boost_us"].iter().map(|k| Dim { knob: (*k).into(), levels: levels.clone() }).collect();
        let huge = Space::new(SchedConfig::default(), dims).unwrap();
        assert!(err(new_search(Strategy::Model, &d, Some(&huge), 1, None, 1)).contains("27000 points"));
        assert!(new_search(Strategy::Halving, &d, Some(&huge), 1, None, 1).is_ok());
    }

    #[test]
    fn every_strategy_survives_garbage_scores_and_total_failure() {
        let space = cube(4);
        let seeds = [SchedConfig::default()];
        for strategy in [Strategy::Grid, Strategy::Halving, Strategy::Model] {
            let mut s = new_search(strategy, &seeds, Some(&space), 2, None, 7).unwrap();
            drive(s.as_mut(), |_, _| None);
            assert_eq!(s.best(), None, "{strategy:?}");
            let mut s = new_search(strategy, &seeds, Some(&space), 1, Some(40), 7).unwrap();
            let mut k = 0;
            drive(s.as_mut(), |_, _| {
                k += 1;
                [Some(f64::NAN), Some(f64::INFINITY), Some(-1.0), Some(0.0), None][k % 5]
            });
            assert_eq!(s.best(), None, "{strategy:?}");
            // Unknown ids are ignored.
            s.tell(987_654, Some(0.5));
            assert_eq!(s.best(), None, "{strategy:?}");
        }
    }

    #[test]
    fn the_trial_cap_holds_even_when_tiny() {
        let space = cube(5);
        let seeds = [SchedConfig::default()];
        for strategy in [Strategy::Grid, Strategy::Halving, Strategy::Model] {
            for cap in [1, 2, 3, 7, 30] {
                let mut s = new_search(strategy, &seeds, Some(&space), 2, Some(cap), 9).unwrap();
                let (_, budget) = drive(s.as_mut(), |c, _| Some(1.0 + c.slice_us as f64 / 1e4));
                assert!(budget <= cap as f64 + 1e-9, "{strategy:?} cap {cap}: {budget}");
                assert!(s.best().is_some(), "{strategy:?} cap {cap}");
            }
        }
    }

    #[test]
    fn same_seed_same_asks() {
        let space = cube(4);
        let seeds = [SchedConfig::default()];
        for strategy in [Strategy::Grid, Strategy::Halving, Strategy::Model] {
            let run = |seed| {
                let mut s = new_search(strategy, &seeds, Some(&space), 1, Some(30), seed).unwrap();
                let mut seen = Vec::new();
                drive(s.as_mut(), |c, b| {
                    seen.push((*c, b.to_bits()));
                    Some(1.0 + (c.slice_us as f64 - 500.0).abs() / 1e4 + (c.game_boost_us as f64) / 1e5)
                });
                (seen, s.best())
            };
            assert_eq!(run(3), run(3), "{strategy:?}");
        }
    }

    #[test]
    fn a_config_that_failed_once_is_never_best() {
        let space = cube(3);
        let good = space.config(&[0, 0, 0]);
        for strategy in [Strategy::Grid, Strategy::Halving, Strategy::Model] {
            let mut s = new_search(strategy, &[good], Some(&space), 2, None, 1).unwrap();
            let mut first = true;
            drive(s.as_mut(), |c, _| {
                if *c == good {
                    // Scores great when it runs, but failed once.
                    let fail = std::mem::replace(&mut first, false);
                    return if fail { None } else { Some(0.5) };
                }
                Some(1.0 + c.slice_us as f64 / 1e4)
            });
            let (best, _) = s.best().unwrap();
            assert_ne!(best, good, "{strategy:?}");
        }
    }

    #[test]
    fn batches_are_even() {
        let v: Vec<u32> = (0..13).collect();
        let b = even_batches(&v, 6);
        assert_eq!(b.iter().map(Vec::len).collect::<Vec<_>>(), vec![5, 4, 4]);
        assert_eq!(b.concat(), v);
        assert!(even_batches::<u32>(&[], 6).is_empty());
        assert_eq!(even_batches(&v[..6], 6).len(), 1);
    }
}
