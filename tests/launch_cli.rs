//! `scx_gamer launch` on the host, where no daemon runs (the game starts
//! anyway): signals sent to the wrapper reach the game whenever they come,
//! including while the wrapper is still starting; and the config it
//! applies, as the last tune recorded it in the store.

mod support;

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use scx_gamer::game::identity::GameId;
use scx_gamer::launch::choose_config;
use scx_gamer::sched::SchedConfig;
use scx_gamer::store::{Choice, GameStore, TrialStatus, store_path};
use scx_gamer::verdict::choice::{self, RULE};
use support::store::{spiky_frames, synthetic_trial};

/// `scx_gamer launch ARGS…` as a player runs it (Steam's launch option: as
/// the player, here nobody; the game never runs as root).
fn launch_as_player() -> Command {
    support::assert_players_reach_the_checkout();
    let mut c = Command::new("setpriv");
    c.args(["--reuid=65534", "--regid=65534", "--clear-groups", env!("CARGO_BIN_EXE_scx_gamer")]);
    c.args(["launch", "--socket", "/nonexistent/scx_gamer.sock", "--data", "/nonexistent", "--"]);
    c
}

/// A temporary folder the player (nobody) may write to.
fn players_tempdir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    dir
}

/// `scx_gamer launch -- sh -c 'echo $$ > PIDFILE; exec sleep 100'`.
fn launch_sleeper(pidfile: &Path) -> Child {
    launch_as_player()
        .args(["sh", "-c", &format!("echo $$ > {}; exec sleep 100", pidfile.display())])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// The game's pid, once it has written it.
fn game_pid(pidfile: &Path) -> Option<i32> {
    std::fs::read_to_string(pidfile).ok()?.trim().parse().ok()
}

fn alive(pid: i32) -> bool {
    // A zombie is dead; its parent (the wrapper) is gone, so init reaps it.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('Z')),
        Err(_) => false,
    }
}

fn wait_exit(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Some(s) = child.try_wait().unwrap() {
            return Some(s);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    None
}

/// SIGTERM at delays from 0 to 60 ms after the start (the wrapper's
/// start-up: settings, the store, the daemon, the game's spawn), and once
/// the game runs. Every time the wrapper ends as SIGTERM says (143, or
/// killed by it before it began) and no game is left running. Before the
/// fix a signal that came during start-up was swallowed and the game ran
/// its full 100 s.
#[test]
fn sigterm_at_any_moment_ends_the_game_and_the_wrapper_says_so() {
    let dir = players_tempdir();
    let mut failures = Vec::new();
    let delays: Vec<Option<u64>> = (0..=60).step_by(3).map(Some).chain([None]).collect();
    for (i, delay) in delays.iter().enumerate() {
        let pidfile = dir.path().join(format!("game-{i}.pid"));
        let mut child = launch_sleeper(&pidfile);
        match delay {
            Some(ms) => std::thread::sleep(Duration::from_millis(*ms)),
            None => {
                // Once the game runs.
                let deadline = Instant::now() + Duration::from_secs(20);
                while game_pid(&pidfile).is_none() && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        }
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGTERM).unwrap();
        let when = delay.map_or("once the game ran".to_string(), |ms| format!("{ms} ms after the start"));
        let Some(status) = wait_exit(&mut child, Duration::from_secs(10)) else {
            let _ = child.kill();
            let _ = child.wait();
            if let Some(pid) = game_pid(&pidfile) {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
            }
            failures.push(format!("SIGTERM {when}: the wrapper was still running 10 s later"));
            continue;
        };
        let as_shell = status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
        if as_shell != 143 {
            failures.push(format!("SIGTERM {when}: exit status {as_shell} ({status}), expected 143"));
        }
        if let Some(pid) = game_pid(&pidfile) {
            let deadline = Instant::now() + Duration::from_secs(5);
            while alive(pid) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            if alive(pid) {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
                failures.push(format!("SIGTERM {when}: the game (pid {pid}) was left running"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A launcher that starts the game and exits: the wrapper waits for the
/// game (it is the game's subreaper), passes SIGTERM on to it, and exits
/// with the launcher's status. Before, the wrapper exited with its child,
/// the game ran on under init, and the daemon reverted its config.
#[test]
fn the_game_a_launcher_leaves_running_is_waited_for_and_signalled() {
    let dir = players_tempdir();
    let (launcher, game) = (dir.path().join("launcher"), dir.path().join("game"));
    let script = format!("echo $$ > {}; sleep 100 & echo $! > {}; exit 4", launcher.display(), game.display());
    let mut wrapper = launch_as_player().args(["sh", "-c", &script]).stdin(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let (launcher_pid, game_pid) = loop {
        if let (Some(l), Some(g)) = (game_pid(&launcher), game_pid(&game))
            && !alive(l)
        {
            break (l, g);
        }
        assert!(Instant::now() < deadline, "the launcher did not start its game and exit");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(alive(game_pid), "the game {game_pid} left by launcher {launcher_pid} runs on");
    assert_eq!(wait_exit(&mut wrapper, Duration::from_millis(300)), None, "the wrapper left with the launcher, not the game");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(wrapper.id() as i32), nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = wait_exit(&mut wrapper, Duration::from_secs(20)).expect("the wrapper ends once the game it waits for has");
    assert_eq!(status.code(), Some(4), "the launcher's status");
    assert!(!alive(game_pid), "SIGTERM reached the game its launcher left");
    let mut said = String::new();
    std::io::Read::read_to_string(wrapper.stderr.as_mut().unwrap(), &mut said).unwrap();
    assert!(said.contains("launcher exited; waiting for what it left running: sleep (pid "), "{said}");
}

/// The wrapper holds signals while it starts; the game must not inherit
/// that: it starts with the wrapper's own mask (none blocked here), or a
/// game would ignore the very SIGTERM it is sent.
#[test]
fn the_game_starts_with_no_signal_of_ours_blocked() {
    let dir = players_tempdir();
    let out = dir.path().join("mask");
    let status = launch_as_player()
        // The mask of the game's own process, read by itself: `exec`, so
        // grep *is* the process the wrapper started (a mask survives exec).
        // Not /proc/$$ read from a child of the shell: dash blocks every
        // signal around its wait for that child, and a reader that catches
        // it there sees fffffffe7ffbfeff (one clean-clone CI run did).
        .args(["sh", "-c", &format!("exec grep SigBlk /proc/self/status > {}", out.display())])
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let line = std::fs::read_to_string(&out).unwrap();
    assert_eq!(line.split_whitespace().nth(1), Some("0000000000000000"), "{line}");
}

/// Run as root through sudo, launch starts the game as the one who ran
/// sudo; as root without one, it refuses and starts nothing.
#[test]
fn the_game_never_runs_as_root() {
    assert!(nix::unistd::geteuid().is_root(), "this test needs root (it runs launch as root)");
    let dir = players_tempdir();
    let out = dir.path().join("uid");
    let root_launch = |sudo: bool| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_scx_gamer"));
        c.args(["launch", "--socket", "/nonexistent/scx_gamer.sock", "--data", "/nonexistent", "--"]);
        c.args(["sh", "-c", &format!("id -u > {}", out.display())]);
        c.env_remove("SUDO_UID").env_remove("SUDO_GID").env_remove("PKEXEC_UID");
        if sudo {
            c.envs([("SUDO_UID", "65534"), ("SUDO_GID", "65534"), ("SUDO_USER", "nobody")]);
        }
        c.output().unwrap()
    };
    let o = root_launch(true);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read_to_string(&out).unwrap().trim(), "65534");
    std::fs::remove_file(&out).unwrap();
    let o = root_launch(false);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("never runs the game as root"), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!out.exists(), "the game ran as root");
}

/// Three blocks (the fewest a verdict stands on) in which "calm" (slice_us
/// 1234) beats the kernel's scheduler and the defaults by far.
fn calm_wins() -> GameStore {
    let mut s = GameStore::new(game());
    let calm: SchedConfig = "slice_us=1234".parse().unwrap();
    for block in 1..=3u32 {
        let (id, seed) = (block * 3, block * 100);
        s.trials.push(synthetic_trial(id - 2, block, "baseline", None, &spiky_frames(2000, 8000, 40, seed), TrialStatus::Ok));
        s.trials.push(synthetic_trial(id - 1, block, "calm", Some(calm), &spiky_frames(2000, 8000, 0, seed + 1), TrialStatus::Ok));
        let defaults = Some(SchedConfig::default());
        s.trials.push(synthetic_trial(id, block, "default", defaults, &spiky_frames(2000, 8000, 40, seed + 2), TrialStatus::Ok));
    }
    s
}

fn game() -> GameId {
    GameId { key: "g".into(), exe: "g".into(), steam_app_id: None }
}

#[test]
fn a_tune_records_its_choice_and_launch_applies_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(dir.path(), "g");
    calm_wins().save(&path).unwrap();
    let (_, ranking) = choice::record(&path).unwrap();
    let saved = GameStore::load(&path).unwrap();
    let c = choice::recorded(&saved).expect("a recorded choice");
    assert_eq!((c.name.as_str(), c.config.slice_us, c.significant, c.over_trials), ("calm", 1234, true, 9));
    assert_eq!(Some(c.clone()), choice::of(&ranking, 9), "the choice is the ranking's pick");
    let (config, from) = choose_config(dir.path(), &game());
    assert_eq!(config.slice_us, 1234);
    assert!(from.contains("the tuned config 'calm'"), "{from}");
}

/// A Steam game tuned with `sudo scx_gamer tune -- ./g` (sudo drops
/// SteamAppId: the store is keyed by the exe) is found by Steam's launch,
/// which knows the game as steam-570.
#[test]
fn a_steam_launch_finds_the_game_tuned_under_its_exe_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(dir.path(), "g");
    calm_wins().save(&path).unwrap();
    choice::record(&path).unwrap();
    let steam = GameId { key: "steam-570".into(), exe: "g".into(), steam_app_id: Some("570".into()) };
    let (config, from) = choose_config(dir.path(), &steam);
    assert_eq!(config.slice_us, 1234, "{from}");
    // Another game's exe is not it.
    let other = GameId { key: "steam-571".into(), exe: "h".into(), steam_app_id: Some("571".into()) };
    assert!(choose_config(dir.path(), &other).1.contains("no tuning data"));
}

#[test]
fn launch_uses_a_current_record_as_it_is_and_ranks_a_stale_one_again() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(dir.path(), "g");
    let mut s = calm_wins();
    // A record that says the defaults won: only the record says so.
    let recorded = Choice { over_trials: 9, rule: RULE, name: "default".into(), config: SchedConfig::default(), significant: true };
    s.choice = Some(recorded.clone());
    s.save(&path).unwrap();
    assert!(choose_config(dir.path(), &game()).1.contains("'default'"), "a current record is not ranked again");
    // A trial more than the record knows of: ranked again.
    let extra = synthetic_trial(10, 4, "calm", s.trials[1].config, &spiky_frames(2000, 8000, 0, 7), TrialStatus::Ok);
    s.trials.push(extra);
    s.save(&path).unwrap();
    let (_, from) = choose_config(dir.path(), &game());
    assert!(from.contains("'calm'"), "{from}");
    // Recorded under another version of the ranking rule: ranked again.
    s.trials.pop();
    s.choice = Some(Choice { rule: RULE + 1, ..recorded });
    s.save(&path).unwrap();
    assert!(choose_config(dir.path(), &game()).1.contains("'calm'"));
}

#[test]
fn without_a_significant_winner_launch_applies_the_defaults() {
    let (config, from) = choice::describe(None);
    assert_eq!(config, SchedConfig::default());
    assert!(from.contains("no tuned config beats"), "{from}");
    let best = Choice { over_trials: 1, rule: RULE, name: "x".into(), config: "slice_us=99".parse().unwrap(), significant: false };
    assert_eq!(choice::describe(Some(best)).0, SchedConfig::default());
}
