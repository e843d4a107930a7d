//! The log watcher's thread does next to nothing while no log changes (a
//! poll of the folder once a second). Regression: under inotify it
//! took its own opens of a log for news, read the log again, and so on
//! forever: ~60 % of a vCPU in the VM, taken from the game the tuner
//! measures. (Its own process: the thread is found by name.)

use std::io::Write;
use std::time::Duration;

use scx_gamer::mangohud::watch::{LogEvent, watch_folder};

/// CPU ticks (user + system) of this process's threads named `name`.
/// Panics when there is none: an idle thread that does not exist proves
/// nothing.
fn thread_ticks(name: &str) -> u64 {
    let mut total = 0;
    let mut found = false;
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        let dir = task.unwrap().path();
        if std::fs::read_to_string(dir.join("comm")).unwrap_or_default().trim() != name {
            continue;
        }
        found = true;
        let stat = std::fs::read_to_string(dir.join("stat")).unwrap_or_default();
        // Fields after the ") " that ends the command name; utime and
        // stime are fields 14 and 15 of the whole line.
        let rest: Vec<&str> = stat.rsplit_once(") ").map(|(_, r)| r.split(' ').collect()).unwrap_or_default();
        total += rest.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        total += rest.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    }
    assert!(found, "no thread named {name} in this process: the watcher was renamed or runs elsewhere");
    total
}

#[test]
fn the_watch_thread_is_idle_while_no_log_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("game_2026-01-01_00-00-00.csv");
    std::fs::write(&log, "v1\nv0.8.2\nfps,frametime,elapsed\n60,16.6,0\n").unwrap();
    let w = watch_folder(tmp.path()).unwrap();

    // One new row: the watcher reads the log, then has nothing to do.
    std::fs::OpenOptions::new().append(true).open(&log).unwrap().write_all(b"60,16.6,16600000\n").unwrap();
    let got = w.events().recv_timeout(Duration::from_secs(5)).expect("the new row was not delivered");
    assert!(matches!(got, LogEvent::Frames { ref frames, .. } if frames.len() == 1), "{got:?}");

    let ticks_per_sec = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK).unwrap().unwrap_or(100) as u64;
    let before = thread_ticks("mangohud-watch");
    std::thread::sleep(Duration::from_secs(2));
    let used = thread_ticks("mangohud-watch") - before;
    // A spinning thread uses most of the 2 s even on a busy machine; an
    // idle one none of it. Allow a tenth.
    assert!(used <= ticks_per_sec / 5, "the watch thread used {used} ticks in 2 s with no file changing");
    assert!(w.events().try_recv().is_err(), "events with no file changing");
}
