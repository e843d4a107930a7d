//! The interleaved race: which contenders of a batch are still measured,
//! and when the batch is decided. Pure bookkeeping over per-round p99s; the
//! runner measures, this module decides.
//!
//! Every round, each contender still running (the batch's configs, the
//! defaults, the kernel's scheduler) gets one short segment, in a fresh
//! random order but for its first (`round_order`). A round lasts about a
//! minute at most, so every contender sees the same
//! mix of scenes, and comparing contenders round by round cancels the
//! scenes (a fight slows every segment of its round alike). After each
//! round, from `MIN_ROUNDS` on:
//!
//! - the leader is the running config with the lowest p99 relative to the
//!   kernel's scheduler (geometric mean over rounds);
//! - a config whose p99, paired by round with the leader's, is above it
//!   over its whole `DROP_LEVEL` (99.9 %) interval
//!   (`verdict::score::paired_ratio`) is dropped: its time goes to the
//!   contenders;
//! - the race is decided when one config is left and its interval against
//!   the kernel's scheduler (at the same level) excludes 1, better or
//!   worse (without a baseline: when one is left).
//!
//! The kernel's scheduler is never dropped: every verdict is relative to it.

use rand::Rng;
use rand::seq::SliceRandom;

use crate::sched::SchedConfig;
use crate::verdict::score::{Interval, paired_ratio};

/// Rounds before any contender may be dropped or the race decided: a
/// t-interval over fewer pairs is too wide to drop anything that is not
/// grossly worse, and a few rounds spread the contenders over more scenes.
pub const MIN_ROUNDS: usize = 4;

/// Most rounds of one race, whatever the budget (with `launch --tune`,
/// over all its launches).
pub const MAX_ROUNDS: usize = 60;

/// Confidence of the intervals the race drops and stops on. Higher than a
/// verdict's 95 %: the race looks after every round, and a config looked at
/// twenty times at 95 % is dropped wrongly far more often than 5 % of the
/// time (in the A/A races of the unit test below: 26 % wrongly dropped at 95 %,
/// 11 % at 99 %, 7.5 % at 99.5 %, 2.5 % at 99.9 %).
pub const DROP_LEVEL: f64 = 0.999;

/// Most rounds of a race whose longest ask has `budget` (a share of a full
/// trial, as the search asks) when a full trial is `full_trial_rounds`
/// segments long (the trial's length ÷ the segment's). A full ask races to
/// its decision, up to `MAX_ROUNDS` (the plan's race across launches too);
/// a screening ask (halving's 1/9) gets the segments of its share of a
/// trial, as a block would measure it, never fewer than `MIN_ROUNDS`.
/// Without the cap a screening race of configs level with each other ran
/// as long as a final one.
pub fn max_rounds(budget: f64, full_trial_rounds: f64) -> usize {
    let rounds = (budget.max(0.0) * full_trial_rounds).ceil();
    // (a budget of NaN counts as a full ask)
    if budget.is_nan() || budget >= 1.0 || !rounds.is_finite() {
        return MAX_ROUNDS;
    }
    (rounds as usize).clamp(MIN_ROUNDS, MAX_ROUNDS)
}

/// Who runs in a block or a race of `configs` (the batch's, in order): those
/// configs, then the defaults when the batch is a `full` look (its longest
/// ask a full trial) with another config but not them, then the
/// kernel's scheduler (None) when there is a `baseline`. A config wins only
/// if it beats the defaults beyond the noise, paired by block like the
/// baseline (`verdict::rank`): so every full look with another config
/// measures the defaults too, else that config could never be compared
/// with them. A screening look (a share of a trial) only sorts the
/// search's candidates; what it keeps gets a full look before it can win.
pub fn lineup(configs: &[SchedConfig], full: bool, baseline: bool) -> Vec<Option<SchedConfig>> {
    let mut keys: Vec<Option<SchedConfig>> = configs.iter().copied().map(Some).collect();
    let defaults = SchedConfig::default();
    if full && configs.iter().any(|c| *c != defaults) && !configs.contains(&defaults) {
        keys.push(Some(defaults));
    }
    if baseline {
        keys.push(None);
    }
    keys
}

/// The order of a round: the `running` contenders shuffled, except that
/// the one that ended the last round (`last`), while it still runs, opens
/// this one. It is in place, so the round starts without a switch and
/// without the guard after one: one switch fewer per round (with the
/// default trial file's race of nine contenders, one in nine). Which
/// contender ended the last round was itself random, so each still opens
/// and ends rounds equally often
/// (`rounds_open_with_the_contender_in_place_and_positions_stay_even`).
pub fn round_order(mut running: Vec<usize>, last: Option<usize>, rng: &mut impl Rng) -> Vec<usize> {
    running.shuffle(rng);
    if let Some(p) = last.and_then(|l| running.iter().position(|&i| i == l)) {
        running[..=p].rotate_right(1);
    }
    running
}

/// The rounds of one race in their order (`round_order`), remembering
/// which contender ended the last one.
#[derive(Debug, Default)]
pub struct Rounds {
    last: Option<usize>,
}

impl Rounds {
    /// The next round's order of the `running` contenders, and whether its
    /// first is in place already (it ended the last round): that segment
    /// needs no switch and no guard.
    pub fn next(&mut self, running: Vec<usize>, rng: &mut impl Rng) -> (Vec<usize>, bool) {
        let opener = self.last;
        let order = round_order(running, opener, rng);
        self.last = order.last().copied();
        let in_place = opener.is_some() && order.first().copied() == opener;
        (order, in_place)
    }
}

/// Where a contender stands.
#[derive(Clone, Debug, PartialEq)]
pub enum Lane {
    Running,
    /// Confidently worse than `leader` after `round` rounds.
    Dropped {
        round: usize,
        leader: usize,
        ratio: Interval,
    },
    /// Failed to load or was ejected: never measured again (such a config
    /// cannot win, see `verdict::rank`).
    Failed,
}

/// A contender dropped at the end of a round, for the log.
#[derive(Debug, PartialEq)]
pub struct Drop {
    pub contender: usize,
    pub leader: usize,
    pub ratio: Interval,
}

#[derive(Debug)]
pub struct Race {
    /// Per contender, its segment's p99 (µs) in each finished round; None
    /// where it was not measured or showed no frames.
    p99s: Vec<Vec<Option<f64>>>,
    /// This round's p99s, until `end_round`.
    current: Vec<Option<f64>>,
    lanes: Vec<Lane>,
    baseline: Option<usize>,
    max_rounds: usize,
}

impl Race {
    /// `n` contenders; `baseline`: the index of the kernel's scheduler.
    pub fn new(n: usize, baseline: Option<usize>) -> Self {
        Self { p99s: vec![Vec::new(); n], current: vec![None; n], lanes: vec![Lane::Running; n], baseline, max_rounds: MAX_ROUNDS }
    }

    /// The race ends after `rounds` rounds at most (see `max_rounds`).
    pub fn with_max_rounds(self, rounds: usize) -> Self {
        Self { max_rounds: rounds.clamp(1, MAX_ROUNDS), ..self }
    }

    pub fn rounds(&self) -> usize {
        self.p99s.first().map_or(0, Vec::len)
    }

    pub fn lane(&self, i: usize) -> &Lane {
        &self.lanes[i]
    }

    /// The contenders measured in the next round.
    pub fn running(&self) -> Vec<usize> {
        (0..self.lanes.len()).filter(|&i| self.lanes[i] == Lane::Running).collect()
    }

    fn running_configs(&self) -> Vec<usize> {
        self.running().into_iter().filter(|&i| Some(i) != self.baseline).collect()
    }

    /// Contender `i`'s segment of this round: its p99 (None: no frames).
    pub fn record(&mut self, i: usize, p99_us: Option<f64>) {
        self.current[i] = p99_us;
    }

    /// Contender `i` failed (did not load, was ejected): out of the race.
    pub fn fail(&mut self, i: usize) {
        self.lanes[i] = Lane::Failed;
        self.current[i] = None;
    }

    /// `i`'s p99 over `j`'s, paired by round, with an interval of
    /// confidence `level`.
    pub fn ratio(&self, i: usize, j: usize, level: f64) -> Interval {
        paired_ratio(self.p99s[i].iter().zip(&self.p99s[j]).filter_map(|(a, b)| Some(((*a)?, (*b)?))), level)
    }

    fn pairs(&self, i: usize, j: usize) -> usize {
        self.p99s[i].iter().zip(&self.p99s[j]).filter(|(a, b)| a.is_some() && b.is_some()).count()
    }

    /// Contender `i`'s score, as the search is told: its p99 relative to
    /// the kernel's scheduler's, paired by round (geometric mean); without a
    /// baseline, its p99 (µs, geometric mean). None: never measured.
    pub fn score(&self, i: usize) -> Option<f64> {
        let estimate = match self.baseline {
            Some(b) if b != i => self.ratio(i, b, DROP_LEVEL).estimate,
            _ => paired_ratio(self.p99s[i].iter().flatten().map(|&p| (p, 1.0)), DROP_LEVEL).estimate,
        };
        estimate.is_finite().then_some(estimate)
    }

    /// The running config with the lowest score.
    pub fn leader(&self) -> Option<usize> {
        self.running_configs().into_iter().filter_map(|i| Some((i, self.score(i)?))).min_by(|a, b| a.1.total_cmp(&b.1)).map(|(i, _)| i)
    }

    /// Close the round: keep its p99s, drop what is confidently worse than
    /// the leader (from `MIN_ROUNDS` on). Returns the dropped.
    pub fn end_round(&mut self) -> Vec<Drop> {
        for (i, p) in self.current.iter_mut().enumerate() {
            self.p99s[i].push(p.take());
        }
        let round = self.rounds();
        if round < MIN_ROUNDS {
            return Vec::new();
        }
        let Some(leader) = self.leader() else { return Vec::new() };
        let mut dropped = Vec::new();
        for i in self.running_configs() {
            if i == leader || self.pairs(i, leader) < MIN_ROUNDS {
                continue;
            }
            let ratio = self.ratio(i, leader, DROP_LEVEL);
            if ratio.low > 1.0 {
                self.lanes[i] = Lane::Dropped { round, leader, ratio };
                dropped.push(Drop { contender: i, leader, ratio });
            }
        }
        dropped
    }

    /// Nothing more to measure: decided, or its most rounds run.
    pub fn over(&self) -> bool {
        self.decided() || self.rounds() >= self.max_rounds
    }

    /// Nothing left to learn: at most one config running, and its verdict
    /// against the kernel's scheduler beyond the noise (when there is one).
    pub fn decided(&self) -> bool {
        if self.rounds() < MIN_ROUNDS {
            return self.running_configs().is_empty();
        }
        match self.running_configs()[..] {
            [] => true,
            [last] => match self.baseline {
                None => true,
                Some(b) => {
                    let r = self.ratio(last, b, DROP_LEVEL);
                    self.pairs(last, b) >= MIN_ROUNDS && (r.low > 1.0 || r.high < 1.0)
                }
            },
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// A race of `levels.len()` contenders (the last is the baseline) over
    /// `rounds` rounds: contender i's p99 in a round is the round's scene
    /// level × levels[i] × lognormal noise of `noise` (sd of the log).
    fn simulate(levels: &[f64], rounds: usize, noise: f64, seed: u64) -> Race {
        let mut rng = StdRng::seed_from_u64(seed);
        let n = levels.len();
        let mut race = Race::new(n, Some(n - 1));
        for _ in 0..rounds {
            if race.decided() {
                break;
            }
            // Scenes change by up to 2× from round to round.
            let scene = rng.random_range(0.5..2.0);
            for i in race.running() {
                let z: f64 = (0..12).map(|_| rng.random_range(0.0..1.0)).sum::<f64>() - 6.0;
                race.record(i, Some(10_000.0 * scene * levels[i] * (noise * z).exp()));
            }
            race.end_round();
        }
        race
    }

    #[test]
    fn a_clearly_worse_config_is_dropped_and_the_race_is_decided() {
        // 0: 20 % better than the kernel, 1: 30 % worse, 2: the kernel.
        let race = simulate(&[0.8, 1.3, 1.0], 30, 0.05, 1);
        assert!(matches!(race.lane(1), Lane::Dropped { leader: 0, .. }), "{:?}", race.lane(1));
        assert_eq!(race.lane(0), &Lane::Running);
        assert_eq!(race.lane(2), &Lane::Running, "the baseline is never dropped");
        assert!(race.decided());
        assert!(race.rounds() < 30, "decided early: {} rounds", race.rounds());
        assert!((race.score(0).unwrap() - 0.8).abs() < 0.05, "{:?}", race.score(0));
    }

    #[test]
    fn scene_changes_cancel_and_twins_are_not_told_apart() {
        // Two identical configs and the kernel, scenes changing 4× between
        // rounds: over 200 seeds, a twin is dropped in at most 5 % of the races.
        let mut wrong = 0;
        for seed in 0..200 {
            let race = simulate(&[1.0, 1.0, 1.0], 20, 0.08, seed);
            if race.running().len() < 3 {
                wrong += 1;
            }
        }
        assert!(wrong <= 10, "twins told apart in {wrong} of 200 races");
    }

    #[test]
    fn nothing_is_dropped_or_decided_before_min_rounds_and_failures_leave_the_race() {
        let mut race = Race::new(3, Some(2));
        for _ in 0..MIN_ROUNDS - 1 {
            race.record(0, Some(5_000.0));
            race.record(1, Some(50_000.0));
            race.record(2, Some(10_000.0));
            assert!(race.end_round().is_empty());
            assert!(!race.decided());
        }
        race.fail(1);
        assert_eq!(race.running(), vec![0, 2]);
        race.record(0, Some(5_000.0));
        race.record(2, Some(10_000.0));
        race.end_round();
        // One config left, four rounds at half the kernel's p99: decided.
        assert!(race.decided());
        assert!((race.score(0).unwrap() - 0.5).abs() < 1e-9);
        assert!((race.score(1).unwrap() - 5.0).abs() < 1e-9, "its rounds before the failure");
    }

    #[test]
    fn a_screening_race_runs_its_share_of_the_rounds_and_never_fewer_than_min_rounds() {
        // A 120-s trial is 24 segments of 5 s.
        assert_eq!(max_rounds(1.0, 24.0), MAX_ROUNDS);
        assert_eq!(max_rounds(0.5, 24.0), 12);
        assert_eq!(max_rounds(1.0 / 3.0, 24.0), 8);
        assert_eq!(max_rounds(1.0 / 9.0, 24.0), MIN_ROUNDS);
        assert_eq!(max_rounds(0.5, 1e9), MAX_ROUNDS);
        assert_eq!(max_rounds(f64::NAN, 24.0), MAX_ROUNDS);
        // Twins never decide: the race is over at its cap, not at MAX_ROUNDS.
        let mut race = Race::new(2, Some(1)).with_max_rounds(max_rounds(1.0 / 3.0, 24.0));
        for r in 0..8 {
            assert!(!race.over(), "round {r}");
            race.record(0, Some(1_000.0 + (r % 2) as f64 * 100.0));
            race.record(1, Some(1_050.0));
            race.end_round();
        }
        assert!(race.over() && !race.decided());
    }

    #[test]
    fn rounds_open_with_the_contender_in_place_and_positions_stay_even() {
        let mut rng = StdRng::seed_from_u64(7);
        let n = 7;
        let rounds = 7_000;
        let mut at = vec![vec![0usize; n]; n];
        let mut last = None;
        for _ in 0..rounds {
            let order = round_order((0..n).collect(), last, &mut rng);
            if let Some(l) = last {
                assert_eq!(order[0], l, "the one in place opens the round");
            }
            for (pos, &i) in order.iter().enumerate() {
                at[i][pos] += 1;
            }
            last = order.last().copied();
        }
        // Every contender in every position about 1/n of the rounds
        // (1000 expected; 5 standard deviations: ±150).
        for (i, row) in at.iter().enumerate() {
            for (pos, &k) in row.iter().enumerate() {
                assert!((850..=1150).contains(&k), "contender {i} at position {pos} {k} times of {rounds}");
            }
        }
        // The one in place no longer runs (dropped, failed): plain shuffle.
        let order = round_order(vec![0, 1, 2], Some(5), &mut rng);
        assert_eq!(order.len(), 3);
        // `Rounds` says which round opens with the one in place: all but
        // the first, while the one that ended the last still runs.
        let mut rounds = Rounds::default();
        let (first, in_place) = rounds.next(vec![0, 1, 2], &mut rng);
        assert!(!in_place, "nothing is in place before the first round");
        let (second, in_place) = rounds.next(vec![0, 1, 2], &mut rng);
        assert!(in_place && second[0] == first[2], "{first:?} {second:?}");
        let gone = second[2];
        let (third, in_place) = rounds.next((0..3).filter(|&i| i != gone).collect(), &mut rng);
        assert!(!in_place && !third.contains(&gone), "{second:?} {third:?}");
    }

    #[test]
    fn without_a_baseline_scores_are_absolute_and_one_left_is_decided() {
        let mut race = Race::new(2, None);
        for r in 0..MIN_ROUNDS {
            race.record(0, Some(1_000.0 + r as f64));
            race.record(1, Some(3_000.0 + r as f64));
            race.end_round();
        }
        assert!(matches!(race.lane(1), Lane::Dropped { leader: 0, .. }));
        assert!(race.decided());
        assert!((race.score(0).unwrap() - 1_001.5).abs() < 1.0);
        // A segment without frames counts as no pair, not as zero.
        let mut race = Race::new(2, Some(1));
        race.record(1, Some(1_000.0));
        race.end_round();
        assert_eq!(race.score(0), None);
    }
}
