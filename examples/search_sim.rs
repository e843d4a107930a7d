//! Simulation benchmark of the tuner's search strategies.
//!
//! The tuner cannot be benchmarked on a real game (hours per run, and the
//! true best config is unknown), so this drives the real `Search` code
//! against synthetic p99 landscapes whose optimum is known, with the
//! measurement process the runner has: every batch is a block of its
//! configs plus one baseline trial in random order, a config's score is its
//! measured p99 ÷ the block's measured baseline p99, measurements carry
//! lognormal noise, and the game's frame times drift slowly over time.
//!
//! It counts the trial time each strategy spends (in full trials: the sum
//! of the budgets asked, plus one baseline per batch at the batch's longest
//! budget) and how often its final pick is within 2 % of the true best.
//!
//! Rows marked *race* measure each batch as `--measure interleaved` does:
//! a race (the real `tune::race`) of the batch's configs, the defaults when
//! a full look lacks them and the kernel's scheduler, 5-s segments after a
//! 1-s guard in a fresh random order per round, until the race is decided
//! or has run the rounds the batch's budget allows; a config's score is
//! its p99 relative to the kernel's, paired by round. A segment's p99 has
//! the trial noise of a 5-s trial (σ·√(120/5)); the same drift.
//!
//! Rows marked *ideal race* are a bound, not a setting the tuner has: the
//! same races, the same segments measured, but switches and their guards
//! cost no play (a sixth of a race's play at 5-s segments). What they still
//! cannot do, no cheaper switch can.
//!
//!     cargo run --release --example search_sim [-- SEEDS [ONLY]]

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::Instant;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use scx_gamer::sched::SchedConfig;
use scx_gamer::tune::race::{Race, Rounds, lineup, max_rounds};
use scx_gamer::tune::search::{Strategy, longest_budget, new_search};
use scx_gamer::tune::space::{Dim, Space};

/// A full trial, and the warm-up before every trial (the tuner's defaults):
/// they set how much the game drifts between a config and its baseline.
const TRIAL_SECS: f64 = 120.0;
const WARMUP_SECS: f64 = 10.0;
/// The race's segment, the guard after each switch and the switch itself
/// (`--segment-secs` at 60 fps, `--guard-secs`, the in-process switch).
const SEGMENT_SECS: f64 = 5.0;
const GUARD_SECS: f64 = 1.0;
const SWITCH_SECS: f64 = 0.07;
/// Success: the pick's true p99 is within this factor of the true best.
const TOLERANCE: f64 = 1.02;

/// The trials of `trials/default.toml` that move knobs of its `[space]` (not
/// game-first: game_weight is no dimension): the seeds every search starts from.
fn seeds() -> Vec<SchedConfig> {
    let d = SchedConfig::default();
    vec![
        d,
        SchedConfig { slice_us: 500, game_boost_us: 4000, ..d },
        SchedConfig { slice_us: 4000, ..d },
        SchedConfig { mig_max: 1, ..d },
        SchedConfig { mig_max: 0, ..d },
        SchedConfig { input_window_us: 10000, game_boost_us: 4000, ..d },
    ]
}

/// The `[space]` of `trials/default.toml`: 6 × 5 × 4 × 5 = 600 points.
fn space() -> Space {
    let dim = |k: &str, l: &[u64]| Dim { knob: k.into(), levels: l.to_vec() };
    Space::new(
        SchedConfig::default(),
        vec![
            dim("slice_us", &[250, 500, 1000, 2000, 4000, 8000]),
            dim("input_window_us", &[0, 1000, 2500, 5000, 10000]),
            dim("mig_max", &[0, 1, 3, 8]),
            dim("game_boost_us", &[0, 1000, 2000, 4000, 8000]),
        ],
    )
    .expect("valid space")
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Family {
    /// exp(quadratic) in log-knob space with random interactions.
    Bowl,
    /// Flat (±1.5 % tilt) except a narrow good region 6–20 % better.
    Plateau,
    /// A long narrow valley along slice × boost (the good boost depends on
    /// the slice), mild bowl in the other knobs.
    Ridge,
}

const FAMILIES: [Family; 3] = [Family::Bowl, Family::Plateau, Family::Ridge];

/// Noise of one measurement and drift of the game, per scenario.
#[derive(Clone, Copy)]
struct Noise {
    name: &'static str,
    /// Lognormal σ of a full trial's p99; a trial of budget b has σ/√b.
    sigma: f64,
    /// Random walk of the game's log frame time, σ per √minute.
    drift: f64,
}

const NOISES: [Noise; 2] =
    [Noise { name: "σ 3 %, drift 2 %/√min", sigma: 0.03, drift: 0.02 }, Noise { name: "σ 6 %, drift 3 %/√min", sigma: 0.06, drift: 0.03 }];

/// Normal deviate (Box–Muller).
fn gauss(rng: &mut StdRng) -> f64 {
    let u: f64 = 1.0 - rng.random::<f64>();
    let v: f64 = rng.random();
    (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
}

/// Knob value → [0, 1] on a log scale over the space's range.
fn coords(cfg: &SchedConfig) -> [f64; 4] {
    let v = |k| cfg.get(k).unwrap_or(0) as f64;
    let log01 = |x: f64, lo: f64, hi: f64| ((x.max(lo) / lo).ln() / (hi / lo).ln()).clamp(0.0, 1.0);
    [
        log01(v("slice_us"), 250.0, 8000.0),
        (1.0 + v("input_window_us") / 500.0).ln() / 21f64.ln(),
        (1.0 + v("mig_max")).ln() / 9f64.ln(),
        (1.0 + v("game_boost_us") / 500.0).ln() / 17f64.ln(),
    ]
}

/// One synthetic game: the true p99 of every point, which points fail to
/// run, and the baseline's true p99.
struct Landscape {
    truth: Vec<Option<f64>>,
    index: HashMap<SchedConfig, usize>,
    best: f64,
    baseline: f64,
    /// Points within `TOLERANCE` of the best (how many picks succeed).
    good: usize,
}

impl Landscape {
    fn new(family: Family, space: &Space, rng: &mut StdRng) -> Landscape {
        let base_ms = rng.random_range(8.0..20.0);
        let centre: [f64; 4] = std::array::from_fn(|_| rng.random());
        let spread = rng.random_range(0.08..0.35f64); // worst ÷ best − 1, roughly
        let points = space.all_points();
        let configs: Vec<SchedConfig> = points.iter().map(|p| space.config(p)).collect();
        let zs: Vec<[f64; 4]> = configs.iter().map(coords).collect();
        let shape: Vec<f64> = match family {
            Family::Bowl => {
                let mut a: [f64; 4] = std::array::from_fn(|_| rng.random_range(0.3..1.0));
                a[rng.random_range(0..4)] = 0.05; // one knob barely matters
                let mut b = [[0.0; 4]; 4];
                for i in 0..4 {
                    for j in i + 1..4 {
                        b[i][j] = rng.random_range(-0.5..0.5) * (a[i] * a[j]).sqrt();
                    }
                }
                zs.iter()
                    .map(|z| {
                        let d: [f64; 4] = std::array::from_fn(|k| z[k] - centre[k]);
                        let mut q = 0.0;
                        for i in 0..4 {
                            q += a[i] * d[i] * d[i];
                            for j in i + 1..4 {
                                q += b[i][j] * d[i] * d[j];
                            }
                        }
                        q
                    })
                    .collect()
            }
            Family::Plateau => {
                let width = rng.random_range(0.12..0.25);
                let depth = rng.random_range(0.06..0.2);
                let tilt: [f64; 4] = std::array::from_fn(|_| rng.random_range(-0.015..0.015));
                zs.iter()
                    .map(|z| {
                        let r2: f64 = (0..4).map(|k| (z[k] - centre[k]).powi(2)).sum();
                        let t: f64 = (0..4).map(|k| tilt[k] * z[k]).sum();
                        (1.0 + t - depth * (-r2 / (2.0 * width * width)).exp()).ln()
                    })
                    .collect()
            }
            Family::Ridge => {
                let slope: f64 = rng.random_range(0.5..1.5) * if rng.random() { 1.0 } else { -1.0 };
                let along_opt = rng.random::<f64>();
                let narrow = rng.random_range(15.0..40.0);
                let mild: [f64; 2] = std::array::from_fn(|_| rng.random_range(0.1..0.6));
                zs.iter()
                    .map(|z| {
                        // Valley: boost ≈ centre + slope · (slice − centre).
                        let (s, g) = (z[0] - centre[0], z[3] - centre[3]);
                        let norm = (1.0 + slope * slope).sqrt();
                        let across = (g - slope * s) / norm;
                        let along = (s + slope * g) / norm + 0.5 - along_opt;
                        narrow * across * across
                            + along * along
                            + mild[0] * (z[1] - centre[1]).powi(2)
                            + mild[1] * (z[2] - centre[2]).powi(2)
                    })
                    .collect()
            }
        };
        // Scale so worst ÷ best − 1 ≈ spread, add 0.5 % per-config roughness.
        let (lo, hi) = shape.iter().fold((f64::MAX, f64::MIN), |(l, h), &x| (l.min(x), h.max(x)));
        let scale = (1.0 + spread).ln() / (hi - lo).max(1e-12);
        // Half the games eject the scheduler at the shortest slice with the
        // largest boost: those trials fail.
        let eject = rng.random::<bool>();
        let truth: Vec<Option<f64>> = shape
            .iter()
            .zip(&configs)
            .map(|(&x, c)| {
                let rough = 0.005 * gauss(rng);
                let fails = eject && c.slice_us == 250 && c.game_boost_us == 8000;
                (!fails).then(|| base_ms * ((x - lo) * scale + rough).exp())
            })
            .collect();
        let mut ok: Vec<f64> = truth.iter().flatten().copied().collect();
        ok.sort_by(f64::total_cmp);
        let best = ok[0];
        let baseline = 1.05 * ok[ok.len() / 2];
        let good = ok.iter().filter(|&&t| t <= best * TOLERANCE).count();
        let index = configs.iter().enumerate().map(|(i, c)| (*c, i)).collect();
        Landscape { truth, index, best, baseline, good }
    }

    fn truth_of(&self, cfg: &SchedConfig) -> Option<f64> {
        self.truth[*self.index.get(cfg)?]
    }
}

/// What one search run cost and found.
struct Outcome {
    success: bool,
    /// The pick's true p99 over the best's, minus one.
    gap: f64,
    /// Full-trial equivalents: asked budgets + one baseline per batch.
    trials: f64,
    /// Simulated wall time, hours (trials, baselines and warm-ups).
    hours: f64,
}

/// Advance the game's drift by `dt` seconds.
fn walk(noise: Noise, drift: &mut f64, dt: f64, rng: &mut StdRng) {
    *drift += noise.drift * (dt / 60.0).sqrt() * gauss(rng);
}

/// Run one search on one landscape with the runner's block or race protocol.
fn simulate(land: &Landscape, space: &Space, setting: Setting, noise: Noise, seed: u64) -> Outcome {
    let Setting { strategy, repeats, max_trials, protocol } = setting;
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5ee_d0fd_41f7);
    let mut search = new_search(strategy, &seeds(), Some(space), repeats, max_trials, seed).expect("valid search");
    let (mut drift, mut secs, mut trials) = (0.0f64, 0.0f64, 0.0f64);
    let walk = |drift: &mut f64, dt: f64, rng: &mut StdRng| walk(noise, drift, dt, rng);
    while let Some(batch) = search.next_batch() {
        if protocol != Protocol::Blocks {
            let ideal = protocol == Protocol::IdealRace;
            let (spent, measured) = race(land, &batch, noise, ideal, &mut drift, &mut rng, &mut search);
            secs += spent;
            trials += measured / TRIAL_SECS;
            continue;
        }
        let block_budget = longest_budget(&batch);
        trials += batch.iter().map(|a| a.budget).sum::<f64>() + block_budget;
        // Index batch.len() is the baseline.
        let mut order: Vec<usize> = (0..=batch.len()).collect();
        order.shuffle(&mut rng);
        let mut measured = vec![None; batch.len() + 1];
        for &i in &order {
            let (truth, budget) =
                if i == batch.len() { (Some(land.baseline), block_budget) } else { (land.truth_of(&batch[i].config), batch[i].budget) };
            let len = budget * TRIAL_SECS;
            walk(&mut drift, WARMUP_SECS + len / 2.0, &mut rng);
            let sd = noise.sigma / budget.sqrt();
            measured[i] = truth.map(|t| t * (drift + sd * gauss(&mut rng)).exp());
            walk(&mut drift, len / 2.0, &mut rng);
            secs += WARMUP_SECS + len;
        }
        let base = measured[batch.len()].expect("baseline always runs");
        for (a, m) in batch.iter().zip(&measured) {
            search.tell(a.id, m.map(|m| m / base));
        }
    }
    // No pick (everything failed): the player keeps the baseline.
    let picked = search.best().and_then(|(cfg, _)| land.truth_of(&cfg)).unwrap_or(land.baseline);
    Outcome { success: picked <= land.best * TOLERANCE, gap: picked / land.best - 1.0, trials, hours: secs / 3600.0 }
}

/// One batch as `--measure interleaved` runs it: a race of the batch's
/// configs, the defaults (when a full look lacks them) and the kernel's scheduler,
/// until decided or the rounds its budget allows. Tells the search each
/// config's score; returns the play time and the measured time (s).
/// `ideal`: switches and guards cost no play (the bound of the *ideal
/// race* rows).
fn race(
    land: &Landscape,
    batch: &[scx_gamer::tune::search::Ask],
    noise: Noise,
    ideal: bool,
    drift: &mut f64,
    rng: &mut StdRng,
    search: &mut Box<dyn scx_gamer::tune::search::Search>,
) -> (f64, f64) {
    let configs: Vec<SchedConfig> = batch.iter().map(|a| a.config).collect();
    let budget = longest_budget(batch);
    let keys = lineup(&configs, budget >= 1.0, true);
    let kernel = keys.len() - 1;
    let truth: Vec<Option<f64>> = keys.iter().map(|k| k.as_ref().map_or(Some(land.baseline), |c| land.truth_of(c))).collect();
    let mut race = Race::new(keys.len(), Some(kernel)).with_max_rounds(max_rounds(budget, TRIAL_SECS / SEGMENT_SECS));
    let sd = noise.sigma * (TRIAL_SECS / SEGMENT_SECS).sqrt();
    let (mut secs, mut measured) = (0.0, 0.0);
    let mut rounds = Rounds::default();
    while !race.over() {
        let (order, first_in_place) = rounds.next(race.running(), rng);
        for (k, i) in order.into_iter().enumerate() {
            // The round opens with the contender in place: no switch, no guard.
            let switch = if (k == 0 && first_in_place) || ideal { 0.0 } else { SWITCH_SECS + GUARD_SECS };
            walk(noise, drift, switch + SEGMENT_SECS / 2.0, rng);
            secs += switch + SEGMENT_SECS;
            // A config that fails to load costs its switch, then leaves.
            let Some(t) = truth[i] else {
                race.fail(i);
                continue;
            };
            race.record(i, Some(t * (*drift + sd * gauss(rng)).exp()));
            measured += SEGMENT_SECS;
            walk(noise, drift, SEGMENT_SECS / 2.0, rng);
        }
        race.end_round();
    }
    for (i, a) in batch.iter().enumerate() {
        search.tell(a.id, if truth[i].is_some() { race.score(i) } else { None });
    }
    (secs, measured)
}

/// How a batch is measured.
#[derive(Clone, Copy, PartialEq)]
enum Protocol {
    /// `--measure blocks`: one block of the batch and a baseline trial.
    Blocks,
    /// `--measure interleaved`: a race of short segments.
    Race,
    /// A race without the protocol's costs: a bound (see the top).
    IdealRace,
}

/// One row of the table: a strategy with its settings.
#[derive(Clone, Copy)]
struct Setting {
    strategy: Strategy,
    repeats: u32,
    max_trials: Option<usize>,
    protocol: Protocol,
}

fn name(strategy: Strategy) -> &'static str {
    match strategy {
        Strategy::Grid => "grid",
        Strategy::Halving => "halving",
        Strategy::Model => "model",
    }
}

impl Setting {
    fn label(&self) -> String {
        let name = name(self.strategy);
        let label = match (self.strategy, self.max_trials) {
            (Strategy::Grid, _) => format!("grid r={}", self.repeats),
            (_, Some(m)) => format!("{name} r={} max={m}", self.repeats),
            (_, None) => format!("{name} r={} max=default", self.repeats),
        };
        match self.protocol {
            Protocol::Blocks => label,
            Protocol::Race => format!("{label} · race"),
            Protocol::IdealRace => format!("{label} · ideal race"),
        }
    }
}

struct Row {
    setting: Setting,
    /// Successes per family, out of `seeds` each.
    wins: [usize; 3],
    trials: f64,
    hours: f64,
    gap: f64,
    runs: usize,
}

impl Row {
    fn rate(&self) -> f64 {
        self.wins.iter().sum::<usize>() as f64 / self.runs as f64
    }
    fn trials(&self) -> f64 {
        self.trials / self.runs as f64
    }
}

fn run_setting(setting: Setting, lands: &[(usize, u64, Landscape)], space: &Space, noise: Noise) -> Row {
    let mut row = Row { setting, wins: [0; 3], trials: 0.0, hours: 0.0, gap: 0.0, runs: 0 };
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()).min(8);
    let results: Vec<(usize, Outcome)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    lands
                        .iter()
                        .skip(t)
                        .step_by(threads)
                        .map(|(f, seed, land)| {
                            let o = simulate(land, space, setting, noise, *seed);
                            (*f, o)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("sim thread")).collect()
    });
    for (f, o) in results {
        row.wins[f] += usize::from(o.success);
        row.trials += o.trials;
        row.hours += o.hours;
        row.gap += o.gap;
        row.runs += 1;
    }
    row
}

fn main() {
    let seeds: u64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(200);
    // Optional: only rows whose label contains this (grid r=1 always runs:
    // it is the reference).
    let only = std::env::args().nth(2).unwrap_or_default();
    let started = Instant::now();
    let space = space();
    let mut all_met = true;
    // Whether a race reached each of today's searches at ≤ 1/4 of its play
    // time; how many were compared (none: no verdict).
    let (mut races_met, mut compared) = (true, 0);
    let settings: Vec<Setting> = {
        let s = |strategy, repeats, max_trials| Setting { strategy, repeats, max_trials, protocol: Protocol::Blocks };
        let r = |strategy, repeats, max_trials| Setting { strategy, repeats, max_trials, protocol: Protocol::Race };
        let ideal = |strategy, repeats, max_trials| Setting { strategy, repeats, max_trials, protocol: Protocol::IdealRace };
        vec![
            s(Strategy::Grid, 1, None),
            s(Strategy::Grid, 2, None),
            s(Strategy::Grid, 3, None),
            s(Strategy::Halving, 2, Some(100)),
            s(Strategy::Halving, 2, None),
            s(Strategy::Halving, 2, Some(225)),
            s(Strategy::Model, 2, Some(60)),
            s(Strategy::Model, 2, Some(100)),
            s(Strategy::Model, 2, None),
            r(Strategy::Halving, 1, Some(50)),
            r(Strategy::Halving, 1, Some(100)),
            r(Strategy::Halving, 1, None),
            r(Strategy::Halving, 2, None),
            r(Strategy::Model, 1, Some(30)),
            r(Strategy::Model, 1, Some(60)),
            r(Strategy::Model, 2, Some(60)),
            r(Strategy::Model, 2, None),
            ideal(Strategy::Halving, 1, Some(50)),
            ideal(Strategy::Halving, 1, Some(100)),
            ideal(Strategy::Model, 1, Some(60)),
        ]
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Space: slice_us {{250,500,1000,2000,4000,8000}} × input_window_us {{0,1000,2500,5000,10000}} × \
         mig_max {{0,1,3,8}} × game_boost_us {{0,1000,2000,4000,8000}} = {} points; seeds = the 6 trials of trials/default.toml.",
        space.size()
    );
    let _ = writeln!(
        out,
        "{seeds} landscapes per family (bowl, plateau, ridge: true p99 8–20 ms, worst ÷ best 1.08–1.35, random optimum); \
         full trial {TRIAL_SECS} s + {WARMUP_SECS} s warm-up; a batch = one block with a baseline (1.05 × the median \
         config) in random order, score = config p99 ÷ baseline p99; trial noise lognormal σ/√budget; drift = random \
         walk of the game's frame time, also under the baseline.",
    );
    let _ = writeln!(
        out,
        "Success = the pick's true p99 within {:.0} % of the true best (95 % interval of a rate over {} runs: about \
         ±{:.0} points). Trials = asked budgets + one baseline per batch at its longest budget, in full trials; wall \
         hours add the warm-ups. r = repeats, max = max_trials.",
        (TOLERANCE - 1.0) * 100.0,
        3 * seeds,
        100.0 * 1.96 * (0.25 / (3 * seeds) as f64).sqrt()
    );
    for noise in NOISES {
        let lands: Vec<(usize, u64, Landscape)> = FAMILIES
            .iter()
            .enumerate()
            .flat_map(|(f, &family)| {
                let space = &space;
                (0..seeds).map(move |seed| {
                    let mut rng = StdRng::seed_from_u64(seed * 31 + f as u64 * 1_000_003);
                    (f, seed, Landscape::new(family, space, &mut rng))
                })
            })
            .collect();
        let good: Vec<f64> = (0..3)
            .map(|f| {
                let l: Vec<_> = lands.iter().filter(|l| l.0 == f).collect();
                l.iter().map(|l| l.2.good as f64).sum::<f64>() / l.len() as f64
            })
            .collect();
        let _ = writeln!(
            out,
            "\n### Noise: {} (points within 2 % of the best, mean: bowl {:.1}, plateau {:.1}, ridge {:.1})\n",
            noise.name, good[0], good[1], good[2]
        );
        let _ = writeln!(
            out,
            "| strategy | success: bowl | plateau | ridge | **all** | pick vs best | trials (full-trial equiv.) | wall hours | trials ÷ grid r=1 |"
        );
        let _ = writeln!(out, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        let rows: Vec<Row> = settings
            .iter()
            .filter(|s| s.label().contains(&only) || (s.strategy == Strategy::Grid && s.repeats == 1))
            .map(|&s| {
                let t = Instant::now();
                let r = run_setting(s, &lands, &space, noise);
                eprintln!("{}: {:.1} s", s.label(), t.elapsed().as_secs_f64());
                r
            })
            .collect();
        let grid1 = rows[0].trials();
        for r in &rows {
            let pct = |w: usize| 100.0 * w as f64 / seeds as f64;
            let _ = writeln!(
                out,
                "| {} | {:.0} % | {:.0} % | {:.0} % | **{:.1} %** | +{:.1} % | {:.0} | {:.1} | {:.2}× |",
                r.setting.label(),
                pct(r.wins[0]),
                pct(r.wins[1]),
                pct(r.wins[2]),
                100.0 * r.rate(),
                100.0 * r.gap / r.runs as f64,
                r.trials(),
                r.hours / r.runs as f64,
                r.trials() / grid1
            );
        }
        // For each grid, the cheapest setting of each other strategy that
        // succeeds at least as often, and its cost relative to that grid.
        let _ = writeln!(out);
        for g in rows.iter().filter(|r| r.setting.strategy == Strategy::Grid) {
            let mut parts = Vec::new();
            for strategy in [Strategy::Halving, Strategy::Model] {
                let cheapest = rows
                    .iter()
                    .filter(|r| r.setting.strategy == strategy && r.setting.protocol == Protocol::Blocks && r.rate() >= g.rate())
                    .min_by(|a, b| a.trials().total_cmp(&b.trials()));
                let Some(c) = cheapest else {
                    if rows.iter().any(|r| r.setting.strategy == strategy) {
                        all_met = false;
                        parts.push(format!("{} never reaches it: **goal NOT met**", name(strategy)));
                    }
                    continue;
                };
                let ratio = c.trials() / g.trials();
                all_met &= ratio <= 1.0 / 3.0;
                parts.push(format!(
                    "{} reaches it with {:.0} trials ({}: {:.1} %) = **{:.2}×** grid{}",
                    name(strategy),
                    c.trials(),
                    c.setting.label(),
                    100.0 * c.rate(),
                    ratio,
                    if ratio <= 1.0 / 3.0 { "" } else { ": **goal NOT met**" }
                ));
            }
            let _ = writeln!(
                out,
                "- {} succeeds {:.1} % with {:.0} trials; {}.",
                g.setting.label(),
                100.0 * g.rate(),
                g.trials(),
                parts.join("; ")
            );
        }
        // Today's searches (blocks, defaults) against the cheapest race that
        // succeeds as often: the play time it takes.
        let _ = writeln!(out);
        let hours = |r: &Row| r.hours / r.runs as f64;
        for today in rows
            .iter()
            .filter(|r| r.setting.protocol == Protocol::Blocks && r.setting.strategy != Strategy::Grid && r.setting.max_trials.is_none())
        {
            let cheapest = |protocol| {
                rows.iter()
                    .filter(|r| r.setting.protocol == protocol && r.rate() >= today.rate())
                    .min_by(|a, b| hours(a).total_cmp(&hours(b)))
            };
            compared += 1;
            let line = match cheapest(Protocol::Race) {
                Some(c) => {
                    let ratio = hours(c) / hours(today);
                    races_met &= ratio <= 0.25;
                    format!(
                        "{} ({:.1} %) reaches it in {:.1} h of play = **{:.2}×**{}",
                        c.setting.label(),
                        100.0 * c.rate(),
                        hours(c),
                        ratio,
                        if ratio <= 0.25 { "" } else { ": **goal NOT met**" }
                    )
                }
                None => {
                    races_met = false;
                    "no race setting reaches it: **goal NOT met**".to_string()
                }
            };
            let bound = match cheapest(Protocol::IdealRace) {
                Some(c) => format!(
                    "the bound, {} ({:.1} %): {:.1} h = {:.2}×",
                    c.setting.label(),
                    100.0 * c.rate(),
                    hours(c),
                    hours(c) / hours(today)
                ),
                None => "no ideal race reaches it either".to_string(),
            };
            let _ = writeln!(
                out,
                "- {} succeeds {:.1} % in {:.1} h of play; {line}; {bound}.",
                today.setting.label(),
                100.0 * today.rate(),
                hours(today)
            );
        }
    }
    let _ = writeln!(
        out,
        "\nGoal (halving and model reach every grid's success rate with ≤ 1/3 of its trials, \
         both noise levels): **{}**.",
        if all_met { "met" } else { "NOT met" },
    );
    let _ = writeln!(
        out,
        "Goal (a race reaches the success rate of today's block searches, halving and model at their defaults, \
         with ≤ 1/4 of their play time, both noise levels): **{}**. ({:.0} s)",
        match (compared, races_met) {
            (0, _) => "not compared (no block row run)",
            (_, true) => "met",
            _ => "NOT met",
        },
        started.elapsed().as_secs_f64()
    );
    print!("{out}");
}
