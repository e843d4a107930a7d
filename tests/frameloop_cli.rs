//! The frame-loop program's log toggle (--log-on-sigusr1), which the
//! benchmark uses to cut one log per measurement from one warm game.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use scx_gamer::mangohud::log::parse_file;

/// True once `pid` catches SIGUSR1 (its handler is installed): signalling
/// earlier would kill it.
fn catches_sigusr1(pid: u32) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("SigCgt:"))
        .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
        .is_some_and(|mask| mask & (1 << (Signal::SIGUSR1 as u64 - 1)) != 0)
}

fn logs(folder: &Path) -> (Vec<PathBuf>, usize) {
    let mut csvs = Vec::new();
    let mut summaries = 0;
    for e in std::fs::read_dir(folder).unwrap() {
        let p = e.unwrap().path();
        if p.to_string_lossy().ends_with("_summary.csv") {
            summaries += 1;
        } else {
            csvs.push(p);
        }
    }
    csvs.sort();
    (csvs, summaries)
}

#[test]
fn each_sigusr1_pair_cuts_one_log_and_nothing_is_logged_in_between() {
    let tmp = tempfile::tempdir().unwrap();
    let mut game = Command::new(env!("CARGO_BIN_EXE_frameloop"))
        .args(["--fps", "100", "--work-us", "200", "--seconds", "30", "--format", "0.6.8", "--log-on-sigusr1"])
        .arg("--output-folder")
        .arg(tmp.path())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let pid = Pid::from_raw(game.id() as i32);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !catches_sigusr1(game.id()) {
        assert!(Instant::now() < deadline, "frameloop never installed its SIGUSR1 handler");
        std::thread::sleep(Duration::from_millis(20));
    }

    // Off at start; two logging periods of ~0.6 s with 0.8 s off between.
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(logs(tmp.path()), (vec![], 0), "logged before the first SIGUSR1");
    for _ in 0..2 {
        kill(pid, Signal::SIGUSR1).unwrap();
        std::thread::sleep(Duration::from_millis(600));
        kill(pid, Signal::SIGUSR1).unwrap();
        std::thread::sleep(Duration::from_millis(800));
    }
    let (csvs, summaries) = logs(tmp.path());
    assert_eq!((csvs.len(), summaries), (2, 2), "{csvs:?}");
    assert_ne!(csvs[0], csvs[1]);
    for csv in &csvs {
        let frames = parse_file(csv).unwrap().frames.len();
        // 0.6 s at 100 fps: 60 frames, give or take a loaded machine; far
        // fewer than the 140 of a log that ran on through the off time.
        assert!((10..=100).contains(&frames), "{}: {frames} frames", csv.display());
    }

    // Killed while logging: a 0.6.8-form log is lost, as MangoHud 0.6.8's
    // is; the finished ones stay.
    assert!(game.try_wait().unwrap().is_none());
    kill(pid, Signal::SIGUSR1).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    kill(pid, Signal::SIGTERM).unwrap();
    game.wait().unwrap();
    assert_eq!(logs(tmp.path()).0.len(), 2);
}
