//! A tuning plan that goes on across launches (`launch --tune`): a grid
//! over the trial file's configs, each measured `repeats` times, where the
//! store is the memory. Each launch asks which configs still need a
//! measurement and runs them one per block, each block with its own
//! baseline, so scores from different launches stay comparable (the report
//! pairs every config trial with its block's baseline).
//!
//! A config counts as measured once per ok trial whose block also has an ok
//! baseline — exactly the trials the ranking can score, so a trial cut
//! short by the game's exit is simply tried again next launch. A config
//! that failed `MAX_FAILURES` times (it does not load, the kernel ejects
//! it) is given up on rather than retried at every launch.

use std::collections::{HashMap, HashSet, VecDeque};

use super::search::{Ask, Search};
use super::trials::Trial;
use crate::sched::SchedConfig;
use crate::store::{GameStore, TrialKind, TrialStatus};

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
    let mut seen = HashSet::new();
    let mut todo: Vec<(usize, Trial)> = plan
        .iter()
        // The same config listed twice is one config.
        .filter(|t| seen.insert(t.config))
        .filter_map(|t| {
            let p = done.get(&t.config).cloned().unwrap_or_default();
            (p.measured < repeats as usize && p.failed < MAX_FAILURES).then(|| (p.measured, t.clone()))
        })
        .collect();
    todo.sort_by_key(|(measured, _)| *measured); // stable: file order among equals
    todo.into_iter().map(|(_, t)| t).collect()
}

/// The pending configs as a search for the trial loop: one config per
/// block (a short session still completes a block), each asked once per
/// launch.
pub struct PlanSearch {
    queue: VecDeque<Trial>,
    asked: Vec<SchedConfig>,
    scores: Vec<Option<f64>>,
}

impl PlanSearch {
    pub fn new(pending: Vec<Trial>) -> Self {
        Self { queue: pending.into(), asked: Vec::new(), scores: Vec::new() }
    }
}

impl Search for PlanSearch {
    fn name(&self) -> &'static str {
        "plan"
    }

    fn next_batch(&mut self) -> Option<Vec<Ask>> {
        let trial = self.queue.pop_front()?;
        self.asked.push(trial.config);
        self.scores.push(None);
        Some(vec![Ask { id: self.asked.len() - 1, config: trial.config, budget: 1.0 }])
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

    fn trial(name: &str, slice_us: u64) -> Trial {
        Trial { name: name.into(), config: SchedConfig { slice_us, ..Default::default() } }
    }

    fn rec(session: &str, block: u32, config: Option<&Trial>, status: TrialStatus) -> TrialRecord {
        let mut r: TrialRecord = serde_json::from_value(serde_json::json!({
            "id": 0, "session": session, "block": block, "kind": "baseline", "name": "baseline",
            "config": null, "status": {"state": "ok"}, "started_at": "", "ended_at": "",
            "planned_secs": 1.0, "measured_secs": 1.0, "warmup_secs": 0.0,
            "frames": serde_json::to_value(crate::frames::FrameStats::default()).unwrap(),
            "frame_times": null, "bad_rows": 0, "mangohud_log": null,
            "sched": null, "switch": {}, "observed": {}
        }))
        .unwrap();
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
