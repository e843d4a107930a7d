//! `launch --tune` on the host, where no daemon runs: the game always
//! starts with its own exit status, one line says why nothing is tuned, and
//! a finished plan is recognised from the player's store.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

mod support;

use scx_gamer::game::identity::GameId;
use scx_gamer::sched::SchedConfig;
use scx_gamer::store::{GameStore, TrialStatus, store_path};
use support::store::synthetic_trial;

/// `launch --tune` as nobody (the player), for Steam app 570, against a
/// socket nobody listens on; the game is `sh -c 'exit 3'` behind a stand-in
/// `mangohud` (so the host's MangoHud plays no part).
/// Who runs the wrapper: the player (nobody), root, or root through sudo
/// called by nobody.
#[derive(Clone, Copy, PartialEq)]
enum Who {
    Player,
    Root,
    RootThroughSudo,
}

fn launch_tune(dir: &Path, who: Who, extra: &[&str]) -> Output {
    support::assert_players_reach_the_checkout();
    let mangohud = dir.join("mangohud");
    std::fs::write(&mangohud, "#!/bin/sh\nexec \"$@\"\n").unwrap();
    std::fs::set_permissions(&mangohud, std::fs::Permissions::from_mode(0o755)).unwrap();
    let data = dir.join("data");
    let mut args: Vec<String> = if who == Who::Player {
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", env!("CARGO_BIN_EXE_scx_gamer")].map(String::from).to_vec()
    } else {
        vec![env!("CARGO_BIN_EXE_scx_gamer").to_string()]
    };
    args.extend(["launch", "--tune", "--trials", "trials/ci.toml", "--socket", "/nonexistent/scx_gamer.sock"].map(String::from));
    args.extend(extra.iter().map(|a| a.to_string()));
    args.extend(["--data".to_string(), data.display().to_string(), "--".into(), mangohud.display().to_string()]);
    args.extend(["sh", "-c", "exit 3"].map(String::from));
    let mut c = Command::new(&args[0]);
    c.args(&args[1..]).env("SteamAppId", "570").env("HOME", dir).current_dir(env!("CARGO_MANIFEST_DIR"));
    c.env_remove("SUDO_UID").env_remove("SUDO_GID").env_remove("PKEXEC_UID");
    if who == Who::RootThroughSudo {
        c.envs([("SUDO_UID", "65534"), ("SUDO_GID", "65534"), ("SUDO_USER", "nobody")]);
    }
    c.output().unwrap()
}

fn lines(o: &Output) -> Vec<String> {
    String::from_utf8_lossy(&o.stderr).lines().map(String::from).collect()
}

fn shared_tempdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    dir
}

/// Both configs of trials/ci.toml measured, each with its block's baseline
/// (blocks).
fn finished_plan(data: &Path) {
    let f: Vec<u32> = (0..500).map(|i| 8000 + (i * 37) % 400).collect();
    let sticky: SchedConfig = "slice_us=500,mig_max=1".parse().unwrap();
    let mut store = GameStore::new(GameId { key: "steam-570".into(), exe: "sh".into(), steam_app_id: Some("570".into()) });
    // Each config measured in 3 blocks with a baseline (`--repeats`).
    for b in 0..3 {
        store.trials.extend([
            synthetic_trial(4 * b + 1, 2 * b + 1, "baseline", None, &f, TrialStatus::Ok),
            synthetic_trial(4 * b + 2, 2 * b + 1, "default", Some(SchedConfig::default()), &f, TrialStatus::Ok),
            synthetic_trial(4 * b + 3, 2 * b + 2, "short-slice-sticky", Some(sticky), &f, TrialStatus::Ok),
            synthetic_trial(4 * b + 4, 2 * b + 2, "baseline", None, &f, TrialStatus::Ok),
        ]);
    }
    store.save(&store_path(data, "steam-570")).unwrap();
    std::fs::set_permissions(data, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A race of trials/ci.toml's configs and the kernel's scheduler over two
/// earlier launches, decided: short-slice-sticky at half the kernel's
/// p99 in every round (the scenes change), the defaults level with it.
fn finished_race(data: &Path) {
    let sticky: SchedConfig = "slice_us=500,mig_max=1".parse().unwrap();
    let mut store = GameStore::new(GameId { key: "steam-570".into(), exe: "sh".into(), steam_app_id: Some("570".into()) });
    for (session, rounds) in [("s1", 1..=2), ("s2", 1..=3)] {
        store.sessions.push(
            serde_json::from_value(serde_json::json!({
                "id": session, "mode": "launch-tune", "started_at": "", "scx_gamer_version": "",
                "system": {"kernel": "", "cpu": "", "cpus": 1, "mangohud_version": null},
                "trials_file": "trials/ci.toml", "search": "plan", "seed": 1, "trial_secs": 3.0, "warmup_secs": 1.0,
                "frame_source": "stream", "measure": "interleaved"
            }))
            .unwrap(),
        );
        for round in rounds {
            let scene = 1 + round % 2;
            let f = |us: u32| vec![us * scene; 300];
            for (name, config, us) in
                [("short-slice-sticky", Some(sticky), 4000), ("baseline", None, 8000), ("default", Some(SchedConfig::default()), 8000)]
            {
                let mut t = synthetic_trial(store.trials.len() as u32 + 1, round, name, config, &f(us), TrialStatus::Ok);
                t.session = session.into();
                store.trials.push(t);
            }
        }
    }
    store.save(&store_path(data, "steam-570")).unwrap();
    std::fs::set_permissions(data, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn without_the_service_the_game_runs_and_one_line_says_how_to_install_it() {
    let dir = shared_tempdir();
    let o = launch_tune(dir.path(), Who::Player, &[]);
    assert_eq!(o.status.code(), Some(3), "the game's status: {:?}", lines(&o));
    let said = lines(&o);
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(said[0].contains("install-service.sh"), "{said:?}");
}

#[test]
fn a_finished_plan_is_said_and_then_it_is_plain_launch() {
    let dir = shared_tempdir();
    finished_plan(&dir.path().join("data"));
    let o = launch_tune(dir.path(), Who::Player, &["--measure", "blocks"]);
    assert_eq!(o.status.code(), Some(3));
    let said = lines(&o);
    assert!(said[0].contains("the tuning plan of steam-570 is done (2 configs"), "{said:?}");
    assert!(said[1].contains("install-service.sh"), "{said:?}");
    // Those blocks are no race: interleaved (the default), it has not begun.
    let o = launch_tune(dir.path(), Who::Player, &[]);
    assert!(lines(&o)[0].contains("install-service.sh"), "{:?}", lines(&o));
}

#[test]
fn a_decided_race_is_a_finished_plan() {
    let dir = shared_tempdir();
    finished_race(&dir.path().join("data"));
    let o = launch_tune(dir.path(), Who::Player, &[]);
    assert_eq!(o.status.code(), Some(3));
    let said = lines(&o);
    assert!(said[0].contains("the tuning plan of steam-570 is done (2 configs"), "{said:?}");
}

#[test]
fn measuring_flags_without_tune_are_refused() {
    let o = Command::new(env!("CARGO_BIN_EXE_scx_gamer")).args(["launch", "--segment-secs", "5", "--", "true"]).output().unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("are options of launch --tune"), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn a_flag_of_the_other_mode_leaves_the_game_untuned_but_running() {
    let dir = shared_tempdir();
    let o = launch_tune(dir.path(), Who::Player, &["--trial-secs", "30"]);
    assert_eq!(o.status.code(), Some(3), "the game ran: {:?}", lines(&o));
    let said = lines(&o);
    assert!(said[0].contains("not tuning this launch: --trial-secs is an option of --measure blocks"), "{said:?}");
}

#[test]
fn as_root_it_does_not_tune_and_the_game_runs_as_the_sudo_caller_or_not_at_all() {
    // The suite runs as root (the VM tests need it); as anyone else this
    // check cannot run, and a check that cannot run fails.
    assert!(nix::unistd::getuid().is_root(), "this test needs root (it starts launch --tune as root)");
    let dir = shared_tempdir();
    // Through sudo: untuned, the game runs as the caller.
    let o = launch_tune(dir.path(), Who::RootThroughSudo, &[]);
    assert_eq!(o.status.code(), Some(3), "{:?}", lines(&o));
    assert!(lines(&o)[0].contains("not as root"), "{:?}", lines(&o));
    // Plain root: the game never runs as root.
    let o = launch_tune(dir.path(), Who::Root, &[]);
    assert_ne!(o.status.code(), Some(3), "{:?}", lines(&o));
    assert!(lines(&o).iter().any(|l| l.contains("never runs the game as root")), "{:?}", lines(&o));
}
