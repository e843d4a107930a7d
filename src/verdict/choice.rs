//! The config a player's launch applies, and where it comes from: the
//! choice the last tune recorded in the store when it is still current,
//! else a fresh ranking. A tune records it once, at its end; `launch`
//! reads it, so starting a game never waits for a bootstrap over the
//! whole store.

use std::path::Path;

use anyhow::{Context, Result};

use super::rank::{Ranking, rank};
use crate::sched::SchedConfig;
use crate::store::{Choice, GameStore};

/// Version of the ranking rule (`rank::rank`, `Ranking::best`). Bump it
/// when the rule changes: every recorded choice is then ranked again.
/// 2: the bootstrap draws its resamples from another generator (a
/// borderline interval can move across 1).
/// 3: a verdict needs 3 blocks or rounds (`score::MIN_PAIRS`); the winner is
/// the first config in rank order that beats the kernel's and the defaults,
/// not only the first to beat the kernel's; a trial without frames is not
/// a failure of its config.
pub const RULE: u32 = 3;

/// What `ranking` picks for a store of `trials` trials.
pub fn of(ranking: &Ranking, trials: usize) -> Option<Choice> {
    ranking.best().map(|(row, significant)| Choice {
        over_trials: trials,
        rule: RULE,
        name: row.name.clone(),
        config: row.config.unwrap_or_default(),
        significant,
    })
}

/// The recorded choice, if it was made over exactly this store's trials
/// under today's rule.
pub fn recorded(store: &GameStore) -> Option<&Choice> {
    store.choice.as_ref().filter(|c| c.rule == RULE && c.over_trials == store.trials.len())
}

/// The choice for `store`: the recorded one, else ranked now. None when no
/// config has been measured successfully.
pub fn current(store: &GameStore) -> Result<Option<Choice>> {
    match recorded(store) {
        Some(c) => Ok(Some(c.clone())),
        None => Ok(of(&rank(store)?, store.trials.len())),
    }
}

/// Rank the store at `path` and record its choice there (a tune's last
/// step). Returns the store as recorded and its ranking, for the tune to
/// show without reading the file again.
pub fn record(path: &Path) -> Result<(GameStore, Ranking)> {
    let mut store = GameStore::load(path)?;
    let ranking = rank(&store).with_context(|| format!("{}: ranking its trials", path.display()))?;
    let choice = of(&ranking, store.trials.len());
    if store.choice != choice {
        store.choice = choice;
        store.save(path)?;
    }
    Ok((store, ranking))
}

/// The config to apply and a line saying where it came from.
pub fn describe(choice: Option<Choice>) -> (SchedConfig, String) {
    match choice {
        Some(c) if c.significant => (c.config, format!("the tuned config '{}'", c.name)),
        _ => (SchedConfig::default(), "the default config (no tuned config beats the kernel's scheduler yet)".into()),
    }
}
