//! Successive halving: measure many candidates briefly, keep the best
//! third, measure those longer, and so on; the last few get full trials.
//!
//! Why it beats a grid: most configs are clearly worse than the best and a
//! short trial is enough to see it, so the trial time goes where the
//! differences are small. A candidate's standing is the budget-weighted mean
//! of all its measurements so far, so nothing measured is thrown away.

use std::collections::HashSet;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use super::{Ask, BLOCK, Candidates, MAX_ENUMERATED, Search, even_batches};
use crate::sched::SchedConfig;
use crate::tune::space::Space;

/// Each rung keeps the best 1/ETA of its candidates.
const ETA: usize = 3;
/// Halving stops once this many are left; they get the final full trials.
const FINAL: usize = 3;
/// Shortest trial, as a fraction of a full one. Shorter trials see too few
/// slow frames for a p99 (with the default 120 s trials at 60 fps, 1/9 is
/// ~13 s, ~800 frames: a p99 from the 8 slowest).
const MIN_BUDGET: f64 = 1.0 / 9.0;

/// The search's state: the candidates still in contention, the rungs still
/// to run, and the batches of the stage under way.
pub struct Halving {
    candidates: Candidates,
    alive: Vec<usize>,
    /// The alive sets before each cut, latest last: `best` falls back on
    /// them when every survivor failed.
    history: Vec<Vec<usize>>,
    /// Budgets of the rungs not started yet, next first.
    rungs: Vec<f64>,
    /// Whether the stage under way is a rung (its end cuts `alive`).
    in_rung: bool,
    final_left: u32,
    stage_budget: f64,
    queue: Vec<Vec<usize>>,
    /// Trial time left under the cap, in full trials.
    left: f64,
    rng: StdRng,
}

/// Rung sizes and budgets for `n` candidates under `cap` full trials.
/// Every rung gets an equal share of the budget not reserved for the final
/// full trials (the standard successive-halving split), clamped to
/// [`MIN_BUDGET`, 1]. Returns (budgets, total cost).
fn plan(n: usize, cap: f64, repeats: u32) -> (Vec<f64>, f64) {
    let mut sizes = Vec::new();
    let mut m = n;
    while m > FINAL {
        sizes.push(m);
        m = m.div_ceil(ETA);
    }
    let fin = (m * repeats as usize) as f64;
    if sizes.is_empty() {
        return (Vec::new(), fin);
    }
    let share = (cap - fin).max(0.0) / sizes.len() as f64;
    let budgets: Vec<f64> = sizes.iter().map(|&s| (share / s as f64).clamp(MIN_BUDGET, 1.0)).collect();
    let cost = sizes.iter().zip(&budgets).map(|(&s, &b)| s as f64 * b).sum::<f64>() + fin;
    (budgets, cost)
}

impl Halving {
    /// `max_trials`: cap on the summed budgets (default: a quarter of the
    /// candidate count, at least 8 trials). When the cap cannot cover every
    /// candidate, a reproducible random sample of the space is used; the
    /// seeds are always in it.
    pub fn new(seeds: &[SchedConfig], space: Option<&Space>, repeats: u32, max_trials: Option<f64>, seed: u64) -> Halving {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut candidates = Candidates::with_seeds(seeds);
        let n_seeds = candidates.configs.len();
        let space_size = space.map_or(0, Space::size);
        let total = n_seeds.saturating_add(space_size).min(MAX_ENUMERATED.max(n_seeds));
        let cap = max_trials.unwrap_or((total as f64 / 4.0).max(8.0));
        let repeats = repeats.max(1);
        let mut n = total.max(1);
        while n > n_seeds.max(1) && plan(n, cap, repeats).1 > cap {
            n = (n * 19 / 20).max(n_seeds.max(1)).min(n - 1);
        }
        if let Some(space) = space {
            add_space_sample(&mut candidates, space, n, &mut rng);
        }
        let alive: Vec<usize> = (0..candidates.configs.len()).collect();
        let (rungs, _) = plan(alive.len(), cap, repeats);
        Halving {
            candidates,
            alive,
            history: Vec::new(),
            rungs,
            in_rung: false,
            final_left: repeats,
            stage_budget: 1.0,
            queue: Vec::new(),
            left: cap,
            rng,
        }
    }

    /// Cut `alive` to the best 1/ETA by mean score (at least one); failed
    /// and unmeasured candidates drop out.
    fn cut(&mut self) {
        let mut scored: Vec<(usize, f64)> = self.alive.iter().filter_map(|&c| self.candidates.mean(c).map(|m| (c, m))).collect();
        scored.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
        let keep = scored.len().div_ceil(ETA);
        self.history.push(std::mem::take(&mut self.alive));
        self.alive = scored.into_iter().take(keep).map(|(c, _)| c).collect();
    }

    /// Queue the next stage; false when there is none.
    fn start_stage(&mut self) -> bool {
        if self.in_rung {
            self.cut();
        }
        let budget = if !self.rungs.is_empty() {
            self.in_rung = true;
            self.rungs.remove(0)
        } else if self.final_left > 0 {
            self.in_rung = false;
            self.final_left -= 1;
            1.0
        } else {
            return false;
        };
        let mut order: Vec<usize> = self.alive.iter().copied().filter(|&c| !self.candidates.failed(c)).collect();
        order.shuffle(&mut self.rng);
        self.stage_budget = budget;
        self.queue = even_batches(&order, BLOCK);
        self.queue.reverse();
        true
    }
}

/// Add `want` candidates in total to `candidates` (seeds already in): every point
/// when they fit, else a random sample without repeats.
fn add_space_sample(candidates: &mut Candidates, space: &Space, want: usize, rng: &mut StdRng) {
    let size = space.size();
    if size <= MAX_ENUMERATED {
        let mut points = space.all_points();
        if candidates.configs.len() + points.len() > want {
            points.shuffle(rng);
        }
        for p in points {
            if candidates.configs.len() >= want {
                break;
            }
            candidates.add(space.config(&p));
        }
        return;
    }
    let shape = space.shape();
    let mut seen = HashSet::new();
    let mut tries = 0usize;
    while candidates.configs.len() < want && tries < want.saturating_mul(20) {
        tries += 1;
        let p: Vec<usize> = shape.iter().map(|&n| rng.random_range(0..n)).collect();
        if seen.insert(p.clone()) {
            candidates.add(space.config(&p));
        }
    }
}

impl Search for Halving {
    fn name(&self) -> &'static str {
        "halving"
    }

    fn next_batch(&mut self) -> Option<Vec<Ask>> {
        loop {
            if let Some(mut batch) = self.queue.pop() {
                let fits = (self.left / self.stage_budget + 1e-9).floor() as usize;
                batch.truncate(fits);
                if batch.is_empty() {
                    self.queue.clear();
                    self.rungs.clear();
                    self.final_left = 0;
                    self.in_rung = false;
                    return None;
                }
                self.left -= batch.len() as f64 * self.stage_budget;
                let b = self.stage_budget;
                return Some(batch.into_iter().map(|c| self.candidates.ask(c, b)).collect());
            }
            if !self.start_stage() {
                return None;
            }
        }
    }

    fn tell(&mut self, id: usize, score: Option<f64>) {
        self.candidates.tell(id, score);
    }

    /// The best of the candidates still in contention: one eliminated early
    /// on a single lucky short trial must not win. When all of them failed,
    /// the best of the previous rung's that did not.
    fn best(&self) -> Option<(SchedConfig, f64)> {
        std::iter::once(&self.alive).chain(self.history.iter().rev()).find_map(|set| self.candidates.best_of(set.iter().copied()))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::super::tests::{cube, drive};
    use super::*;

    #[test]
    fn plan_fits_the_cap_and_budgets_grow() {
        for (n, cap) in [(600, 150.0), (216, 54.0), (50, 20.0), (10, 8.0)] {
            let (b, cost) = plan(n, cap, 1);
            assert!(!b.is_empty());
            assert!(b.windows(2).all(|w| w[0] <= w[1]), "{b:?}");
            assert!(b.iter().all(|&x| (MIN_BUDGET..=1.0).contains(&x)), "{b:?}");
            let _ = cost;
        }
        assert_eq!(plan(3, 8.0, 2), (vec![], 6.0));
    }

    #[test]
    fn keeps_the_best_third_and_finishes_with_full_trials() {
        let space = cube(6);
        let mut h = Halving::new(&[], Some(&space), 2, Some(80.0), 11);
        let truth = |c: &SchedConfig| {
            1.0 + (c.slice_us as f64 / 250.0 - 4.0).powi(2) / 50.0
                + (c.game_boost_us as f64 / 500.0 - 2.0).powi(2) / 60.0
                + c.input_window_us as f64 / 1e5
        };
        let mut seen: HashMap<SchedConfig, Vec<f64>> = HashMap::new();
        let (_, budget) = drive(&mut h, |c, b| {
            seen.entry(*c).or_default().push(b);
            Some(truth(c))
        });
        assert!(budget <= 80.0 + 1e-9, "{budget}");
        // Every point got a first look, the optimum got full trials at the end.
        assert_eq!(seen.len(), 216);
        let (best, score) = h.best().unwrap();
        assert_eq!((best.slice_us, best.game_boost_us, best.input_window_us), (1000, 1000, 500));
        assert!((score - truth(&best)).abs() < 1e-9);
        let b = &seen[&best];
        assert!(b.ends_with(&[1.0, 1.0]), "{b:?}");
        // The number of candidates measured at each budget shrinks by ETA.
        let mut per_budget: HashMap<u64, usize> = HashMap::new();
        for bs in seen.values() {
            for b in bs {
                *per_budget.entry(b.to_bits()).or_default() += 1;
            }
        }
        let mut counts: Vec<(f64, usize)> = per_budget.into_iter().map(|(b, n)| (f64::from_bits(b), n)).collect();
        counts.sort_by(|a, b| a.0.total_cmp(&b.0));
        let sizes: Vec<usize> = counts.iter().map(|c| c.1).collect();
        // Rungs of 216, 72, 24 and 8 (the last at full length, with the
        // final 3 × 2 full trials on top).
        assert_eq!(sizes, vec![216, 72, 24, 8 + 3 * 2], "{counts:?}");
    }

    #[test]
    fn failed_configs_are_dropped_and_never_best() {
        let space = cube(4);
        let mut h = Halving::new(&[], Some(&space), 1, None, 3);
        // The best-scoring configs all fail once measured at full length,
        // so the final survivors fail: the pick falls back a rung.
        let mut failed = HashSet::new();
        drive(&mut h, |c, b| {
            let s = 1.0 + c.slice_us as f64 / 1e4;
            if c.slice_us == 250 && b == 1.0 {
                failed.insert(*c);
                return None;
            }
            Some(s)
        });
        assert!(!failed.is_empty());
        let (best, _) = h.best().unwrap();
        assert!(!failed.contains(&best));
        // Configs that fail at once never get past the first rung.
        let mut h = Halving::new(&[], Some(&space), 1, None, 3);
        let mut late = 0;
        drive(&mut h, |c, b| {
            if c.slice_us == 250 {
                late += usize::from(b > MIN_BUDGET + 1e-9);
                return None;
            }
            Some(1.0 + c.slice_us as f64 / 1e4)
        });
        assert_eq!(late, 0);
        assert_eq!(h.best().unwrap().0.slice_us, 500);
    }

    #[test]
    fn huge_spaces_are_sampled_within_the_cap() {
        let levels: Vec<u64> = (0..40).collect();
        let dims = ["input_window_us", "mig_max", "game_boost_us"]
            .iter()
            .map(|k| crate::tune::space::Dim { knob: (*k).into(), levels: levels.clone() })
            .collect();
        let space = Space::new(SchedConfig::default(), dims).unwrap();
        let seed = SchedConfig { mig_max: 1000, ..SchedConfig::default() };
        let mut h = Halving::new(&[seed], Some(&space), 1, Some(60.0), 2);
        let mut asked_seed = false;
        let (_, budget) = drive(&mut h, |c, _| {
            asked_seed |= *c == seed;
            Some(1.0)
        });
        assert!(asked_seed);
        assert!(budget <= 60.0 + 1e-9, "{budget}");
    }
}
