//! `Space`: the discrete set of configs a search may try.
//!
//! A space is a base config plus, for some knobs, a short ascending list of
//! candidate levels; a point of the space picks one level per listed knob.
//! Searches work on level indices (not raw values) so that knobs with very
//! different units and ranges are treated alike, and so that a surrogate
//! model can measure distance between configs as "how many levels apart".

use std::collections::HashSet;

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

use crate::sched::SchedConfig;
use crate::sched::config::KNOBS;

/// One knob's candidate levels, ascending, deduplicated, each within the
/// knob's `KNOBS` range.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Dim {
    pub knob: String,
    pub levels: Vec<u64>,
}

/// The discrete product of the dims; knobs not in it keep `base`'s value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Space {
    pub base: SchedConfig,
    pub dims: Vec<Dim>,
}

impl Space {
    /// Check the dims and normalise them (levels sorted and deduplicated).
    /// Errors name the offending knob and value: an unknown knob, a knob
    /// listed twice, a knob with no levels, a level outside the knob's range.
    /// The base config itself must be valid too.
    pub fn new(base: SchedConfig, dims: Vec<Dim>) -> Result<Space> {
        if let Err(e) = base.validate() {
            bail!("space base config: {e}");
        }
        let mut seen = HashSet::new();
        let mut out = Vec::with_capacity(dims.len());
        for dim in dims {
            let name = dim.knob.trim().to_string();
            let Some(knob) = KNOBS.iter().find(|k| k.name == name) else {
                bail!("space: unknown knob '{}' (known: {})", dim.knob, KNOBS.map(|k| k.name).join(", "));
            };
            if !seen.insert(name.clone()) {
                bail!("space: knob '{name}' is listed twice");
            }
            if dim.levels.is_empty() {
                bail!("space: knob '{name}' has no levels");
            }
            if let Some(bad) = dim.levels.iter().find(|&&v| v < knob.min || v > knob.max) {
                bail!("space: {name} = {bad} is out of range: allowed {}..={} {}", knob.min, knob.max, knob.unit);
            }
            let mut levels = dim.levels;
            levels.sort_unstable();
            levels.dedup();
            out.push(Dim { knob: name, levels });
        }
        Ok(Space { base, dims: out })
    }

    /// Number of points: the product of the level counts, saturating (a
    /// space with no dims has one point, the base).
    pub fn size(&self) -> usize {
        self.dims.iter().fold(1usize, |acc, d| acc.saturating_mul(d.levels.len()))
    }

    /// The config at `point` (`point[i]` indexes `dims[i].levels`). Indices
    /// past the end are clamped to the last level and missing ones keep the
    /// base value, so a malformed point never panics.
    pub fn config(&self, point: &[usize]) -> SchedConfig {
        let mut cfg = self.base;
        for (dim, &i) in self.dims.iter().zip(point) {
            if let Some(&v) = dim.levels.get(i).or(dim.levels.last()) {
                // Names and ranges were checked by `new`; a space built by
                // hand with a bad name just leaves that knob alone.
                let _ = cfg.set(&dim.knob, &v.to_string());
            }
        }
        cfg
    }

    /// The point whose config equals `cfg` in every dim's knob, or None when
    /// some knob's value is not one of its levels. Knobs outside the dims
    /// are not compared.
    pub fn point_of(&self, cfg: &SchedConfig) -> Option<Vec<usize>> {
        self.dims
            .iter()
            .map(|d| {
                let v = cfg.get(&d.knob)?;
                d.levels.iter().position(|&l| l == v)
            })
            .collect()
    }

    /// Every point, row-major (the last dim varies fastest). Callers check
    /// `size()` first: this allocates one Vec per point.
    pub fn all_points(&self) -> Vec<Vec<usize>> {
        let mut points = vec![Vec::with_capacity(self.dims.len())];
        for dim in &self.dims {
            let n = dim.levels.len();
            let mut next = Vec::with_capacity(points.len().saturating_mul(n));
            for p in &points {
                for i in 0..n {
                    let mut q = p.clone();
                    q.push(i);
                    next.push(q);
                }
            }
            points = next;
        }
        points
    }

    /// Level counts per dim.
    pub fn shape(&self) -> Vec<usize> {
        self.dims.iter().map(|d| d.levels.len()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dim(knob: &str, levels: &[u64]) -> Dim {
        Dim { knob: knob.into(), levels: levels.to_vec() }
    }

    #[test]
    fn new_sorts_dedups_and_enumerates_row_major() {
        let s = Space::new(SchedConfig::default(), vec![dim("slice_us", &[2000, 500, 500]), dim("mig_max", &[1, 0])]).unwrap();
        assert_eq!(s.dims[0].levels, vec![500, 2000]);
        assert_eq!(s.dims[1].levels, vec![0, 1]);
        assert_eq!(s.size(), 4);
        let pts = s.all_points();
        assert_eq!(pts, vec![vec![0, 0], vec![0, 1], vec![1, 0], vec![1, 1]]);
        let cfg = s.config(&[1, 0]);
        assert_eq!(cfg.slice_us, 2000);
        assert_eq!(cfg.mig_max, 0);
        assert_eq!(cfg.game_boost_us, SchedConfig::default().game_boost_us);
        for p in pts {
            assert_eq!(s.point_of(&s.config(&p)), Some(p));
        }
    }

    #[test]
    fn point_of_needs_every_dim_on_a_level() {
        let s = Space::new(SchedConfig::default(), vec![dim("slice_us", &[500, 1000])]).unwrap();
        let mut cfg = SchedConfig::default();
        assert_eq!(s.point_of(&cfg), Some(vec![1]));
        cfg.slice_us = 700;
        assert_eq!(s.point_of(&cfg), None);
        // Knobs outside the space don't matter.
        cfg.slice_us = 500;
        cfg.mig_max = 77;
        assert_eq!(s.point_of(&cfg), Some(vec![0]));
    }

    #[test]
    fn rejects_bad_dims_naming_knob_and_value() {
        let base = SchedConfig::default();
        let err = Space::new(base, vec![dim("slice", &[1])]).unwrap_err().to_string();
        assert!(err.contains("unknown knob 'slice'"), "{err}");
        let err = Space::new(base, vec![dim("slice_us", &[0, 10])]).unwrap_err().to_string();
        assert!(err.contains("slice_us = 0 is out of range"), "{err}");
        let err = Space::new(base, vec![dim("mig_max", &[5, 1001])]).unwrap_err().to_string();
        assert!(err.contains("mig_max = 1001"), "{err}");
        let err = Space::new(base, vec![dim("mig_max", &[])]).unwrap_err().to_string();
        assert!(err.contains("'mig_max' has no levels"), "{err}");
        let err = Space::new(base, vec![dim("mig_max", &[1]), dim("mig_max", &[2])]).unwrap_err().to_string();
        assert!(err.contains("'mig_max' is listed twice"), "{err}");
    }

    #[test]
    fn empty_space_is_the_base_and_malformed_points_dont_panic() {
        let s = Space::new(SchedConfig::default(), vec![]).unwrap();
        assert_eq!(s.size(), 1);
        assert_eq!(s.all_points(), vec![Vec::<usize>::new()]);
        assert_eq!(s.config(&[]), SchedConfig::default());
        let s = Space::new(SchedConfig::default(), vec![dim("slice_us", &[5, 6])]).unwrap();
        assert_eq!(s.config(&[9]).slice_us, 6);
        assert_eq!(s.config(&[]).slice_us, SchedConfig::default().slice_us);
    }

    #[test]
    fn size_saturates() {
        let levels: Vec<u64> = (0..1000).collect();
        let dims = ["input_window_us", "mig_max", "game_boost_us"].iter().map(|k| dim(k, &levels)).collect();
        let mut s = Space::new(SchedConfig::default(), dims).unwrap();
        assert_eq!(s.size(), 1_000_000_000);
        for _ in 0..4 {
            s.dims.push(dim("mig_max", &levels));
        }
        assert_eq!(s.size(), usize::MAX);
    }
}
