//! A synthetic game store for report tests: trials with real-looking
//! frame times, counters and observations, built through the library.

use scx_gamer::frames::FrameSeries;
use scx_gamer::frames::sequence::encode_us;
use scx_gamer::sched::{Metrics, SchedConfig};
use scx_gamer::store::{Observed, SwitchInfo, TrialKind, TrialRecord, TrialStatus};

/// One trial of session "s1" with frame times `f` (µs); a config trial
/// (Some config) has counters and was seen attached, the baseline not.
pub fn synthetic_trial(id: u32, block: u32, name: &str, config: Option<SchedConfig>, f: &[u32], status: TrialStatus) -> TrialRecord {
    let mut s = FrameSeries::default();
    for &x in f {
        s.push(u64::from(x) * 1000);
    }
    let scx = config.is_some();
    let on = |v: &str| Some(v.to_string());
    TrialRecord {
        id,
        session: "s1".into(),
        block,
        kind: if scx { TrialKind::Config } else { TrialKind::Baseline },
        name: name.into(),
        config,
        status,
        started_at: "2026-11-24T00:00:00Z".into(),
        ended_at: "2026-11-24T00:00:20Z".into(),
        planned_secs: 20.0,
        measured_secs: 20.0,
        warmup_secs: 2.0,
        frames: s.stats(),
        frame_times: Some(encode_us(f).unwrap()),
        bad_rows: 0,
        mangohud_log: None,
        sched: scx.then(|| Metrics {
            local_dispatches: 9000 + u64::from(id),
            game_dispatches: 4000,
            boosted_dispatches: 120,
            migrations: 800 + u64::from(id) * 3,
            mig_blocked: 40,
            ..Default::default()
        }),
        switch: SwitchInfo { load_ms: scx.then_some(35.0), detach_ms: None, gap_ms: scx.then_some(1.5) },
        observed: if scx {
            Observed { state_mid: on("enabled"), ops_mid: on("scx_gamer_0.1.0"), state_end: on("enabled"), ops_end: on("scx_gamer_0.1.0") }
        } else {
            Observed { state_mid: on("disabled"), state_end: on("disabled"), ..Default::default() }
        },
        remeasured: 0,
        cpu: None,
    }
}

/// Frame times (µs) of a steady game: `base` plus up to 400 µs of jitter,
/// and every `spike_every`-th frame three times as long (none if 0).
pub fn spiky_frames(n: usize, base: u32, spike_every: usize, seed: u32) -> Vec<u32> {
    (0..n)
        .map(|i| {
            let jitter = ((i as u32).wrapping_mul(2654435761).wrapping_add(seed) >> 22) % 400;
            if spike_every > 0 && i % spike_every == spike_every / 2 { base * 3 } else { base + jitter }
        })
        .collect()
}
