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
fn launch_tune(dir: &Path, as_nobody: bool) -> Output {
    support::assert_players_reach_the_checkout();
    let mangohud = dir.join("mangohud");
    std::fs::write(&mangohud, "#!/bin/sh\nexec \"$@\"\n").unwrap();
    std::fs::set_permissions(&mangohud, std::fs::Permissions::from_mode(0o755)).unwrap();
    let data = dir.join("data");
    let mut args: Vec<String> = if as_nobody {
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", env!("CARGO_BIN_EXE_scx_gamer")].map(String::from).to_vec()
    } else {
        vec![env!("CARGO_BIN_EXE_scx_gamer").to_string()]
    };
    args.extend(["launch", "--tune", "--trials", "trials/ci.toml", "--socket", "/nonexistent/scx_gamer.sock"].map(String::from));
    args.extend(["--data".to_string(), data.display().to_string(), "--".into(), mangohud.display().to_string()]);
    args.extend(["sh", "-c", "exit 3"].map(String::from));
    Command::new(&args[0])
        .args(&args[1..])
        .env("SteamAppId", "570")
        .env("HOME", dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap()
}

fn lines(o: &Output) -> Vec<String> {
    String::from_utf8_lossy(&o.stderr).lines().map(String::from).collect()
}

fn shared_tempdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    dir
}

/// Both configs of trials/ci.toml measured, each with its block's baseline.
fn finished_plan(data: &Path) {
    let f: Vec<u32> = (0..500).map(|i| 8000 + (i * 37) % 400).collect();
    let sticky: SchedConfig = "slice_us=500,mig_max=1".parse().unwrap();
    let mut store = GameStore::new(GameId { key: "steam-570".into(), exe: "sh".into(), steam_app_id: Some("570".into()) });
    store.trials = vec![
        synthetic_trial(1, 1, "baseline", None, &f, TrialStatus::Ok),
        synthetic_trial(2, 1, "default", Some(SchedConfig::default()), &f, TrialStatus::Ok),
        synthetic_trial(3, 2, "short-slice-sticky", Some(sticky), &f, TrialStatus::Ok),
        synthetic_trial(4, 2, "baseline", None, &f, TrialStatus::Ok),
    ];
    store.save(&store_path(data, "steam-570")).unwrap();
    std::fs::set_permissions(data, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn without_the_service_the_game_runs_and_one_line_says_how_to_install_it() {
    let dir = shared_tempdir();
    let o = launch_tune(dir.path(), true);
    assert_eq!(o.status.code(), Some(3), "the game's status: {:?}", lines(&o));
    let said = lines(&o);
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(said[0].contains("install-service.sh"), "{said:?}");
}

#[test]
fn a_finished_plan_is_said_and_then_it_is_plain_launch() {
    let dir = shared_tempdir();
    finished_plan(&dir.path().join("data"));
    let o = launch_tune(dir.path(), true);
    assert_eq!(o.status.code(), Some(3));
    let said = lines(&o);
    assert!(said[0].contains("the tuning plan of steam-570 is done (2 configs"), "{said:?}");
    assert!(said[1].contains("install-service.sh"), "{said:?}");
}

#[test]
fn as_root_it_does_not_tune_but_the_game_runs() {
    // The suite runs as root (the VM tests need it); as anyone else this
    // check cannot run, and a check that cannot run fails.
    assert!(nix::unistd::getuid().is_root(), "this test needs root (it starts launch --tune as root)");
    let dir = shared_tempdir();
    let o = launch_tune(dir.path(), false);
    assert_eq!(o.status.code(), Some(3));
    assert!(lines(&o)[0].contains("not as root"), "{:?}", lines(&o));
}
