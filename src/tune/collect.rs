//! The old workflow: `scx_gamer --stats 1 --ml-collect --slice-us 5 …` runs
//! one config and records it with the scheduler's counters into the game's
//! store, so results of the old restart-per-config scripts land in the same
//! place as `tune`'s. (No frames: that workflow never read MangoHud.)

use std::path::{Path, PathBuf};

use anyhow::Result;
use chrono::{DateTime, Utc};

use crate::frames::FrameStats;
use crate::game::identity::GameId;
use crate::sched::{Metrics, SchedConfig};
use crate::store::{
    GameStore, Observed, SessionInfo, SessionMode, SwitchInfo, SystemInfo, TrialKind, TrialRecord, TrialStatus, store_path,
};

pub struct Collect {
    data_dir: PathBuf,
    config: SchedConfig,
    game: GameId,
    started: DateTime<Utc>,
}

impl Collect {
    /// Note the game (by its first pid) now: it may be gone at the end.
    pub fn start(data_dir: &Path, config: &SchedConfig, game_pids: &[u32]) -> Self {
        let game = game_pids.first().and_then(|&pid| GameId::from_process(crate::procfs::root(), pid).ok()).unwrap_or_else(|| GameId {
            key: "unknown-game".into(),
            exe: "unknown".into(),
            steam_app_id: None,
        });
        Self { data_dir: data_dir.to_path_buf(), config: *config, game, started: Utc::now() }
    }

    /// Append the run to the game's store; returns the store's path.
    pub fn finish(self, totals: &Metrics) -> Result<PathBuf> {
        let path = store_path(&self.data_dir, &self.game.key);
        let mut store = GameStore::open_or_new(&path, self.game)?;
        let fmt = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let session = format!("{}-collect-{}", self.started.format("%Y%m%dT%H%M%SZ"), std::process::id());
        let kernel = nix::sys::utsname::uname().map(|u| u.release().to_string_lossy().into_owned()).unwrap_or_default();
        store.sessions.push(SessionInfo {
            id: session.clone(),
            mode: SessionMode::Collect,
            started_at: fmt(self.started),
            scx_gamer_version: env!("CARGO_PKG_VERSION").into(),
            system: SystemInfo { kernel, ..Default::default() },
            trials_file: None,
            search: None,
            seed: None,
            trial_secs: 0.0,
            warmup_secs: 0.0,
            frame_source: "none".into(),
            measure: None,
        });
        let now = Utc::now();
        store.trials.push(TrialRecord {
            id: store.next_trial_id(),
            session,
            block: 0,
            kind: TrialKind::Collect,
            name: "ml-collect".into(),
            config: Some(self.config),
            status: TrialStatus::Ok,
            started_at: fmt(self.started),
            ended_at: fmt(now),
            planned_secs: 0.0,
            measured_secs: (now - self.started).num_milliseconds() as f64 / 1e3,
            warmup_secs: 0.0,
            frames: FrameStats::default(),
            frame_times: None,
            bad_rows: 0,
            mangohud_log: None,
            sched: Some(totals.clone()),
            switch: SwitchInfo::default(),
            observed: Observed::default(),
            remeasured: 0,
            cpu: None,
        });
        store.save(&path)?;
        Ok(path)
    }
}
