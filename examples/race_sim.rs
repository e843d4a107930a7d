//! Simulation benchmark: block trials against the interleaved race on games
//! whose scenes change.
//!
//! A synthetic game plays scenes of 10–180 s whose frame-time level differs
//! by 0.5–2× and whose spread (noise, stutters) differs too. Three
//! contenders: a config A, the defaults D and the kernel's scheduler K; A
//! either schedules exactly like the others (the A/A case: any verdict but
//! "no significant difference" is wrong) or truly cuts every frame time by
//! 5 % or 20 % (missing it is wrong). Both schedules measure the same kind of game
//! through the real code: blocks as `tune` does by default (per block a
//! 10-s warm-up and a 120-s trial per contender in random order, 2 blocks),
//! the interleaved race through `tune::race` (5-s segments after a 1-s
//! guard, a 10-minute budget); A's verdict against K comes from
//! `verdict::score` as the report computes it (pairs by block = by round).
//! A second table races the default trial file's configs (the defaults
//! among them) and the kernel's scheduler at once, as `tune` does
//! (`search::RACE_BATCH`): config 0 has the effect, the others none.
//!
//! With `--replay LOG...` the game is real MangoHud frame-time logs played
//! one after another (each seed starts at another point of them, and they
//! loop): their own scene changes instead of the synthetic ones; A's effect
//! scales the replayed frame times.
//!
//!     cargo run --release --example race_sim [-- SEEDS [SEGMENT_SECS...] [--replay LOG...]]

use std::rc::Rc;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use scx_gamer::frames::sequence::ns_to_us;
use scx_gamer::tune::race::{Race, Rounds};
use scx_gamer::verdict::score::{MIN_PAIRS, Pair, Verdict, fps_ratio, p99_ratio, p99_us, verdict};

/// 60 fps at level 1.
const BASE_US: f64 = 16_667.0;
/// Time a switch takes (the in-process switch under TCG, BENCHMARKS.md).
const SWITCH_SECS: f64 = 0.07;

/// The game: scenes, each with its level and spread, and AR(1) noise.
struct Game {
    rng: StdRng,
    /// Seconds left in the current scene, its level and spread.
    scene_left: f64,
    level: f64,
    spread: f64,
    ar: f64,
    /// Play time so far (s).
    clock: f64,
    /// Replayed frame times (µs) and the next one's index: then the
    /// synthetic scenes are not used.
    replay: Option<(Rc<[u32]>, usize)>,
}

impl Game {
    fn new(seed: u64) -> Game {
        let mut g = Game { rng: StdRng::seed_from_u64(seed), scene_left: 0.0, level: 1.0, spread: 1.0, ar: 0.0, clock: 0.0, replay: None };
        g.next_scene();
        g
    }

    /// The synthetic game in one endless scene of level 1 (its spread
    /// drawn as a scene's).
    fn steady(seed: u64) -> Game {
        let mut g = Game::new(seed);
        (g.scene_left, g.level) = (f64::INFINITY, 1.0);
        g
    }

    /// The game of `frames` (µs), from a point chosen by `seed`.
    fn replay(frames: Rc<[u32]>, seed: u64) -> Game {
        let mut g = Game::new(seed);
        let start = g.rng.random_range(0..frames.len());
        g.replay = Some((frames, start));
        g
    }

    /// The next replayed frame time, µs.
    fn next_replayed(&mut self) -> Option<f64> {
        let (frames, at) = self.replay.as_mut()?;
        let f = frames[*at];
        *at = (*at + 1) % frames.len();
        Some(f64::from(f))
    }

    fn next_scene(&mut self) {
        self.scene_left = self.rng.random_range(10.0..180.0);
        self.level = self.rng.random_range(0.5f64.ln()..2f64.ln()).exp();
        self.spread = self.rng.random_range(0.5..2.0);
    }

    /// One frame under a scheduler that scales frame times by `effect`.
    fn frame(&mut self, effect: f64) -> u32 {
        if let Some(f) = self.next_replayed() {
            let f = f * effect;
            self.clock += f / 1e6;
            return f as u32;
        }
        let g = gauss(&mut self.rng);
        self.ar = 0.9 * self.ar + 0.05 * self.spread * (1.0 - 0.81f64).sqrt() * g;
        let mut f = BASE_US * self.level * (1.0 + self.ar).max(0.2);
        if self.rng.random::<f64>() < 0.01 * self.spread {
            f *= self.rng.random_range(2.0..4.0);
        }
        let f = f * effect;
        self.pass(f / 1e6);
        f as u32
    }

    /// Let `secs` of play go by.
    fn pass(&mut self, secs: f64) {
        if self.replay.is_some() {
            // (the replayed frames of that time go by unseen)
            let until = self.clock + secs;
            while self.clock < until {
                self.frame(1.0);
            }
            return;
        }
        self.clock += secs;
        self.scene_left -= secs;
        while self.scene_left <= 0.0 {
            let over = -self.scene_left;
            self.next_scene();
            self.scene_left -= over;
        }
    }

    /// Frames of `secs` of play after a switch and `skip` seconds whose
    /// frames are not kept.
    fn play(&mut self, effect: f64, skip: f64, secs: f64) -> Vec<u32> {
        self.pass(SWITCH_SECS);
        self.stay(effect, skip, secs)
    }

    /// As `play`, without a switch (the contender was in place already).
    fn stay(&mut self, effect: f64, skip: f64, secs: f64) -> Vec<u32> {
        let start = self.clock;
        while self.clock - start < skip {
            self.frame(effect);
        }
        let start = self.clock;
        let mut frames = Vec::new();
        while self.clock - start < secs {
            frames.push(self.frame(effect));
        }
        frames
    }
}

fn gauss(rng: &mut StdRng) -> f64 {
    let u: f64 = 1.0 - rng.random::<f64>();
    let v: f64 = rng.random();
    (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
}

/// A's verdict against K and the play time it took.
struct Outcome {
    verdict: Verdict,
    minutes: f64,
}

/// Contenders: 0 = A, 1 = D, 2 = K.
const K: usize = 2;

/// The race's guard after each switch, its default segment and its
/// play-time budget (s): `--guard-secs 1 --segment-secs 5 --budget-mins 10`.
const GUARD_SECS: f64 = 1.0;
const SEGMENT_SECS: f64 = 5.0;
const BUDGET_SECS: f64 = 600.0;

/// Which column of "better / none / worse" a verdict counts in.
fn side(v: Verdict) -> usize {
    match v {
        Verdict::Better | Verdict::FpsLoss => 0,
        Verdict::Worse => 2,
        _ => 1,
    }
}

/// Whether `v` is the verdict a true effect calls for (`right`: "better"
/// or "no significant difference"); a better p99 at an fps loss still
/// found the gain.
fn is_right(v: Verdict, right: Verdict) -> bool {
    matches!((v, right), (Verdict::Better | Verdict::FpsLoss, Verdict::Better)) || v == right || (is_none(v) && is_none(right))
}

/// No verdict either way: no significant difference, or too few pairs to
/// judge.
fn is_none(v: Verdict) -> bool {
    matches!(v, Verdict::NoSignificantDifference | Verdict::TooFewPairs)
}

/// Config `c`'s verdict against the kernel's scheduler (contender `k`)
/// over `rounds` (per round, each contender's frames; None: not measured),
/// as the report pairs them: by block = by round.
fn vs_k(rounds: &[Vec<Option<Vec<u32>>>], c: usize, k: usize) -> Verdict {
    let pairs: Vec<Pair> = rounds.iter().filter_map(|r| Some(Pair { config: r[c].as_deref()?, baseline: r[k].as_deref()? })).collect();
    verdict(&p99_ratio(&pairs), fps_ratio(&pairs), 0, pairs.len())
}

/// `n` blocks, each contender 10 s + 120 s (`tune --measure blocks`: 3 by
/// default, 2 before `score::MIN_PAIRS`); `unruled` judges them as the
/// report did before that rule (from any number of blocks).
fn blocks(game: &mut Game, effects: [f64; 3], order: &mut StdRng, n: usize, unruled: bool) -> Outcome {
    let mut rounds = Vec::new();
    for _ in 0..n {
        let mut idx = [0, 1, 2];
        idx.shuffle(order);
        let mut round = vec![None; 3];
        for i in idx {
            round[i] = Some(game.play(effects[i], 10.0, 120.0));
        }
        rounds.push(round);
    }
    let verdict = if unruled {
        let pairs: Vec<Pair> = rounds.iter().filter_map(|r| Some(Pair { config: r[0].as_deref()?, baseline: r[K].as_deref()? })).collect();
        verdict(&p99_ratio(&pairs), fps_ratio(&pairs), 0, MIN_PAIRS)
    } else {
        vs_k(&rounds, 0, K)
    };
    Outcome { verdict, minutes: game.clock / 60.0 }
}

/// The interleaved race of A, D and K.
fn interleaved(game: &mut Game, effects: [f64; 3], order: &mut StdRng, segment: f64) -> Outcome {
    let (verdicts, minutes) = race(game, &effects, order, segment);
    Outcome { verdict: verdicts[0], minutes }
}

/// A race of `effects.len()` contenders, the last the kernel's scheduler,
/// as `--measure interleaved` runs it (`segment`-s segments after the
/// guard, each round opened by the contender in place, within the budget).
/// Returns each config's verdict against the kernel's and the play time
/// (min).
fn race(game: &mut Game, effects: &[f64], order: &mut StdRng, segment: f64) -> (Vec<Verdict>, f64) {
    let k = effects.len() - 1;
    let mut race = Race::new(effects.len(), Some(k));
    let mut rounds = Vec::new();
    let mut turns = Rounds::default();
    while !race.decided() && rounds.len() < 60 {
        let round_started = game.clock;
        let (idx, first_in_place) = turns.next(race.running(), order);
        let mut round = vec![None; effects.len()];
        for (j, &i) in idx.iter().enumerate() {
            // The round opens with the contender in place: no switch, no guard.
            let frames =
                if j == 0 && first_in_place { game.stay(effects[i], 0.0, segment) } else { game.play(effects[i], GUARD_SECS, segment) };
            race.record(i, Some(p99_us(&frames)));
            round[i] = Some(frames);
        }
        race.end_round();
        rounds.push(round);
        // As the runner: no round that would end past the budget.
        if game.clock + (game.clock - round_started) > BUDGET_SECS {
            break;
        }
    }
    ((0..k).map(|c| vs_k(&rounds, c, k)).collect(), game.clock / 60.0)
}

/// The best case no schedule can beat: A's and K's frames of the budget's
/// play shared by `contenders` (default segments after the guard), from
/// the synthetic game without scene changes (level 1, a spread drawn as a
/// scene's), judged as one pair by the report's frame bootstrap. Returns
/// the verdicts per `side` when A's effect is `effect`.
fn ceiling(contenders: f64, effect: f64, seeds: u64) -> [usize; 3] {
    let secs = BUDGET_SECS / contenders * SEGMENT_SECS / (SEGMENT_SECS + GUARD_SECS + SWITCH_SECS);
    let mut counts = [0; 3];
    for seed in 0..seeds {
        let mut a = Game::steady(seed);
        let mut k = Game::steady(seed + (1 << 32));
        k.spread = a.spread;
        let (fa, fk) = (a.play(effect, 0.0, secs), k.play(1.0, 0.0, secs));
        let pair = [Pair { config: &fa, baseline: &fk }];
        // Judged on the frame bootstrap's interval alone, as if from enough
        // pairs: this game has no scenes to move between pairs.
        counts[side(verdict(&p99_ratio(&pair), fps_ratio(&pair), 0, MIN_PAIRS))] += 1;
    }
    counts
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (args, logs) = match args.iter().position(|a| a == "--replay") {
        Some(i) => (&args[..i], &args[i + 1..]),
        None => (&args[..], &args[args.len()..]),
    };
    let seeds: u64 = args.first().and_then(|s| s.parse().ok()).unwrap_or(100);
    // Segment lengths of the race to compare (s); default 5.
    let mut segments: Vec<f64> = args.iter().skip(1).filter_map(|s| s.parse().ok()).collect();
    if segments.is_empty() {
        segments.push(SEGMENT_SECS);
    }
    let mut replayed: Vec<u32> = Vec::new();
    for log in logs {
        let parsed = scx_gamer::mangohud::log::parse_file(std::path::Path::new(log))?;
        replayed.extend(parsed.frames.iter().map(|f| ns_to_us(f.frametime_ns)));
    }
    if !logs.is_empty() {
        anyhow::ensure!(!replayed.is_empty(), "no frames in the {} replayed logs", logs.len());
        let secs: f64 = replayed.iter().map(|&f| f64::from(f)).sum::<f64>() / 1e6;
        println!("Replaying {} logs: {} frames, {:.1} min of play (looped).\n", logs.len(), replayed.len(), secs / 60.0);
    }
    let replayed: Rc<[u32]> = replayed.into();
    let new_game = |seed: u64| if replayed.is_empty() { Game::new(seed) } else { Game::replay(replayed.clone(), seed) };
    println!("| case | schedule | wrong verdicts | A's verdicts (better / none / worse) | play time, median (max) |");
    println!("|---|---|---|---|---|");
    for (case, effect_a, right) in [
        ("A/A (no true difference)", 1.0, Verdict::NoSignificantDifference),
        ("A 5 % faster", 0.95, Verdict::Better),
        ("A 20 % faster", 0.8, Verdict::Better),
    ] {
        type Schedule = Box<dyn Fn(&mut Game, [f64; 3], &mut StdRng) -> Outcome>;
        let mut schedules: Vec<(String, Schedule)> = vec![
            ("blocks (2 × 130 s each), judged from 2 blocks (before `MIN_PAIRS`)".into(), Box::new(|g, e, o| blocks(g, e, o, 2, true))),
            ("blocks (3 × 130 s each)".into(), Box::new(|g, e, o| blocks(g, e, o, 3, false))),
        ];
        for &seg in &segments {
            schedules.push((format!("interleaved race, {seg} s segments"), Box::new(move |g, e, o| interleaved(g, e, o, seg))));
        }
        for (name, run) in &schedules {
            let mut counts = [0usize; 3];
            let mut minutes = Vec::new();
            let mut wrong = 0;
            for seed in 0..seeds {
                let mut game = new_game(seed);
                let mut order = StdRng::seed_from_u64(seed ^ 0x5eed);
                let o = run(&mut game, [effect_a, 1.0, 1.0], &mut order);
                counts[side(o.verdict)] += 1;
                if !is_right(o.verdict, right) {
                    wrong += 1;
                }
                minutes.push(o.minutes);
            }
            minutes.sort_by(f64::total_cmp);
            println!(
                "| {case} | {name} | {:.0} % | {} / {} / {} | {:.1} min ({:.1}) |",
                100.0 * wrong as f64 / seeds as f64,
                counts[0],
                counts[1],
                counts[2],
                minutes[minutes.len() / 2],
                minutes[minutes.len() - 1]
            );
        }
    }
    // The default trial file: its configs (the defaults among them) and
    // the kernel's scheduler in one race (`search::RACE_BATCH`).
    let configs = scx_gamer::tune::trials::TrialFile::load(std::path::Path::new("trials/default.toml"))?.trials.len();
    println!(
        "\nThe default trial file's race: {configs} configs (the defaults among them) and the kernel's scheduler, \
         5-s segments, a 10-min budget; config 0 has the effect, the others none:\n"
    );
    println!(
        "| case | config 0's verdicts (better / none / worse) | the others' wrong verdicts | races with any wrong verdict | play time, median (max) |"
    );
    println!("|---|---|---|---|---|");
    for (case, effect) in [("all identical (A/A)", 1.0), ("config 0 5 % faster", 0.95), ("config 0 20 % faster", 0.8)] {
        let (mut first, mut others_wrong, mut any_wrong) = ([0usize; 3], 0, 0);
        let mut minutes = Vec::new();
        for seed in 0..seeds {
            let mut game = new_game(seed);
            let mut order = StdRng::seed_from_u64(seed ^ 0x5eed);
            let mut effects = vec![1.0; configs + 1];
            effects[0] = effect;
            let (verdicts, m) = race(&mut game, &effects, &mut order, SEGMENT_SECS);
            first[side(verdicts[0])] += 1;
            let right0 = if effect == 1.0 { Verdict::NoSignificantDifference } else { Verdict::Better };
            let wrong_others = verdicts[1..].iter().filter(|&&v| !is_none(v)).count();
            others_wrong += wrong_others;
            if wrong_others > 0 || (effect == 1.0 && !is_right(verdicts[0], right0)) {
                any_wrong += 1;
            }
            minutes.push(m);
        }
        minutes.sort_by(f64::total_cmp);
        println!(
            "| {case} | {} / {} / {} | {:.1} % | {:.0} % | {:.1} min ({:.1}) |",
            first[0],
            first[1],
            first[2],
            100.0 * others_wrong as f64 / (seeds as usize * (configs - 1)) as f64,
            100.0 * any_wrong as f64 / seeds as f64,
            minutes[minutes.len() / 2],
            minutes[minutes.len() - 1]
        );
    }
    if replayed.is_empty() {
        // What no schedule can beat: the same game without scene changes.
        println!(
            "\nBest case (no scene changes; all of A's and K's frames of 10 min shared by three contenders as one \
             pair, the report's bootstrap):\n"
        );
        println!("| case | wrong verdicts | A's verdicts (better / none / worse) |\n|---|---|---|");
        for (case, effect) in [("A/A", 1.0), ("A 5 % faster", 0.95), ("A 20 % faster", 0.8)] {
            let [better, none, worse] = ceiling(3.0, effect, seeds);
            // (its verdicts are better, worse or none: one pair of ~10 000 frames)
            let wrong = if effect == 1.0 { better + worse } else { none + worse };
            println!("| {case} | {:.0} % | {better} / {none} / {worse} |", 100.0 * wrong as f64 / seeds as f64);
        }
    }
    Ok(())
}
