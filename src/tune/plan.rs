//! A tuning plan that goes on across launches (`launch --tune`), where the
//! store is the memory. Interleaved (the default), the plan is one race
//! (`tune::race`) of the trial file's configs, the defaults and the kernel's
//! scheduler: each launch replays the rounds the earlier ones measured
//! (`replay_rounds`) and runs more, until the race is over. In blocks, it
//! is a grid over the trial file's configs, each measured `repeats` times:
//! each launch asks which configs still need a measurement and runs them
//! one per block, each block with its own baseline, so scores from
//! different launches stay comparable (the report pairs every config trial
//! with its block's baseline).
//!
//! A config counts as measured once per ok trial whose block also has an ok
//! baseline — exactly the trials the ranking can score, so a trial cut
//! short by the game's exit is simply tried again next launch. A config
//! that failed `MAX_FAILURES` times (it does not load, the kernel ejects
//! it) is given up on rather than retried at every launch.

use std::collections::{HashMap, HashSet, VecDeque};

use super::race::{Race, lineup};
use super::search::{Ask, Search};
use super::trials::Trial;
use crate::frames::sequence::decode_us;
use crate::sched::SchedConfig;
use crate::store::{GameStore, MeasureMode, SessionMode, TrialKind, TrialStatus};
use crate::verdict::score::p99_us;

/// Failed trials after which a config is no longer tried.
pub const MAX_FAILURES: usize = 2;

/// Where one config of the plan stands.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Progress {
    /// Ok trials paired with an ok baseline of their block.
    pub measured: usize,
    pub failed: usize,
}

/// Progress of every config in `store` (configs never tried are absent).
pub fn progress(store: &GameStore) -> HashMap<SchedConfig, Progress> {
    let baselines: HashSet<(&str, u32)> =
        store.trials.iter().filter(|t| t.kind == TrialKind::Baseline && t.status.is_ok()).map(|t| (t.session.as_str(), t.block)).collect();
    let mut out: HashMap<SchedConfig, Progress> = HashMap::new();
    for t in store.trials.iter().filter(|t| t.kind == TrialKind::Config) {
        let Some(config) = t.config else { continue };
        let p = out.entry(config).or_default();
        match &t.status {
            TrialStatus::Ok if baselines.contains(&(t.session.as_str(), t.block)) => p.measured += 1,
            TrialStatus::Failed(_) => p.failed += 1,
            _ => {}
        }
    }
    out
}

/// The plan's configs that still need a measurement, the least measured
/// first (so with `repeats` > 1 every config gets its first measurement
/// before any gets its second), in trial-file order among equals.
pub fn pending(plan: &[Trial], store: &GameStore, repeats: u32) -> Vec<Trial> {
    let done = progress(store);
    // The same config listed twice is one config.
    let mut todo: Vec<(usize, Trial)> = configs(plan)
        .into_iter()
        .filter_map(|t| {
            let p = done.get(&t.config).cloned().unwrap_or_default();
            (p.measured < repeats as usize && p.failed < MAX_FAILURES).then_some((p.measured, t))
        })
        .collect();
    todo.sort_by_key(|(measured, _)| *measured); // stable: file order among equals
    todo.into_iter().map(|(_, t)| t).collect()
}

/// The plan's configs, each once, in the file's order.
pub fn configs(plan: &[Trial]) -> Vec<Trial> {
    let mut seen = HashSet::new();
    plan.iter().filter(|t| seen.insert(t.config)).cloned().collect()
}

/// Replay into `race` the rounds earlier `launch --tune` sessions measured
/// interleaved, in the order they ran. `keys` are the race's contenders
/// (a config; None: the kernel's scheduler); a trial of anything else (a
/// config since taken out of the trial file) is not part of this race.
/// Each contender's segment counts by the p99 of its stored frames, as the
/// runner counted it then; a failed segment takes its config out of the
/// race, as it did then; a segment cut short (the game exited) counts as
/// not measured. The race's drops are decided again, round by round, from
/// the same numbers.
pub fn replay_rounds(store: &GameStore, keys: &[Option<SchedConfig>], race: &mut Race) {
    let sessions: HashSet<&str> = store
        .sessions
        .iter()
        .filter(|s| s.mode == SessionMode::LaunchTune && s.measure == Some(MeasureMode::Interleaved))
        .map(|s| s.id.as_str())
        .collect();
    let mut round: Option<(&str, u32)> = None;
    for t in store.trials.iter().filter(|t| sessions.contains(t.session.as_str())) {
        let Some(i) = keys.iter().position(|k| *k == t.config) else { continue };
        let this = (t.session.as_str(), t.block);
        if round.is_some_and(|r| r != this) {
            race.end_round();
        }
        round = Some(this);
        match &t.status {
            TrialStatus::Failed(_) if t.config.is_some() => race.fail(i),
            TrialStatus::Ok => {
                // Frames that do not decode (a store edited by hand) count
                // as a segment without frames.
                let frames = t.frame_times.as_deref().and_then(|f| decode_us(f).ok()).unwrap_or_default();
                race.record(i, (!frames.is_empty()).then(|| p99_us(&frames)));
            }
            _ => {}
        }
    }
    if round.is_some() {
        race.end_round();
    }
}

/// The contenders of the plan's race, as the runner lines them up for a
/// batch of the plan's configs (`race::lineup`): those configs, the
/// defaults when the plan lacks them, the kernel's scheduler (None) last.
pub fn contenders(plan: &[Trial]) -> Vec<Option<SchedConfig>> {
    let configs: Vec<SchedConfig> = configs(plan).into_iter().map(|t| t.config).collect();
    lineup(&configs, true, true)
}

/// The plan's race as earlier launches left it.
pub fn race_so_far(plan: &[Trial], store: &GameStore) -> Race {
    let keys = contenders(plan);
    let mut race = Race::new(keys.len(), Some(keys.len() - 1));
    replay_rounds(store, &keys, &mut race);
    race
}

/// The plan's configs as a search for the trial loop. Blocks: the pending
/// configs one per block (a short session still completes a block), each
/// asked once per launch. Interleaved: all of them in one batch, the race.
pub struct PlanSearch {
    queue: VecDeque<Trial>,
    together: bool,
    asked: Vec<SchedConfig>,
    scores: Vec<Option<f64>>,
}

impl PlanSearch {
    pub fn new(pending: Vec<Trial>) -> Self {
        Self { queue: pending.into(), together: false, asked: Vec::new(), scores: Vec::new() }
    }

    /// One batch of all the plan's configs: one race.
    pub fn race(plan: &[Trial]) -> Self {
        Self { together: true, ..Self::new(configs(plan)) }
    }
}

impl Search for PlanSearch {
    fn name(&self) -> &'static str {
        "plan"
    }

    fn next_batch(&mut self) -> Option<Vec<Ask>> {
        let n = if self.together { self.queue.len() } else { 1 };
        let batch: Vec<Ask> = self
            .queue
            .drain(..n.min(self.queue.len()))
            .map(|trial| {
                self.asked.push(trial.config);
                self.scores.push(None);
                Ask { id: self.asked.len() - 1, config: trial.config, budget: 1.0 }
            })
            .collect();
        (!batch.is_empty()).then_some(batch)
    }

    fn tell(&mut self, id: usize, score: Option<f64>) {
        if let Some(s) = self.scores.get_mut(id) {
            *s = score;
        }
    }

    fn best(&self) -> Option<(SchedConfig, f64)> {
        self.asked.iter().zip(&self.scores).filter_map(|(c, s)| s.map(|s| (*c, s))).min_by(|a, b| a.1.total_cmp(&b.1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::game::identity::GameId;
    use crate::store::TrialRecord;
    use crate::tune::race::Lane;

    fn trial(name: &str, slice_us: u64) -> Trial {
        Trial { name: name.into(), config: SchedConfig { slice_us, ..Default::default() } }
    }

    fn rec(session: &str, block: u32, config: Option<&Trial>, status: TrialStatus) -> TrialRecord {
        let mut r = crate::testing::trial_record(session, block);
        if let Some(t) = config {
            (r.kind, r.name, r.config) = (TrialKind::Config, t.name.clone(), Some(t.config));
        }
        r.status = status;
        r
    }

    fn store(trials: Vec<TrialRecord>) -> GameStore {
        let mut s = GameStore::new(GameId { key: "g".into(), exe: "g".into(), steam_app_id: None });
        s.trials = trials;
        s
    }

    fn names(v: &[Trial]) -> Vec<&str> {
        v.iter().map(|t| t.name.as_str()).collect()
    }

    #[test]
    fn a_new_game_starts_at_the_top_of_the_plan() {
        let plan = [trial("a", 500), trial("b", 2000), trial("a-again", 500)];
        assert_eq!(names(&pending(&plan, &store(vec![]), 1)), ["a", "b"]);
    }

    #[test]
    fn the_next_launch_goes_on_with_the_next_config() {
        let (a, b, c) = (trial("a", 500), trial("b", 2000), trial("c", 4000));
        let plan = [a.clone(), b.clone(), c.clone()];
        let launch1 = vec![rec("s1", 1, Some(&a), TrialStatus::Ok), rec("s1", 1, None, TrialStatus::Ok)];
        assert_eq!(names(&pending(&plan, &store(launch1.clone()), 1)), ["b", "c"]);
        let mut launch2 = launch1;
        launch2.extend([rec("s2", 1, None, TrialStatus::Ok), rec("s2", 1, Some(&b), TrialStatus::Ok)]);
        launch2.extend([rec("s2", 2, Some(&c), TrialStatus::Ok), rec("s2", 2, None, TrialStatus::Ok)]);
        assert!(pending(&plan, &store(launch2), 1).is_empty(), "every config measured once: the plan is done");
    }

    #[test]
    fn only_trials_the_ranking_can_score_count() {
        let (a, b) = (trial("a", 500), trial("b", 2000));
        let plan = [a.clone(), b.clone()];
        let s = store(vec![
            // a ran, but the game exited before its block's baseline.
            rec("s1", 1, Some(&a), TrialStatus::Ok),
            rec("s1", 1, None, TrialStatus::Partial("the game exited".into())),
            // b's ok trial is paired with a baseline of another session's
            // block 1, not its own.
            rec("s2", 1, Some(&b), TrialStatus::Partial("the game exited".into())),
            rec("s3", 1, None, TrialStatus::Ok),
        ]);
        assert_eq!(names(&pending(&plan, &s, 1)), ["a", "b"]);
        assert_eq!(progress(&s)[&a.config], Progress { measured: 0, failed: 0 });
    }

    #[test]
    fn repeats_go_round_the_plan_and_failing_configs_are_given_up() {
        let (a, b, c) = (trial("a", 500), trial("b", 2000), trial("c", 4000));
        let plan = [a.clone(), b.clone(), c.clone()];
        let failed = || TrialStatus::Failed("load failed".into());
        let s = store(vec![
            rec("s1", 1, Some(&a), TrialStatus::Ok),
            rec("s1", 1, None, TrialStatus::Ok),
            rec("s1", 2, Some(&b), failed()),
            rec("s1", 2, None, TrialStatus::Ok),
        ]);
        // b failed once: retried; c never ran; a (measured once) comes last.
        assert_eq!(names(&pending(&plan, &s, 2)), ["b", "c", "a"]);
        let mut trials = s.trials.clone();
        trials.push(rec("s2", 1, Some(&b), failed()));
        assert_eq!(names(&pending(&plan, &store(trials), 2)), ["c", "a"]);
    }

    /// A session of `mode` measured `measure`.
    fn session(id: &str, mode: SessionMode, measure: MeasureMode) -> crate::store::SessionInfo {
        serde_json::from_value(serde_json::json!({
            "id": id, "mode": mode, "started_at": "", "scx_gamer_version": "",
            "system": {"kernel": "", "cpu": "", "cpus": 1, "mangohud_version": null},
            "trials_file": null, "search": "plan", "seed": 1, "trial_secs": 3.0, "warmup_secs": 1.0,
            "frame_source": "stream", "measure": measure
        }))
        .unwrap()
    }

    /// A segment whose frames all take `us` (its p99).
    fn segment(session: &str, round: u32, config: Option<&Trial>, us: u32) -> TrialRecord {
        let mut r = rec(session, round, config, TrialStatus::Ok);
        r.frame_times = Some(crate::frames::sequence::encode_us(&[us; 50]).unwrap());
        r
    }

    /// Rounds of the race of `good` (half the kernel's p99), `bad` (3×) and
    /// the defaults (level with the kernel), in `session`.
    fn rounds(session: &str, rounds: std::ops::RangeInclusive<u32>, good: &Trial, bad: &Trial) -> Vec<TrialRecord> {
        let defaults = trial("defaults", SchedConfig::default().slice_us);
        rounds
            .flat_map(|r| {
                // A scene twice as slow every other round slows them all.
                let scene = if r % 2 == 0 { 2 } else { 1 };
                [
                    segment(session, r, Some(good), 5_000 * scene),
                    segment(session, r, None, 10_000 * scene),
                    segment(session, r, Some(bad), 30_000 * scene),
                    segment(session, r, Some(&defaults), 10_000 * scene),
                ]
            })
            .collect()
    }

    #[test]
    fn the_race_goes_on_across_launches_and_is_over_when_decided() {
        let (good, bad) = (trial("good", 500), trial("bad", 9000));
        let plan = [good.clone(), bad.clone(), good.clone()];
        assert_eq!(contenders(&plan), [Some(good.config), Some(bad.config), Some(SchedConfig::default()), None]);
        let mut s = store(rounds("s1", 1..=2, &good, &bad));
        s.sessions.push(session("s1", SessionMode::LaunchTune, MeasureMode::Interleaved));
        let race = race_so_far(&plan, &s);
        assert_eq!((race.rounds(), race.running().len()), (2, 4), "two rounds: too few to drop anything");
        assert!(!race.over());
        // The next launch's rounds join the same race: bad and the defaults
        // are confidently worse than good, which beats the kernel.
        s.trials.extend(rounds("s2", 1..=2, &good, &bad));
        s.sessions.push(session("s2", SessionMode::LaunchTune, MeasureMode::Interleaved));
        let race = race_so_far(&plan, &s);
        assert_eq!(race.rounds(), 4);
        assert!(matches!(race.lane(1), Lane::Dropped { leader: 0, .. }), "{:?}", race.lane(1));
        assert!(matches!(race.lane(2), Lane::Dropped { leader: 0, .. }), "{:?}", race.lane(2));
        assert!(race.over(), "decided: good is half the kernel's p99");
        assert!((race.score(0).unwrap() - 0.5).abs() < 1e-6);
    }

    #[test]
    fn only_launch_tune_races_are_replayed_and_failures_stay_out() {
        let (good, bad) = (trial("good", 500), trial("bad", 9000));
        let plan = [good.clone(), bad.clone()];
        // Rounds of a `tune` and of a launch in blocks: not this race.
        let mut trials = rounds("t", 1..=4, &good, &bad);
        trials.extend(rounds("b", 1..=4, &good, &bad));
        // A launch whose first round is cut by the game's exit, after bad
        // failed to load.
        trials.push(rec("s1", 1, Some(&bad), TrialStatus::Failed("load failed".into())));
        trials.push(rec("s1", 1, Some(&good), TrialStatus::Partial("the game exited".into())));
        let mut s = store(trials);
        s.sessions.push(session("t", SessionMode::Tune, MeasureMode::Interleaved));
        s.sessions.push(session("b", SessionMode::LaunchTune, MeasureMode::Blocks));
        s.sessions.push(session("s1", SessionMode::LaunchTune, MeasureMode::Interleaved));
        let race = race_so_far(&plan, &s);
        assert_eq!(race.rounds(), 1);
        assert_eq!(race.lane(1), &Lane::Failed);
        assert_eq!(race.score(0), None, "a segment cut short is not a measurement");
        assert_eq!(race.running(), [0, 2, 3]);
    }

    #[test]
    fn the_race_search_asks_for_every_config_at_once() {
        let plan = [trial("a", 500), trial("b", 2000), trial("a-again", 500)];
        let mut s = PlanSearch::race(&plan);
        let batch = s.next_batch().unwrap();
        assert_eq!(batch.iter().map(|a| a.config.slice_us).collect::<Vec<_>>(), [500, 2000]);
        assert!(s.next_batch().is_none());
    }

    #[test]
    fn the_search_asks_each_pending_config_once_and_knows_the_best() {
        let mut s = PlanSearch::new(vec![trial("a", 500), trial("b", 2000)]);
        let first = s.next_batch().unwrap();
        assert_eq!((first.len(), first[0].config.slice_us), (1, 500));
        s.tell(first[0].id, Some(1.2));
        let second = s.next_batch().unwrap();
        s.tell(second[0].id, Some(0.9));
        assert!(s.next_batch().is_none());
        assert_eq!(s.best().map(|(c, _)| c.slice_us), Some(2000));
        s.tell(99, Some(0.1)); // an unknown id changes nothing
        assert_eq!(s.best().map(|(c, _)| c.slice_us), Some(2000));
    }
}
