//! Live watching of MangoHud logs, with the frame-loop program writing them
//! as MangoHud 0.8 (row by row) and 0.6.8 (all at stop) would.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use scx_gamer::mangohud::log::parse_file;
use scx_gamer::mangohud::watch::{LogEvent, LogWatcher, watch_folder};

fn frameloop(folder: &Path, format: &str, secs: f64) -> Child {
    Command::new(env!("CARGO_BIN_EXE_frameloop"))
        .args(["--fps", "100", "--work-us", "500", "--seconds", &secs.to_string(), "--format", format])
        .arg("--output-folder")
        .arg(folder)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

/// Collect events until `done` says so or `timeout` passes.
fn collect(w: &LogWatcher, timeout: Duration, mut done: impl FnMut(&[LogEvent]) -> bool) -> Vec<LogEvent> {
    let end = Instant::now() + timeout;
    let mut events = Vec::new();
    while Instant::now() < end && !done(&events) {
        if let Ok(ev) = w.events().recv_timeout(Duration::from_millis(50)) {
            events.push(ev);
        }
    }
    events
}

fn frame_count(events: &[LogEvent], path: &Path) -> usize {
    events
        .iter()
        .map(|e| match e {
            LogEvent::Frames { path: p, frames, .. } if p == path => frames.len(),
            _ => 0,
        })
        .sum()
}

fn only_log(folder: &Path) -> PathBuf {
    let logs: Vec<PathBuf> =
        std::fs::read_dir(folder).unwrap().map(|e| e.unwrap().path()).filter(|p| !p.to_string_lossy().ends_with("_summary.csv")).collect();
    assert_eq!(logs.len(), 1, "{logs:?}");
    logs.into_iter().next().unwrap()
}

#[test]
fn frames_arrive_while_a_new_format_log_grows_in_a_folder_that_did_not_exist() {
    let tmp = tempfile::tempdir().unwrap();
    let folder = tmp.path().join("not/yet");
    let w = watch_folder(&folder).unwrap();
    let mut game = frameloop(&folder, "0.8", 3.0);

    // Frames come while the game is still running.
    let early = collect(&w, Duration::from_secs(10), |evs| evs.iter().any(|e| matches!(e, LogEvent::Frames { .. })));
    assert!(game.try_wait().unwrap().is_none(), "the game ended before any frame was delivered");
    assert!(matches!(early.first(), Some(LogEvent::NewLog(_))), "{early:?}");

    game.wait().unwrap();
    let log = only_log(&folder);
    let want = parse_file(&log).unwrap().frames.len();
    let early_n = frame_count(&early, &log);
    let mut all = early;
    all.extend(collect(&w, Duration::from_secs(5), |evs| early_n + frame_count(evs, &log) >= want));
    assert_eq!(frame_count(&all, &log), want);
    assert!(want > 200, "{want} frames in 3 s at 100 fps?");
    // Summary files are never reported.
    assert!(all.iter().all(|e| !matches!(e, LogEvent::NewLog(p) if p.to_string_lossy().contains("summary"))));
}

#[test]
fn an_old_format_log_written_at_stop_is_delivered_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let w = watch_folder(tmp.path()).unwrap();
    let mut game = frameloop(tmp.path(), "0.6.8", 1.0);
    game.wait().unwrap();
    let log = only_log(tmp.path());
    let want = parse_file(&log).unwrap().frames.len();
    let events = collect(&w, Duration::from_secs(5), |evs| frame_count(evs, &log) >= want);
    assert_eq!(frame_count(&events, &log), want);
    assert!(want > 50);
}

#[test]
fn logs_present_at_start_deliver_only_new_rows_and_bad_logs_are_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let live = tmp.path().join("game_2026-01-01_00-00-00.csv");
    std::fs::write(&live, "v1\nv0.8.2\nfps,frametime,elapsed\n60,16.6,0\n60,16.6,16600000\n60,16.6,33200000\n").unwrap();
    let w = watch_folder(tmp.path()).unwrap();

    let mut f = std::fs::OpenOptions::new().append(true).open(&live).unwrap();
    f.write_all(b"50,20.0,53200000\n40,25.0,78").unwrap(); // second row unfinished
    f.flush().unwrap();
    let got = collect(&w, Duration::from_secs(5), |evs| frame_count(evs, &live) >= 1);
    assert_eq!(frame_count(&got, &live), 1);
    f.write_all(b"200000\n").unwrap();
    let got = collect(&w, Duration::from_secs(5), |evs| frame_count(evs, &live) >= 1);
    let frames: Vec<u64> = got
        .iter()
        .flat_map(|e| match e {
            LogEvent::Frames { frames, .. } => frames.iter().map(|f| f.frametime_ns).collect(),
            _ => vec![],
        })
        .collect();
    assert_eq!(frames, vec![25_000_000]);

    std::fs::write(tmp.path().join("junk.csv"), "\u{7f}ELF garbage\n").unwrap();
    let got = collect(&w, Duration::from_secs(5), |evs| evs.iter().any(|e| matches!(e, LogEvent::Bad { .. })));
    let bad = got.iter().find_map(|e| match e {
        LogEvent::Bad { path, error } => Some((path.clone(), error.clone())),
        _ => None,
    });
    let (path, error) = bad.expect("junk.csv reported as bad");
    assert!(path.ends_with("junk.csv"));
    assert!(error.contains("line 1: not a MangoHud log"), "{error}");
}

/// The stream frame source (attach without a control socket) knows the
/// log's MangoHud version and whether it samples only from the log itself:
/// both must come with the frames, or the sampled-log guard of the tuner
/// never fires in that mode.
#[test]
fn frames_come_with_what_the_log_says_of_itself() {
    use scx_gamer::tune::frame_source::{FrameSource, Frames};
    let tmp = tempfile::tempdir().unwrap();
    let mut source = FrameSource::stream(tmp.path()).unwrap();
    source.begin().unwrap();
    // A 0.8-style log sampled every 100 ms: elapsed advances ~6× the frame times.
    let mut log = String::from("v1\nv0.8.4\nos,cpu,gpu,ram,kernel,driver,cpuscheduler\nx,x,x,0,x,x,x\nfps,frametime,elapsed\n");
    for i in 0..80u64 {
        log.push_str(&format!("60,16.6,{}\n", i * 100_000_000));
    }
    std::fs::write(tmp.path().join("game_2026-01-01_00-00-00.csv"), log).unwrap();
    let end = Instant::now() + Duration::from_secs(10);
    let mut got = Vec::new();
    while got.len() < 79 && Instant::now() < end {
        got.extend(source.poll_live());
        std::thread::sleep(Duration::from_millis(20));
    }
    let m = source.end().unwrap();
    assert_eq!(m.frames_ns.len(), 79, "the first row does not count");
    assert_eq!(m.mangohud_version.as_deref(), Some("0.8.4"));
    assert_eq!(m.sampled, Some(true), "{m:?}");
    assert_eq!(source.mangohud_version().as_deref(), Some("0.8.4"));
}

#[test]
fn sync_returns_once_every_row_written_before_it_was_delivered() {
    // A measurement that ends right after the game wrote a row has that
    // row, whatever the poll's phase.
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("game_2026-01-01_00-00-00.csv");
    std::fs::write(&log, "v1\nv0.8.2\nfps,frametime,elapsed\n60,16.6,0\n").unwrap();
    let w = watch_folder(tmp.path()).unwrap();
    let mut delivered = 0;
    for i in 0..20 {
        let row = format!("60,16.6,{}\n", (i + 1) * 16_600_000);
        std::fs::OpenOptions::new().append(true).open(&log).unwrap().write_all(row.as_bytes()).unwrap();
        w.sync();
        while let Ok(ev) = w.events().try_recv() {
            if let LogEvent::Frames { frames, .. } = ev {
                delivered += frames.len();
            }
        }
        assert_eq!(delivered, i + 1, "row {} was not delivered by the time sync returned", i + 1);
    }
}
