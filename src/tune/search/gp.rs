//! The Gaussian-process algebra behind the model search: coordinates of
//! the space's points, a product Matérn 5/2 kernel, the GP with its
//! Cholesky factor extended one observation at a time, the marginal
//! likelihood and the fit of its hyperparameters, and expected improvement.
//! Exact algebra: the spaces are small (see `model`).

use rand::Rng;
use rand::rngs::StdRng;

/// Candidate length scales (in units of a knob's whole level range) and
/// noise-to-signal variance ratios for the marginal-likelihood fit.
pub(super) const LENGTHS: [f64; 9] = [0.08, 0.15, 0.25, 0.4, 0.65, 1.0, 1.6, 2.6, 4.0];
pub(super) const LAMBDAS: [f64; 8] = [0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0];

/// E[max(0, gap − noise-free error)] for a normal prediction: `gap` =
/// incumbent − predicted mean, `sd` = predictive standard deviation.
pub(super) fn expected_improvement(gap: f64, sd: f64) -> f64 {
    if sd.is_nan() || sd <= 1e-12 {
        return gap.max(0.0);
    }
    let z = gap / sd;
    gap * norm_cdf(z) + sd * norm_pdf(z)
}

pub(super) fn norm_pdf(z: f64) -> f64 {
    (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt()
}

/// Standard normal CDF via erfc (Numerical Recipes' Chebyshev fit,
/// relative error < 1.2e-7, ample for ranking acquisitions).
pub(super) fn norm_cdf(z: f64) -> f64 {
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
pub(super) struct Coords {
    pub(super) dim: usize,
    pub(super) idx: Vec<usize>,
    pub(super) shape: Vec<usize>,
}

impl Coords {
    pub(super) fn at(&self, p: usize) -> &[usize] {
        &self.idx[p * self.dim..(p + 1) * self.dim]
    }

    pub(super) fn len(&self) -> usize {
        self.idx.len().checked_div(self.dim).unwrap_or(0)
    }

    pub(super) fn dist2(&self, a: usize, b: usize) -> f64 {
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
    pub(super) fn spread(&self, start: &[usize], want: usize, rng: &mut StdRng) -> Vec<usize> {
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
pub(super) struct Kernel {
    pub(super) tables: Vec<Vec<f64>>,
}

impl Kernel {
    pub(super) fn new(coords: &Coords, ls: &[f64]) -> Kernel {
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

    pub(super) fn corr(&self, coords: &Coords, a: usize, b: usize) -> f64 {
        coords.at(a).iter().zip(coords.at(b)).zip(&self.tables).map(|((&x, &y), t)| t[x.abs_diff(y)]).product()
    }
}

/// A Gaussian process on the space's points, in correlation units: the
/// covariance is σ²·(R + λ·W), R the Matérn correlation, W = diag(1/budget)
/// (a short trial is noisier), λ the noise-to-signal ratio of a full trial.
/// The mean is a constant (its generalised-least-squares estimate) and σ²
/// its profile maximum-likelihood estimate, so only the length scales and λ
/// are searched.
pub(super) struct Gp {
    pub(super) kernel: Kernel,
    pub(super) lambda: f64,
    /// (point, log score, noise multiplier).
    pub(super) obs: Vec<(usize, f64, f64)>,
    /// Cholesky factor of R + λW, row by row.
    pub(super) l: Vec<Vec<f64>>,
    /// Per space point: L⁻¹·r (r = its correlations with the observations)
    /// and that vector's squared norm.
    pub(super) v: Vec<Vec<f64>>,
    pub(super) vv: Vec<f64>,
    /// L⁻¹(y − mean·1), the GLS mean and the signal variance.
    pub(super) z: Vec<f64>,
    pub(super) mean: f64,
    sf2: f64,
    /// L⁻¹·1, kept to update the mean after each observation.
    pub(super) u: Vec<f64>,
    /// L⁻¹·y.
    pub(super) zy: Vec<f64>,
}

impl Gp {
    pub(super) fn build(coords: &Coords, obs: Vec<(usize, f64, f64)>, ls: Vec<f64>, lambda: f64) -> Gp {
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

    pub(super) fn n(&self) -> usize {
        self.obs.len()
    }

    /// Add one observation: one new row of L, one new entry of every
    /// point's solved vector. A `fantasy` (kriging believer) leaves the
    /// mean, σ² and residuals alone: its y equals the prediction.
    pub(super) fn push(&mut self, coords: &Coords, p: usize, y: f64, w: f64, fantasy: bool) {
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
    pub(super) fn truncate(&mut self, n: usize) {
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

    pub(super) fn refresh_mean(&mut self) {
        let uu: f64 = self.u.iter().map(|a| a * a).sum();
        let uy: f64 = self.u.iter().zip(&self.zy).map(|(a, b)| a * b).sum();
        self.mean = if uu > 0.0 { uy / uu } else { 0.0 };
        self.z = self.zy.iter().zip(&self.u).map(|(zy, u)| zy - self.mean * u).collect();
        let n = self.z.len().max(1) as f64;
        self.sf2 = (self.z.iter().map(|a| a * a).sum::<f64>() / n).max(1e-12);
    }

    /// Posterior mean of the latent log score at point `p`.
    pub(super) fn mean_at(&self, p: usize) -> f64 {
        self.mean + dot(&self.v[p], &self.z)
    }

    /// Posterior standard deviation of the latent log score (without the
    /// measurement noise).
    pub(super) fn sd_at(&self, p: usize) -> f64 {
        (self.sf2 * (1.0 - self.vv[p]).max(0.0)).sqrt()
    }
}

/// Dot product with eight accumulators: the compiler may not reorder a
/// float sum, and this is the GP's inner loop.
pub(super) fn dot(a: &[f64], b: &[f64]) -> f64 {
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
pub(super) fn log_likelihood(coords: &Coords, obs: &[(usize, f64, f64)], ls: &[f64], lambda: f64) -> Option<f64> {
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
pub(super) struct Hyper {
    pub(super) ls: Vec<usize>,
    pub(super) lambda: usize,
}

impl Hyper {
    pub(super) fn values(&self) -> (Vec<f64>, f64) {
        (self.ls.iter().map(|&i| LENGTHS[i]).collect(), LAMBDAS[self.lambda])
    }
}

/// Choose length scales (one per knob) and λ by maximising the likelihood.
/// From scratch: a coarse search with one shared length scale, then
/// coordinate sweeps per knob. From a previous fit (`start`): coordinate
/// steps to neighbouring rungs only, since a few more observations move the
/// optimum little and a refit must stay cheap.
pub(super) fn fit(coords: &Coords, obs: &[(usize, f64, f64)], start: Option<Hyper>) -> Hyper {
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
