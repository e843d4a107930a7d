//! Grid search: measure every candidate `repeats` times, pick the lowest
//! mean. The reference the adaptive searches are measured against, and the
//! right choice when the candidates are a handful of hand-written configs.

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use super::{Ask, BLOCK, Candidates, Search, even_batches, seeds_and_space};
use crate::sched::SchedConfig;
use crate::tune::space::Space;

/// Every seed and space point, in `repeats` passes. Each pass visits the
/// candidates in a fresh random order, split into blocks of at most
/// `BLOCK`: random order keeps the game's drift from lining up with any
/// knob, short blocks keep each config near its baseline in time.
pub struct Grid {
    candidates: Candidates,
    repeats: u32,
    passes_done: u32,
    queue: Vec<Vec<usize>>,
    /// Asks left under `max_trials`.
    left: usize,
    /// Most configs per batch.
    batch: usize,
    rng: StdRng,
}

impl Grid {
    pub fn new(seeds: &[SchedConfig], space: Option<&Space>, repeats: u32, max_trials: Option<usize>, seed: u64) -> Grid {
        let mut candidates = Candidates::default();
        for c in seeds_and_space(seeds, space) {
            candidates.add(c);
        }
        Grid {
            candidates,
            repeats: repeats.max(1),
            passes_done: 0,
            queue: Vec::new(),
            left: max_trials.unwrap_or(usize::MAX),
            batch: BLOCK,
            rng: StdRng::seed_from_u64(seed),
        }
    }

    /// Batches of at most `n` configs instead of `BLOCK`.
    pub fn with_batch(self, n: usize) -> Grid {
        Grid { batch: n.max(1), ..self }
    }
}

impl Search for Grid {
    fn name(&self) -> &'static str {
        "grid"
    }

    fn next_batch(&mut self) -> Option<Vec<Ask>> {
        while self.queue.is_empty() {
            if self.passes_done >= self.repeats {
                return None;
            }
            self.passes_done += 1;
            // A config that failed is not measured again: it can't win.
            let mut order: Vec<usize> = (0..self.candidates.configs.len()).filter(|&c| !self.candidates.failed(c)).collect();
            order.shuffle(&mut self.rng);
            self.queue = even_batches(&order, self.batch);
            self.queue.reverse(); // popped from the back
        }
        let mut batch = self.queue.pop()?;
        batch.truncate(self.left);
        if batch.is_empty() {
            self.queue.clear();
            self.passes_done = self.repeats;
            return None;
        }
        self.left -= batch.len();
        Some(batch.into_iter().map(|c| self.candidates.ask(c, 1.0)).collect())
    }

    fn tell(&mut self, id: usize, score: Option<f64>) {
        self.candidates.tell(id, score);
    }

    fn best(&self) -> Option<(SchedConfig, f64)> {
        self.candidates.best_of(0..self.candidates.configs.len())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::super::tests::{cube, drive};
    use super::*;

    #[test]
    fn every_candidate_repeats_times_and_lowest_mean_wins() {
        let space = cube(3);
        let extra = SchedConfig { mig_max: 9, ..SchedConfig::default() };
        // `extra` is outside the space; the space's first point is listed twice.
        let seeds = [extra, space.config(&[0, 0, 0])];
        let mut g = Grid::new(&seeds, Some(&space), 3, None, 5);
        let mut counts: HashMap<SchedConfig, u32> = HashMap::new();
        let mut round = 0u32;
        let (asks, budget) = drive(&mut g, |c, b| {
            assert_eq!(b, 1.0);
            *counts.entry(*c).or_default() += 1;
            round += 1;
            // The extra seed is best on average though not on every trial.
            let base = if *c == extra { 0.9 } else { 1.0 + c.slice_us as f64 / 1e4 };
            Some(base * if round.is_multiple_of(2) { 1.05 } else { 0.97 })
        });
        assert_eq!(asks, 28 * 3);
        assert_eq!(budget, 84.0);
        assert_eq!(counts.len(), 28);
        assert!(counts.values().all(|&n| n == 3));
        let (best, score) = g.best().unwrap();
        assert_eq!(best, extra);
        assert!((score - 0.9).abs() < 0.1, "{score}");
    }

    #[test]
    fn max_trials_caps_asks_and_failures_are_not_retried() {
        let space = cube(3);
        let bad = space.config(&[1, 1, 1]);
        let mut g = Grid::new(&[], Some(&space), 5, None, 1);
        let mut bad_asks = 0;
        let (asks, _) = drive(&mut g, |c, _| {
            if *c == bad {
                bad_asks += 1;
                return None;
            }
            Some(2.0)
        });
        assert_eq!(bad_asks, 1);
        assert_eq!(asks, 27 + 26 * 4);
        let mut g = Grid::new(&[], Some(&space), 5, Some(40), 1);
        assert_eq!(drive(&mut g, |_, _| Some(1.0)).0, 40);
    }

    #[test]
    fn seeds_only() {
        let a = SchedConfig { slice_us: 700, ..SchedConfig::default() };
        let b = SchedConfig::default();
        let mut g = Grid::new(&[a, b], None, 2, None, 0);
        let (asks, _) = drive(&mut g, |c, _| Some(if *c == a { 1.2 } else { 0.8 }));
        assert_eq!(asks, 4);
        assert_eq!(g.best().unwrap().0, b);
    }
}
