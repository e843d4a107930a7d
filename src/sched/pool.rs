//! Loaded schedulers kept for attaching again. The verifier is most of a
//! load's cost — and a third of the tuner's own CPU time when every trial
//! or interleaved segment loaded its config afresh (~2 s of a vCPU per load
//! in the TCG VM, BENCHMARKS.md "The tuner's own CPU time") — so a config
//! is loaded once per process and, detached, waits here until it is wanted
//! again.

use anyhow::Result;

use super::{SchedConfig, Scheduler};

/// How many detached schedulers are kept; the least recently used goes
/// first. A race has a few contenders; a search proposes many configs, most
/// of them measured once.
pub const KEEP: usize = 8;

/// What the pool needs of a scheduler (a fake one in the tests).
pub trait Keepable {
    fn load(config: &SchedConfig) -> Result<Self>
    where
        Self: Sized;
    fn config(&self) -> &SchedConfig;
    /// It can attach again: detached by us, or never attached (not
    /// attached now, not ejected by the kernel).
    fn reattachable(&self) -> bool;
}

impl Keepable for Scheduler {
    fn load(config: &SchedConfig) -> Result<Self> {
        Scheduler::load(config)
    }
    fn config(&self) -> &SchedConfig {
        Scheduler::config(self)
    }
    fn reattachable(&self) -> bool {
        Scheduler::reattachable(self)
    }
}

pub struct Pool<S = Scheduler> {
    /// Least recently used first.
    idle: Vec<S>,
}

impl<S> Default for Pool<S> {
    fn default() -> Self {
        Self { idle: Vec::new() }
    }
}

/// A scheduler taken from the pool: kept from before, or loaded now.
pub struct Taken<S = Scheduler> {
    pub scheduler: S,
    /// True when `take` had to load it (the verifier ran).
    pub loaded: bool,
}

impl<S: Keepable> Pool<S> {
    /// The scheduler for `config`: a kept one if there is one, else a
    /// fresh load.
    pub fn take(&mut self, config: &SchedConfig) -> Result<Taken<S>> {
        match self.idle.iter().position(|s| s.config() == config) {
            Some(i) => Ok(Taken { scheduler: self.idle.remove(i), loaded: false }),
            None => Ok(Taken { scheduler: S::load(config)?, loaded: true }),
        }
    }

    /// Keep `sched` for later if it can attach again. An attached or
    /// ejected one is dropped (and so detached): a copy the kernel ended is
    /// not trusted again.
    pub fn put(&mut self, sched: S) {
        if !sched.reattachable() {
            return;
        }
        self.idle.retain(|s| s.config() != sched.config());
        self.idle.push(sched);
        if self.idle.len() > KEEP {
            self.idle.remove(0);
        }
    }

    /// The configs kept, least recently used first.
    pub fn configs(&self) -> Vec<SchedConfig> {
        self.idle.iter().map(|s| *s.config()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fake {
        config: SchedConfig,
        attached: bool,
    }

    impl Keepable for Fake {
        fn load(config: &SchedConfig) -> Result<Self> {
            anyhow::ensure!(config.slice_us != 13, "the verifier said no");
            Ok(Fake { config: *config, attached: false })
        }
        fn config(&self) -> &SchedConfig {
            &self.config
        }
        fn reattachable(&self) -> bool {
            !self.attached
        }
    }

    fn config(slice_us: u64) -> SchedConfig {
        SchedConfig { slice_us, ..SchedConfig::default() }
    }

    #[test]
    fn a_config_is_loaded_once_and_taken_again_from_the_pool() {
        let mut pool = Pool::<Fake>::default();
        let a = pool.take(&config(500)).unwrap();
        assert!(a.loaded);
        pool.put(a.scheduler);
        let again = pool.take(&config(500)).unwrap();
        assert!(!again.loaded, "kept, not loaded again");
        assert!(pool.configs().is_empty(), "taken out while in use");
        // Another config is loaded; a load error is the caller's to report.
        assert!(pool.take(&config(600)).unwrap().loaded);
        assert!(format!("{:#}", pool.take(&config(13)).err().unwrap()).contains("verifier"));
    }

    #[test]
    fn attached_or_ejected_copies_are_not_kept_and_the_least_recently_used_goes_first() {
        let mut pool = Pool::<Fake>::default();
        pool.put(Fake { config: config(1), attached: true });
        assert!(pool.configs().is_empty());
        for slice in 1..=(KEEP as u64 + 1) {
            pool.put(Fake::load(&config(slice)).unwrap());
        }
        let kept = pool.configs();
        assert_eq!(kept.len(), KEEP);
        assert_eq!(kept[0], config(2), "config 1 was used least recently: {kept:?}");
        // Put back after use: the most recent now; one copy per config.
        let two = pool.take(&config(2)).unwrap().scheduler;
        pool.put(two);
        pool.put(Fake::load(&config(2)).unwrap());
        let kept = pool.configs();
        assert_eq!((kept.len(), kept[KEEP - 1]), (KEEP, config(2)));
        assert_eq!(kept.iter().filter(|c| **c == config(2)).count(), 1);
    }
}
