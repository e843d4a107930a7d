//! Frames out of a store, for pictures (the HTML charts and the terminal's
//! sparklines): each trial's frame times in ms, and which of them a ranking
//! row pooled.

use anyhow::{Context, Result};

use super::charts::Ink;
use crate::frames::sequence::decode_us;
use crate::store::{GameStore, TrialKind, TrialRecord};
use crate::verdict::rank::ConfigRow;

/// A trial and its frame times (ms, in order; empty when it has none).
pub struct TrialFrames<'a> {
    pub trial: &'a TrialRecord,
    pub ms: Vec<f64>,
}

/// Every trial that ran frames (not `--ml-collect` samples), in store order.
pub fn trial_frames(store: &GameStore) -> Result<Vec<TrialFrames<'_>>> {
    store
        .trials
        .iter()
        .filter(|t| t.kind != TrialKind::Collect)
        .map(|t| {
            let us = match &t.frame_times {
                Some(text) => decode_us(text).with_context(|| format!("trial {}", t.id))?,
                None => Vec::new(),
            };
            Ok(TrialFrames { trial: t, ms: us.into_iter().map(|f| f64::from(f) / 1e3).collect() })
        })
        .collect()
}

/// The trials `rank` pooled into `row`: same config, ok, with frames.
pub fn row_trials<'s, 'a>(frames: &'s [TrialFrames<'a>], row: &ConfigRow) -> Vec<&'s TrialFrames<'a>> {
    frames.iter().filter(|f| f.trial.config == row.config && f.trial.status.is_ok() && !f.ms.is_empty()).collect()
}

/// A row's frames, pooled as `rank` pools them (trial after trial).
pub fn row_frames(frames: &[TrialFrames<'_>], row: &ConfigRow) -> Vec<f64> {
    row_trials(frames, row).into_iter().flat_map(|f| f.ms.iter().copied()).collect()
}

/// Each row's colour, used by every chart and legend of the page: the
/// baseline in the theme's text colour, configs in palette order.
pub fn row_inks(rows: &[ConfigRow]) -> Vec<Ink> {
    let mut next = 0;
    rows.iter()
        .map(|r| {
            if r.config.is_none() {
                Ink::Fg
            } else {
                next += 1;
                Ink::nth(next - 1)
            }
        })
        .collect()
}
