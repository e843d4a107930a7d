//! Model-based search: a Gaussian process over the space's points predicts
//! every config's log score from the ones measured, and each batch measures
//! the configs with the largest expected improvement over the best so far.
//!
//! Why: neighbouring configs (a level apart on each knob) usually score
//! alike, so a smooth model learns the landscape from a fraction of the
//! grid, and its uncertainty says where a measurement is worth a trial.
//!
//! Phases: (1) screening — the seeds and spread-out points, in short trials
//! (a narrow good region is only found if something lands near it, and
//! short trials buy nine looks for the price of one full trial; the GP
//! weighs them as the noisier measurements they are); (2) steering —
//! batches of `BATCH` full trials chosen by expected improvement, the batch
//! made diverse by the kriging believer; until the trial cap (minus the
//! final re-measurements) is spent or no point is expected to improve by
//! more than `EI_STOP`; (3) the top `FINAL_TOP` configs by predicted score
//! are re-measured `repeats` times. The pick is the config with the lowest
//! predicted score among those that had a full-length trial.
//!
//! The spaces are small (≤ `MAX_ENUMERATED` points) and a few hundred
//! trials are observed, so exact GP algebra is cheap: one Cholesky factor,
//! extended one row per observation, and for every point the solved
//! cross-covariance vector, extended one entry per observation.

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use super::gp::*;
use super::{Ask, BLOCK, Candidates, Search, even_batches};
use crate::sched::SchedConfig;
use crate::tune::space::Space;

/// Asks per batch while the model steers: few, so every batch uses what
/// the previous one taught; more than one, so a baseline is shared.
const BATCH: usize = 3;
/// How many top configs are re-measured `repeats` times at the end.
const FINAL_TOP: usize = 2;
/// Share of the trials spent on the initial spread-out points (at least
/// 2·knobs + 2): too few and a narrow good region is never seen, too many
/// and the model has little left to steer.
const INIT_SHARE: f64 = 0.1;
/// Trial length of the initial points: short, so that for the same time
/// nine times as many points are seen (the GP knows they are noisier).
const INIT_BUDGET: f64 = 1.0 / 9.0;
/// Stop exploring once no point is expected to improve the log score by
/// more than this (0.1 %).
const EI_STOP: f64 = 1e-3;
/// Refit the kernel once the observations grew by this factor.
const REFIT_GROWTH: f64 = 1.5;
/// Most observations the kernel fit looks at (see `maybe_fit`).
const FIT_MAX: usize = 60;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Phase {
    Init,
    Explore,
    Final,
    Done,
}

pub struct Model {
    candidates: Candidates,
    /// The seeds are the candidates's first candidates.
    n_seeds: usize,
    repeats: u32,
    /// Candidates candidate of each space point.
    cand_of: Vec<usize>,
    /// Space point of each candidates candidate (None: a seed outside the space).
    point_of: Vec<Option<usize>>,
    gp: Option<Gp>,
    coords: Coords,
    phase: Phase,
    queue: Vec<Vec<usize>>,
    /// Trial time allowed in total, in full trials.
    cap: f64,
    fitted_at: usize,
    /// The kernel's last fit, the start of the next.
    hyper: Option<Hyper>,
    /// Observations told while no GP existed yet (point, log score, noise).
    pending_obs: Vec<(usize, f64, f64)>,
    /// Full-length trials per candidate.
    full_trials: Vec<u32>,
    rng: StdRng,
}

impl Model {
    /// `max_trials`: cap on the summed budgets (default: a quarter of the
    /// space, at least 8, at most 200 trials: the GP's cost grows with the
    /// square of the observations).
    pub fn new(seeds: &[SchedConfig], space: Option<&Space>, repeats: u32, max_trials: Option<f64>, seed: u64) -> Model {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut candidates = Candidates::with_seeds(seeds);
        let mut coords = Coords { dim: 0, idx: Vec::new(), shape: Vec::new() };
        let mut cand_of = Vec::new();
        // A space without dims is just its base config: no model needed.
        if let Some(space) = space.filter(|s| s.dims.is_empty()) {
            candidates.add(space.base);
        }
        let n_seeds = candidates.configs.len();
        if let Some(space) = space.filter(|s| !s.dims.is_empty()) {
            let shape = space.shape();
            coords.dim = shape.len();
            coords.shape = shape.clone();
            for p in space.all_points() {
                for (&i, &n) in p.iter().zip(&shape) {
                    coords.idx.push(i.min(n.saturating_sub(1)));
                }
                cand_of.push(candidates.add(space.config(&p)));
            }
        }
        let mut point_of = vec![None; candidates.configs.len()];
        for (p, &c) in cand_of.iter().enumerate() {
            point_of[c] = Some(p);
        }
        let n_points = cand_of.len();
        let cap = max_trials.unwrap_or((n_points as f64 / 4.0).clamp(8.0, 200.0));

        // Initial design: the seeds, then a few spread-out points.
        // (Without a space and with no more seeds than the final re-measures
        // anyway, screening them first would be wasted.)
        let mut init: Vec<usize> = if n_points == 0 && n_seeds <= FINAL_TOP { Vec::new() } else { (0..n_seeds).collect() };
        let want =
            ((cap * INIT_SHARE / INIT_BUDGET) as usize).max(2 * coords.dim + 2).min((cap / 3.0 / INIT_BUDGET) as usize).min(n_points);
        let in_space: Vec<usize> = (0..n_seeds).filter_map(|c| point_of[c]).collect();
        for p in coords.spread(&in_space, want, &mut rng) {
            init.push(cand_of[p]);
        }
        let mut queue = even_batches(&init, BLOCK);
        queue.reverse();
        Model {
            candidates,
            n_seeds,
            repeats: repeats.max(1),
            cand_of,
            point_of,
            gp: None,
            coords,
            phase: Phase::Init,
            queue,
            cap,
            fitted_at: 0,
            hyper: None,
            pending_obs: Vec::new(),
            full_trials: Vec::new(),
            rng,
        }
    }

    fn left(&self) -> f64 {
        self.cap - self.candidates.spent
    }

    /// Fit (or refit) the GP when the observations grew enough.
    fn maybe_fit(&mut self) {
        let n = self.gp.as_ref().map_or(0, |g| g.n()) + self.pending_obs.len();
        if n == 0 || (self.gp.is_some() && (n as f64) < self.fitted_at as f64 * REFIT_GROWTH) {
            return;
        }
        self.fitted_at = n;
        let mut obs = self.gp.as_ref().map(|g| g.obs.clone()).unwrap_or_default();
        obs.append(&mut self.pending_obs);
        // The kernel is fitted on at most FIT_MAX observations: the
        // likelihood costs n³, and a random subset pins the length scales
        // and noise about as well.
        let mut sample = obs.clone();
        if sample.len() > FIT_MAX {
            sample.shuffle(&mut self.rng);
            sample.truncate(FIT_MAX);
        }
        let hyper = fit(&self.coords, &sample, self.hyper.clone());
        if self.gp.is_some() && self.hyper.as_ref() == Some(&hyper) {
            return; // same kernel: the incremental factor is already exact
        }
        let (ls, lambda) = hyper.values();
        self.hyper = Some(hyper);
        self.gp = Some(Gp::build(&self.coords, obs, ls, lambda));
    }

    /// Estimated log score of a measured candidate: the GP's posterior mean
    /// when it has one (it pools the neighbours' measurements), else the
    /// plain mean of its own measurements.
    fn estimate(&self, cand: usize) -> Option<f64> {
        let own = self.candidates.mean(cand)?;
        match (&self.gp, self.point_of.get(cand).copied().flatten()) {
            (Some(gp), Some(p)) => Some(gp.mean_at(p)),
            _ => Some(own),
        }
    }

    /// Measured candidates, best estimate first. Once any config has had a
    /// full-length trial, only such configs are ranked: a pick should have
    /// been run the way it will be used, not just briefly screened.
    fn ranked(&self) -> Vec<usize> {
        let full = |c: usize| self.full_trials.get(c).is_some_and(|&n| n > 0);
        let any_full = (0..self.candidates.configs.len()).any(full);
        let mut v: Vec<(usize, f64)> =
            (0..self.candidates.configs.len()).filter(|&c| !any_full || full(c)).filter_map(|c| self.estimate(c).map(|e| (c, e))).collect();
        v.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
        v.into_iter().map(|(c, _)| c).collect()
    }

    /// The next model-steered batch; None when the model expects nothing
    /// worth a trial.
    fn explore(&mut self, size: usize) -> Option<Vec<usize>> {
        self.maybe_fit();
        let n_points = self.cand_of.len();
        let eligible: Vec<usize> = (0..n_points).filter(|&p| !self.candidates.failed(self.cand_of[p])).collect();
        if eligible.is_empty() {
            return None;
        }
        let Some(gp) = self.gp.as_mut() else {
            // Nothing measured successfully yet: keep sampling unmeasured points.
            let mut fresh: Vec<usize> = eligible.into_iter().filter(|&p| self.candidates.tallies[self.cand_of[p]].n == 0).collect();
            fresh.shuffle(&mut self.rng);
            fresh.truncate(size);
            return (!fresh.is_empty()).then(|| fresh.iter().map(|&p| self.cand_of[p]).collect());
        };
        let incumbent = gp.obs.iter().map(|o| gp.mean_at(o.0)).fold(f64::INFINITY, f64::min);
        let n_real = gp.n();
        // Fantasies leave the means alone: compute them once.
        let means: Vec<f64> = eligible.iter().map(|&p| gp.mean_at(p)).collect();
        let mut batch = Vec::new();
        for k in 0..size {
            let mut best: Option<(usize, f64)> = None;
            for (&p, &mu) in eligible.iter().zip(&means) {
                if batch.contains(&p) {
                    continue;
                }
                let ei = expected_improvement(incumbent - mu, gp.sd_at(p));
                if best.is_none_or(|(_, b)| ei > b) {
                    best = Some((p, ei));
                }
            }
            let Some((p, ei)) = best else { break };
            if k == 0 && ei < EI_STOP {
                break;
            }
            batch.push(p);
            if batch.len() == size {
                break;
            }
            // Kriging believer: pretend the point was measured at its
            // predicted mean; only the variances change, which spreads the
            // rest of the batch away from it.
            let y = gp.mean_at(p);
            gp.push(&self.coords, p, y, 1.0, true);
        }
        gp.truncate(n_real);
        (!batch.is_empty()).then(|| batch.iter().map(|&p| self.cand_of[p]).collect())
    }
}

impl Search for Model {
    fn name(&self) -> &'static str {
        "model"
    }

    fn next_batch(&mut self) -> Option<Vec<Ask>> {
        let reserve = (FINAL_TOP * self.repeats as usize) as f64;
        loop {
            let cands = match self.phase {
                Phase::Init => match self.queue.pop() {
                    Some(b) => b,
                    None => {
                        self.phase = Phase::Explore;
                        continue;
                    }
                },
                Phase::Explore => {
                    let room = (self.left() - reserve + 1e-9).floor();
                    let size = if room >= 1.0 { BATCH.min(room as usize) } else { 0 };
                    match (size > 0).then(|| self.explore(size)).flatten() {
                        Some(b) => b,
                        None => {
                            self.start_final();
                            continue;
                        }
                    }
                }
                Phase::Final => match self.queue.pop() {
                    Some(b) => b,
                    None => {
                        self.phase = Phase::Done;
                        continue;
                    }
                },
                Phase::Done => return None,
            };
            let budget = if self.phase == Phase::Init { INIT_BUDGET } else { 1.0 };
            let fits = (self.left() / budget + 1e-9).floor().max(0.0) as usize;
            let cands: Vec<usize> = cands.into_iter().take(fits).collect();
            if cands.is_empty() {
                self.phase = Phase::Done;
                return None;
            }
            return Some(cands.into_iter().map(|c| self.candidates.ask(c, budget)).collect());
        }
    }

    fn tell(&mut self, id: usize, score: Option<f64>) {
        let Some(t) = self.candidates.tell(id, score) else {
            return;
        };
        if t.budget >= 1.0 {
            if self.full_trials.len() <= t.cand {
                self.full_trials.resize(t.cand + 1, 0);
            }
            self.full_trials[t.cand] += 1;
        }
        let (Some(y), Some(p)) = (t.log, self.point_of.get(t.cand).copied().flatten()) else {
            return;
        };
        let w = 1.0 / t.budget.max(1e-6);
        match self.gp.as_mut() {
            Some(gp) => gp.push(&self.coords, p, y, w, false),
            None => self.pending_obs.push((p, y, w)),
        }
    }

    /// The candidate with the lowest estimated log score (see `estimate`),
    /// reported with the mean of its own measurements.
    fn best(&self) -> Option<(SchedConfig, f64)> {
        let c = *self.ranked().first()?;
        Some((self.candidates.configs[c], self.candidates.mean(c)?.exp()))
    }
}

impl Model {
    /// Re-measure the top configs `repeats` times, one batch per pass.
    fn start_final(&mut self) {
        self.maybe_fit();
        self.phase = Phase::Final;
        let mut top: Vec<usize> = self.ranked().into_iter().take(FINAL_TOP).collect();
        // Seeds never measured (nothing was screened) fill the rest.
        for c in 0..self.n_seeds {
            if top.len() < FINAL_TOP && !top.contains(&c) && !self.candidates.failed(c) {
                top.push(c);
            }
        }
        self.queue.clear();
        for _ in 0..self.repeats {
            let mut pass = top.clone();
            pass.shuffle(&mut self.rng);
            self.queue.push(pass);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{cube, drive};
    use super::*;

    #[test]
    fn cdf_is_accurate() {
        assert!((norm_cdf(0.0) - 0.5).abs() < 1e-7);
        assert!((norm_cdf(1.96) - 0.975_002_1).abs() < 1e-6);
        assert!((norm_cdf(-1.0) - 0.158_655_25).abs() < 1e-6);
        assert!(norm_cdf(-40.0) >= 0.0 && norm_cdf(40.0) <= 1.0);
    }

    #[test]
    fn incremental_factor_matches_a_fresh_one() {
        let space = cube(4);
        let m = Model::new(&[], Some(&space), 1, None, 1);
        let obs: Vec<(usize, f64, f64)> = [(0, 0.1, 1.0), (5, -0.2, 3.0), (21, 0.05, 1.0), (5, -0.1, 1.0), (63, 0.3, 9.0)].to_vec();
        let ls = vec![0.5, 0.3, 1.0];
        let mut inc = Gp::build(&m.coords, obs[..2].to_vec(), ls.clone(), 0.05);
        for &(p, y, w) in &obs[2..] {
            inc.push(&m.coords, p, y, w, false);
        }
        // A fantasy pushed and truncated leaves no trace.
        inc.push(&m.coords, 40, inc.mean_at(40), 1.0, true);
        inc.truncate(obs.len());
        let fresh = Gp::build(&m.coords, obs.clone(), ls, 0.05);
        for p in 0..64 {
            assert!((inc.mean_at(p) - fresh.mean_at(p)).abs() < 1e-9);
            assert!((inc.sd_at(p) - fresh.sd_at(p)).abs() < 1e-9);
        }
        // The posterior mean is near the data where it is dense.
        assert!((fresh.mean_at(5) - -0.175).abs() < 0.1, "{}", fresh.mean_at(5));
    }

    #[test]
    fn believer_fantasy_keeps_the_mean_and_shrinks_the_variance() {
        let space = cube(4);
        let m = Model::new(&[], Some(&space), 1, None, 1);
        let mut gp = Gp::build(&m.coords, vec![(0, 0.1, 1.0), (63, -0.1, 1.0)], vec![0.5; 3], 0.1);
        let (mu, sd) = (gp.mean_at(30), gp.sd_at(30));
        gp.push(&m.coords, 30, mu, 1.0, true);
        assert!((gp.mean_at(30) - mu).abs() < 1e-12);
        assert!(
            (gp.mean_at(10) - {
                let g2 = Gp::build(&m.coords, vec![(0, 0.1, 1.0), (63, -0.1, 1.0)], vec![0.5; 3], 0.1);
                g2.mean_at(10)
            })
            .abs()
                < 1e-12
        );
        assert!(gp.sd_at(30) < sd);
    }

    #[test]
    fn finds_a_noiseless_bowl_optimum_in_far_fewer_asks_than_the_grid() {
        let space = cube(6);
        // Optimum at level (4, 1, 2): slice 1250, window 1000, boost 1500.
        let truth = |c: &SchedConfig| {
            let a = c.slice_us as f64 / 250.0 - 5.0;
            let b = c.input_window_us as f64 / 500.0 - 2.0;
            let g = c.game_boost_us as f64 / 500.0 - 3.0;
            (0.02 * a * a + 0.03 * b * b + 0.015 * g * g + 0.01 * a * g).exp()
        };
        let (mut worst_asks, mut worst_budget) = (0, 0.0f64);
        for seed in 0..5 {
            let mut m = Model::new(&[SchedConfig::default()], Some(&space), 1, None, seed);
            let (asks, budget) = drive(&mut m, |c, _| Some(truth(c)));
            let (best, score) = m.best().unwrap();
            assert_eq!((best.slice_us, best.input_window_us, best.game_boost_us), (1250, 1000, 1500), "seed {seed}");
            assert!((score - 1.0).abs() < 1e-9);
            worst_asks = worst_asks.max(asks);
            worst_budget = worst_budget.max(budget);
        }
        // Most asks are short screening trials: the trial time is what counts.
        assert!(worst_asks < 216 / 2, "{worst_asks} asks");
        assert!(worst_budget <= 216.0 / 8.0, "{worst_budget} trials");
    }

    #[test]
    fn seeds_outside_the_space_compete_too() {
        let space = cube(3);
        let outside = SchedConfig { mig_max: 7, ..SchedConfig::default() };
        let mut m = Model::new(&[outside], Some(&space), 2, Some(20.0), 4);
        let (asks, budget) = drive(&mut m, |c, _| Some(if *c == outside { 0.8 } else { 1.0 }));
        assert!(budget <= 20.0, "{asks} asks, {budget} trials");
        assert_eq!(m.best().unwrap().0, outside);
        let mut m = Model::new(&[outside, SchedConfig::default()], None, 3, None, 4);
        let (asks, _) = drive(&mut m, |c, _| Some(if *c == outside { 0.8 } else { 1.0 }));
        // Two seeds, no space: nothing to screen, both get the final trials.
        assert_eq!(asks, 2 * 3);
        assert_eq!(m.best().unwrap().0, outside);
    }
}
