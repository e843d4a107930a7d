//! Helpers for the crate's unit tests.

/// One step of Marsaglia's xorshift64: `x` becomes the next value, which is
/// also returned. Tests use it for deterministic "random" input (frame
/// times, log rows) that needs no seeding API and never changes between
/// versions of a library.
pub(crate) fn xorshift(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

/// A trial record of `session`'s block `block`: the kernel's scheduler,
/// status ok, no frames; tests set what they look at.
pub(crate) fn trial_record(session: &str, block: u32) -> crate::store::TrialRecord {
    serde_json::from_value(serde_json::json!({
        "id": 0, "session": session, "block": block, "kind": "baseline", "name": "baseline",
        "config": null, "status": {"state": "ok"}, "started_at": "", "ended_at": "",
        "planned_secs": 1.0, "measured_secs": 1.0, "warmup_secs": 0.0,
        "frames": serde_json::to_value(crate::frames::FrameStats::default()).unwrap(),
        "frame_times": null, "bad_rows": 0, "mangohud_log": null,
        "sched": null, "switch": {}, "observed": {}
    }))
    .expect("a trial record")
}

/// For a test whose MangoHud config files are its own: MangoHud 0.7+
/// also reads /etc/MangoHud.conf, which the test cannot move aside. Where
/// one exists the test fails here, saying why, rather than on a file it
/// knows nothing of.
pub(crate) fn assert_no_system_mangohud_conf() {
    let etc = std::path::Path::new("/etc/MangoHud.conf");
    assert!(!etc.exists(), "this test needs a machine without {} (MangoHud reads it after the player's files)", etc.display());
}

/// A folder `name` under `parent` that belongs to nobody (uid and gid
/// 65534), as a player's own folder would: for the tests of what a root
/// tuner writes there. Needs root (the suite runs as root), and says so.
pub(crate) fn players_folder(parent: &std::path::Path, name: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    assert!(nix::unistd::geteuid().is_root(), "this test needs root (it gives files away)");
    // The player can reach their folder (a tempdir is 0700).
    let mode = std::fs::metadata(parent).unwrap().permissions().mode();
    std::fs::set_permissions(parent, std::fs::Permissions::from_mode(mode | 0o711)).unwrap();
    let folder = parent.join(name);
    std::fs::create_dir(&folder).unwrap();
    std::os::unix::fs::chown(&folder, Some(65534), Some(65534)).unwrap();
    folder
}
