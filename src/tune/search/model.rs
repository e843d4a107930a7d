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

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

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
/// Candidate length scales (in units of a knob's whole level range) and
/// noise-to-signal variance ratios for the marginal-likelihood fit.
const LENGTHS: [f64; 9] = [0.08, 0.15, 0.25, 0.4, 0.65, 1.0, 1.6, 2.6, 4.0];
const LAMBDAS: [f64; 8] = [0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0];

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

/// E[max(0, gap − noise-free error)] for a normal prediction: `gap` =
/// incumbent − predicted mean, `sd` = predictive standard deviation.
fn expected_improvement(gap: f64, sd: f64) -> f64 {
    if sd.is_nan() || sd <= 1e-12 {
        return gap.max(0.0);
    }
    let z = gap / sd;
    gap * norm_cdf(z) + sd * norm_pdf(z)
}

fn norm_pdf(z: f64) -> f64 {
    (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt()
}

/// Standard normal CDF via erfc (Numerical Recipes' Chebyshev fit,
/// relative error < 1.2e-7, ample for ranking acquisitions).
fn norm_cdf(z: f64) -> f64 {
    let x = -z / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.5 * x.abs());
    let poly = -x * x - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07 + t * (-1.135_203_98 + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let erfc_abs = t * poly.exp();
    0.5 * if x >= 0.0 { erfc_abs } else { 2.0 - erfc_abs }
}

/// The space's points as level indices, point-major. Distances are in
/// normalised units: level index ÷ (levels − 1), so every knob spans
/// [0, 1] whatever its unit.
struct Coords {
    dim: usize,
    idx: Vec<usize>,
    shape: Vec<usize>,
}

impl Coords {
    fn at(&self, p: usize) -> &[usize] {
        &self.idx[p * self.dim..(p + 1) * self.dim]
    }

    fn len(&self) -> usize {
        self.idx.len().checked_div(self.dim).unwrap_or(0)
    }

    fn dist2(&self, a: usize, b: usize) -> f64 {
        self.at(a)
            .iter()
            .zip(self.at(b))
            .zip(&self.shape)
            .map(|((&x, &y), &n)| (x.abs_diff(y) as f64 / (n.max(2) - 1) as f64).powi(2))
            .sum()
    }

    /// `want` points spread out from `start` and from each other: each is
    /// the best of a few random candidates by distance to its nearest
    /// chosen point (space-filling, but not always the corners).
    fn spread(&self, start: &[usize], want: usize, rng: &mut StdRng) -> Vec<usize> {
        let n = self.len();
        // Squared distance to the nearest chosen point; 0 = chosen.
        let mut nearest = vec![f64::INFINITY; n];
        let take = |p: usize, nearest: &mut Vec<f64>| {
            for (q, d) in nearest.iter_mut().enumerate() {
                *d = d.min(self.dist2(p, q));
            }
        };
        for &p in start.iter().filter(|&&p| p < n) {
            take(p, &mut nearest);
        }
        let mut out = Vec::new();
        while out.len() < want {
            let mut best: Option<usize> = None;
            for _ in 0..24 {
                let p = rng.random_range(0..n.max(1));
                if p < n && nearest[p] > 0.0 && best.is_none_or(|b| nearest[p] > nearest[b]) {
                    best = Some(p);
                }
            }
            let Some(p) = best.or_else(|| (0..n).find(|&p| nearest[p] > 0.0)) else {
                break;
            };
            take(p, &mut nearest);
            out.push(p);
        }
        out
    }
}

/// Product Matérn 5/2 correlation over the knobs: smooth enough to
/// interpolate, rough enough for a landscape with a kink, one length scale
/// per knob (a knob that doesn't matter gets a long one). Points sit on a
/// grid, so each knob's factor depends only on the level difference and is
/// tabulated: a correlation costs a few lookups, not an `exp`.
struct Kernel {
    tables: Vec<Vec<f64>>,
}

impl Kernel {
    fn new(coords: &Coords, ls: &[f64]) -> Kernel {
        let tables = coords
            .shape
            .iter()
            .zip(ls)
            .map(|(&n, &l)| {
                (0..n)
                    .map(|delta| {
                        let r = 5f64.sqrt() * delta as f64 / (n.max(2) - 1) as f64 / l;
                        (1.0 + r + r * r / 3.0) * (-r).exp()
                    })
                    .collect()
            })
            .collect();
        Kernel { tables }
    }

    fn corr(&self, coords: &Coords, a: usize, b: usize) -> f64 {
        coords.at(a).iter().zip(coords.at(b)).zip(&self.tables).map(|((&x, &y), t)| t[x.abs_diff(y)]).product()
    }
}

/// A Gaussian process on the space's points, in correlation units: the
/// covariance is σ²·(R + λ·W), R the Matérn correlation, W = diag(1/budget)
/// (a short trial is noisier), λ the noise-to-signal ratio of a full trial.
/// The mean is a constant (its generalised-least-squares estimate) and σ²
/// its profile maximum-likelihood estimate, so only the length scales and λ
/// are searched.
struct Gp {
    kernel: Kernel,
    lambda: f64,
    /// (point, log score, noise multiplier).
    obs: Vec<(usize, f64, f64)>,
    /// Cholesky factor of R + λW, row by row.
    l: Vec<Vec<f64>>,
    /// Per space point: L⁻¹·r (r = its correlations with the observations)
    /// and that vector's squared norm.
    v: Vec<Vec<f64>>,
    vv: Vec<f64>,
    /// L⁻¹(y − mean·1), the GLS mean and the signal variance.
    z: Vec<f64>,
    mean: f64,
    sf2: f64,
    /// L⁻¹·1, kept to update the mean after each observation.
    u: Vec<f64>,
    /// L⁻¹·y.
    zy: Vec<f64>,
}

impl Gp {
    fn build(coords: &Coords, obs: Vec<(usize, f64, f64)>, ls: Vec<f64>, lambda: f64) -> Gp {
        let n_points = coords.len();
        let mut gp = Gp {
            kernel: Kernel::new(coords, &ls),
            lambda,
            obs: Vec::with_capacity(obs.len()),
            l: Vec::new(),
            v: (0..n_points).map(|_| Vec::with_capacity(obs.len() + 64)).collect(),
            vv: vec![0.0; n_points],
            z: Vec::new(),
            mean: 0.0,
            sf2: 1.0,
            u: Vec::new(),
            zy: Vec::new(),
        };
        for (p, y, w) in obs {
            gp.push(coords, p, y, w, false);
        }
        gp
    }

    fn n(&self) -> usize {
        self.obs.len()
    }

    /// Add one observation: one new row of L, one new entry of every
    /// point's solved vector. A `fantasy` (kriging believer) leaves the
    /// mean, σ² and residuals alone: its y equals the prediction.
    fn push(&mut self, coords: &Coords, p: usize, y: f64, w: f64, fantasy: bool) {
        let row = self.v[p].clone();
        let d2 = 1.0 + self.lambda * w - self.vv[p];
        let d = d2.max(1e-10).sqrt();
        for (j, vj) in self.v.iter_mut().enumerate() {
            let dot = dot(vj, &row);
            let e = (self.kernel.corr(coords, j, p) - dot) / d;
            vj.push(e);
            self.vv[j] += e * e;
        }
        let mut full = row;
        full.push(d);
        // Forward-solve entries for L⁻¹·1 and L⁻¹·y.
        let k = self.l.len();
        let u_new = (1.0 - dot(&full[..k], &self.u)) / d;
        let zy_new = (y - dot(&full[..k], &self.zy)) / d;
        self.l.push(full);
        self.obs.push((p, y, w));
        self.u.push(u_new);
        self.zy.push(zy_new);
        if fantasy {
            self.z.push(0.0);
        } else {
            self.refresh_mean();
        }
    }

    /// Drop observations past the first `n` (the batch's fantasies).
    fn truncate(&mut self, n: usize) {
        if n >= self.n() {
            return;
        }
        for (vj, vv) in self.v.iter_mut().zip(&mut self.vv) {
            for e in vj.drain(n..) {
                *vv -= e * e;
            }
        }
        self.l.truncate(n);
        self.obs.truncate(n);
        self.u.truncate(n);
        self.zy.truncate(n);
        self.z.truncate(n);
    }

    fn refresh_mean(&mut self) {
        let uu: f64 = self.u.iter().map(|a| a * a).sum();
        let uy: f64 = self.u.iter().zip(&self.zy).map(|(a, b)| a * b).sum();
        self.mean = if uu > 0.0 { uy / uu } else { 0.0 };
        self.z = self.zy.iter().zip(&self.u).map(|(zy, u)| zy - self.mean * u).collect();
        let n = self.z.len().max(1) as f64;
        self.sf2 = (self.z.iter().map(|a| a * a).sum::<f64>() / n).max(1e-12);
    }

    /// Posterior mean of the latent log score at point `p`.
    fn mean_at(&self, p: usize) -> f64 {
        self.mean + dot(&self.v[p], &self.z)
    }

    /// Posterior standard deviation of the latent log score (without the
    /// measurement noise).
    fn sd_at(&self, p: usize) -> f64 {
        (self.sf2 * (1.0 - self.vv[p]).max(0.0)).sqrt()
    }
}

/// Dot product with eight accumulators: the compiler may not reorder a
/// float sum, and this is the GP's inner loop.
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f64 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    acc.iter().sum::<f64>() + tail
}

/// Profile log marginal likelihood of the observations under (ls, λ), plus
/// a weak log-normal prior on the length scales (centred on half the
/// range) so a handful of points can't pick absurd ones. None if the
/// matrix is not positive definite.
fn log_likelihood(coords: &Coords, obs: &[(usize, f64, f64)], ls: &[f64], lambda: f64) -> Option<f64> {
    let n = obs.len();
    let kernel = Kernel::new(coords, ls);
    let mut l = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let mut s = kernel.corr(coords, obs[i].0, obs[j].0);
            if i == j {
                s += lambda * obs[i].2;
            }
            s -= dot(&l[i * n..i * n + j], &l[j * n..j * n + j]);
            if i == j {
                if s.is_nan() || s <= 1e-12 {
                    return None;
                }
                l[i * n + i] = s.sqrt();
            } else {
                l[i * n + j] = s / l[j * n + j];
            }
        }
    }
    let solve = |b: &dyn Fn(usize) -> f64| {
        let mut x = vec![0.0; n];
        for i in 0..n {
            let s = dot(&l[i * n..i * n + i], &x[..i]);
            x[i] = (b(i) - s) / l[i * n + i];
        }
        x
    };
    let u = solve(&|_| 1.0);
    let zy = solve(&|i| obs[i].1);
    let uu: f64 = u.iter().map(|a| a * a).sum();
    let mean = u.iter().zip(&zy).map(|(a, b)| a * b).sum::<f64>() / uu;
    let sf2 = zy.iter().zip(&u).map(|(a, b)| (a - mean * b).powi(2)).sum::<f64>() / n as f64;
    let logdet: f64 = (0..n).map(|i| l[i * n + i].ln()).sum();
    let prior: f64 = ls.iter().map(|l| -0.5 * ((l / 0.5).ln() / 1.5).powi(2)).sum();
    Some(-0.5 * n as f64 * sf2.max(1e-12).ln() - logdet + prior)
}

/// Kernel hyperparameters as rungs of `LENGTHS` (one per knob) and
/// `LAMBDAS`.
#[derive(Clone, Debug, PartialEq)]
struct Hyper {
    ls: Vec<usize>,
    lambda: usize,
}

impl Hyper {
    fn values(&self) -> (Vec<f64>, f64) {
        (self.ls.iter().map(|&i| LENGTHS[i]).collect(), LAMBDAS[self.lambda])
    }
}

/// Choose length scales (one per knob) and λ by maximising the likelihood.
/// From scratch: a coarse search with one shared length scale, then
/// coordinate sweeps per knob. From a previous fit (`start`): coordinate
/// steps to neighbouring rungs only, since a few more observations move the
/// optimum little and a refit must stay cheap.
fn fit(coords: &Coords, obs: &[(usize, f64, f64)], start: Option<Hyper>) -> Hyper {
    let d = coords.dim;
    let score = |h: &Hyper| {
        let (ls, lam) = h.values();
        log_likelihood(coords, obs, &ls, lam).unwrap_or(f64::NEG_INFINITY)
    };
    let (mut best, mut best_s, local) = match start {
        Some(h) if h.ls.len() == d => {
            let s = score(&h);
            (h, s, true)
        }
        _ => {
            let mut best = (Hyper { ls: vec![3; d], lambda: 4 }, f64::NEG_INFINITY);
            for l in 0..LENGTHS.len() {
                for lambda in 0..LAMBDAS.len() {
                    let h = Hyper { ls: vec![l; d], lambda };
                    let s = score(&h);
                    if s > best.1 {
                        best = (h, s);
                    }
                }
            }
            (best.0, best.1, false)
        }
    };
    for _round in 0..3 {
        let before = best_s;
        // k < d: knob k's length scale; k == d: λ.
        for k in 0..=d {
            let (cur, len) = if k < d { (best.ls[k], LENGTHS.len()) } else { (best.lambda, LAMBDAS.len()) };
            let moves: Vec<usize> = if local {
                [cur.wrapping_sub(1), cur + 1].into_iter().filter(|&i| i < len).collect()
            } else {
                (0..len).filter(|&i| i != cur).collect()
            };
            for i in moves {
                let mut h = best.clone();
                if k < d {
                    h.ls[k] = i;
                } else {
                    h.lambda = i;
                }
                let s = score(&h);
                if s > best_s {
                    (best, best_s) = (h, s);
                }
            }
        }
        if best_s <= before {
            break;
        }
    }
    best
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
