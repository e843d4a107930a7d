//! Trial files (`trials/*.toml`): named lists of scheduler configs to try,
//! and optionally a knob space for the `halving` and `model` searches.
//!
//! ```toml
//! description = "what this list is for"
//! [base]                 # optional: knob values every trial starts from
//! mig_window_ms = 100
//! [[trial]]              # one per config; unset knobs come from [base]
//! name = "short-slice"
//! slice_us = 500
//! [space]                # optional: levels per knob for halving/model
//! slice_us = [500, 1000, 2000]
//! ```
//!
//! Every error names the file and line: a typo in a knob name must not
//! silently become a default value in a two-hour tuning run.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use serde::Deserialize;
use toml::Spanned;

use super::space::{Dim, Space};
use crate::sched::SchedConfig;
use crate::sched::config::KNOBS;

/// One config to try, under a name the report shows.
#[derive(Clone, Debug, PartialEq)]
pub struct Trial {
    pub name: String,
    pub config: SchedConfig,
}

#[derive(Clone, Debug)]
pub struct TrialFile {
    pub path: PathBuf,
    pub description: Option<String>,
    pub trials: Vec<Trial>,
    pub space: Option<Space>,
}

/// Where `tune` looks for its trial list unless told otherwise.
pub const DEFAULT_TRIALS: &str = "trials/default.toml";
/// The shipped default list, for when scx_gamer runs outside the source
/// tree (an installed binary).
const BUILTIN_DEFAULT: &str = include_str!("../../trials/default.toml");

type Knobs = BTreeMap<String, Spanned<toml::Value>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    description: Option<String>,
    base: Option<Knobs>,
    #[serde(default)]
    trial: Vec<Knobs>,
    space: Option<BTreeMap<String, Spanned<Vec<Spanned<i64>>>>>,
}

/// 1-based line of a byte offset.
fn line_of(text: &str, span: &Range<usize>) -> usize {
    text[..span.start.min(text.len())].matches('\n').count() + 1
}

impl TrialFile {
    pub fn load(path: &Path) -> Result<Self> {
        if path == Path::new(DEFAULT_TRIALS) && !path.exists() {
            return Self::parse(Path::new("(built-in) trials/default.toml"), BUILTIN_DEFAULT);
        }
        let text = std::fs::read_to_string(path).with_context(|| format!("reading trial file {}", path.display()))?;
        Self::parse(path, &text)
    }

    /// Parse and validate `text` (the contents of `path`).
    pub fn parse(path: &Path, text: &str) -> Result<Self> {
        let at = |span: &Range<usize>| format!("{}:{}", path.display(), line_of(text, span));
        let raw: RawFile = toml::from_str(text).map_err(|e| match e.span() {
            Some(span) => anyhow!("{}: {}", at(&span), e.message()),
            None => anyhow!("{}: {}", path.display(), e.message()),
        })?;

        let mut base = SchedConfig::default();
        if let Some(knobs) = &raw.base {
            apply_knobs(&mut base, knobs, &at, "[base]")?;
        }
        let mut trials: Vec<Trial> = Vec::new();
        for (i, knobs) in raw.trial.iter().enumerate() {
            let mut config = base;
            let mut name = format!("trial-{}", i + 1);
            let mut rest = knobs.clone();
            if let Some(n) = rest.remove("name") {
                match n.get_ref().as_str() {
                    Some(s) if !s.trim().is_empty() => name = s.trim().to_string(),
                    _ => bail!("{}: trial name must be a non-empty string", at(&n.span())),
                }
                if let Some(dup) = trials.iter().find(|t| t.name == name) {
                    bail!("{}: a second trial named '{}'", at(&n.span()), dup.name);
                }
            }
            apply_knobs(&mut config, &rest, &at, &format!("trial '{name}'"))?;
            trials.push(Trial { name, config });
        }

        let space = match raw.space {
            None => None,
            Some(table) => {
                let mut dims = Vec::new();
                for (knob, levels) in &table {
                    let mut values = Vec::new();
                    for v in levels.get_ref() {
                        let value = u64::try_from(*v.get_ref())
                            .map_err(|_| anyhow!("{}: [space] {knob} = {} is negative", at(&v.span()), v.get_ref()))?;
                        values.push(value);
                    }
                    dims.push((levels.span(), Dim { knob: knob.clone(), levels: values }));
                }
                let first = dims.first().map(|(s, _)| s.clone()).unwrap_or(0..0);
                let spans: Vec<(String, Range<usize>)> = dims.iter().map(|(s, d)| (d.knob.clone(), s.clone())).collect();
                let space = Space::new(base, dims.into_iter().map(|(_, d)| d).collect()).map_err(|e| {
                    // Point at the knob the error names, else at the table.
                    let msg = e.to_string();
                    let span = spans.iter().find(|(k, _)| msg.contains(k.as_str())).map_or(first.clone(), |(_, s)| s.clone());
                    anyhow!("{}: [space]: {msg}", at(&span))
                })?;
                Some(space)
            }
        };
        if trials.is_empty() && space.is_none() {
            bail!("{}: no [[trial]] and no [space]: nothing to try", path.display());
        }
        Ok(Self { path: path.to_path_buf(), description: raw.description, trials, space })
    }
}

/// Set each knob of `knobs` on `config`, checking names, types and ranges.
fn apply_knobs(config: &mut SchedConfig, knobs: &Knobs, at: &dyn Fn(&Range<usize>) -> String, what: &str) -> Result<()> {
    for (key, value) in knobs {
        let loc = at(&value.span());
        let Some(knob) = KNOBS.iter().find(|k| k.name == key) else {
            bail!("{loc}: {what}: unknown knob '{key}' (known: name, {})", KNOBS.map(|k| k.name).join(", "));
        };
        let Some(v) = value.get_ref().as_integer() else {
            bail!("{loc}: {what}: {key} must be a whole number, not {}", value.get_ref());
        };
        if v < knob.min as i64 || v > knob.max as i64 {
            bail!("{loc}: {what}: {key} = {v} is out of range: allowed {}..={} {}", knob.min, knob.max, knob.unit);
        }
        config.set(key, &v.to_string()).with_context(|| loc.clone())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<TrialFile> {
        TrialFile::parse(Path::new("trials/x.toml"), text)
    }

    #[test]
    fn reads_trials_over_base_and_defaults() {
        let f = parse("description = \"d\"\n[base]\nmig_window_ms = 50\n[[trial]]\nname = \"a\"\nslice_us = 5\n[[trial]]\nmig_max = 0\n")
            .unwrap();
        assert_eq!(f.description.as_deref(), Some("d"));
        assert_eq!(f.trials.len(), 2);
        assert_eq!(f.trials[0].name, "a");
        assert_eq!(f.trials[0].config.slice_us, 5);
        assert_eq!(f.trials[0].config.mig_window_ms, 50);
        assert_eq!(f.trials[0].config.mig_max, SchedConfig::default().mig_max);
        assert_eq!(f.trials[1].name, "trial-2");
        assert_eq!(f.trials[1].config.mig_max, 0);
        assert!(f.space.is_none());
    }

    #[test]
    fn errors_name_file_line_and_problem() {
        let err = parse("[[trial]]\nname = \"a\"\nslice = 5\n").unwrap_err().to_string();
        assert!(err.starts_with("trials/x.toml:3: trial 'a': unknown knob 'slice'"), "{err}");
        let err = parse("[[trial]]\nslice_us = 0\n").unwrap_err().to_string();
        assert!(err.starts_with("trials/x.toml:2: trial 'trial-1': slice_us = 0 is out of range: allowed 1..=100000"), "{err}");
        let err = parse("[[trial]]\n\nmig_max = -1\n").unwrap_err().to_string();
        assert!(err.starts_with("trials/x.toml:3:") && err.contains("mig_max = -1 is out of range"), "{err}");
        let err = parse("[[trial]]\nslice_us = \"fast\"\n").unwrap_err().to_string();
        assert!(err.starts_with("trials/x.toml:2:") && err.contains("must be a whole number"), "{err}");
        let err = parse("[[trial]]\nname = \"a\"\n[[trial]]\nname = \"a\"\n").unwrap_err().to_string();
        assert!(err.starts_with("trials/x.toml:4: a second trial named 'a'"), "{err}");
        let err = parse("[[trial]]\nslice_us = 5\n[other]\nx = 1\n").unwrap_err().to_string();
        assert!(err.starts_with("trials/x.toml:3:") && err.contains("unknown field `other`"), "{err}");
        let err = parse("[[trial]\n").unwrap_err().to_string();
        assert!(err.starts_with("trials/x.toml:1:"), "{err}");
        let err = parse("description = \"nothing\"\n").unwrap_err().to_string();
        assert!(err.contains("nothing to try"), "{err}");
        let err = parse("[space]\nslice_us = [100, -5]\n").unwrap_err().to_string();
        assert!(err.starts_with("trials/x.toml:2: [space] slice_us = -5 is negative"), "{err}");
        let err = parse("[space]\nslice_us = [100]\nbogus = [1]\n").unwrap_err().to_string();
        assert!(err.starts_with("trials/x.toml:3: [space]") && err.contains("bogus"), "{err}");
    }

    #[test]
    fn the_shipped_trial_files_are_valid() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("trials");
        let seed = TrialFile::load(&dir.join("seed.toml")).unwrap();
        let cfgs: Vec<(u64, u64, u32)> =
            seed.trials.iter().map(|t| (t.config.slice_us, t.config.input_window_us, t.config.mig_max)).collect();
        assert_eq!(cfgs, vec![(5, 1000, 1), (10, 2000, 3), (15, 3000, 5), (7, 1500, 2)]);
        let default = TrialFile::load(&dir.join("default.toml")).unwrap();
        assert!(default.trials.len() >= 4 && default.space.as_ref().is_some_and(|s| s.size() > default.trials.len()));
        let ci = TrialFile::load(&dir.join("ci.toml")).unwrap();
        assert!(!ci.trials.is_empty() && ci.trials.len() <= 3);
    }
}
