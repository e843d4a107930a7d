//! Real MangoHud 0.6.8 (Debian bookworm) on glxgears under Xvfb: a fresh log
//! recorded in every test run, steered through the control socket, watched
//! live, and reported by `scx_gamer report --log`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use scx_gamer::mangohud::control::Control;
use scx_gamer::mangohud::env::game_env;
use scx_gamer::mangohud::log::parse_file;
use scx_gamer::mangohud::watch::{LogEvent, watch_folder};

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Start Xvfb on a free display; returns it and ":N".
fn xvfb() -> (Killed, String) {
    let mut x = Command::new("Xvfb")
        .args(["-displayfd", "1", "-screen", "0", "320x240x24", "-nolisten", "tcp"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("Xvfb (scripts/setup.sh installs it)");
    let mut line = String::new();
    BufReader::new(x.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let display = format!(":{}", line.trim());
    (Killed(x), display)
}

#[test]
fn records_a_log_through_the_control_socket_and_reports_it() {
    let (_x, display) = xvfb();
    let out = tempfile::tempdir().unwrap();
    let watcher = watch_folder(out.path()).unwrap();

    let mut cmd = Command::new("mangohud");
    cmd.args(["glxgears", "-geometry", "64x64"])
        .env("DISPLAY", &display)
        .env("MANGOHUD_LOG_LEVEL", "off")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in game_env(Some("fps_limit=200"), None, out.path()) {
        cmd.env(k, v);
    }
    let game = Killed(cmd.spawn().expect("mangohud (scripts/setup.sh installs it)"));
    let pid = game.0.id();

    // The socket appears once MangoHud hooked the first frame.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut control = loop {
        match Control::connect(pid, Duration::from_secs(5)) {
            Ok(c) => break c,
            Err(e) if Instant::now() > deadline => panic!("{e:#}"),
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    };
    assert_eq!(control.mangohud_version.as_deref(), Some("0.6.8"));
    control.start_logging().unwrap();
    std::thread::sleep(Duration::from_secs(2));
    control.stop_logging(Duration::from_secs(20)).unwrap();

    // 0.6.8 writes the log whole at stop; the watcher delivers it.
    let mut delivered = 0;
    let mut log_path = None;
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline && (delivered == 0 || log_path.is_none()) {
        match watcher.events().recv_timeout(Duration::from_millis(100)) {
            Ok(LogEvent::Frames { path, frames, .. }) => {
                delivered += frames.len();
                log_path = Some(path);
            }
            Ok(LogEvent::Bad { path, error }) => panic!("{}: {error}", path.display()),
            _ => {}
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    while let Ok(ev) = watcher.events().try_recv() {
        if let LogEvent::Frames { frames, .. } = ev {
            delivered += frames.len();
        }
    }
    let log_path = log_path.expect("no frames delivered from the recorded log");
    let parsed = parse_file(&log_path).unwrap();
    assert_eq!(parsed.frames.len(), delivered);
    assert!(delivered > 50, "{delivered} frames in 2 s of glxgears at up to 200 fps");
    assert_eq!(parsed.meta.mangohud_version.as_deref(), Some("0.6.8"));
    assert_eq!(parsed.meta.sampled, Some(false), "log_interval=0 must give per-frame rows");
    assert_eq!(parsed.bad_rows.count, 0);

    let report = Command::new(env!("CARGO_BIN_EXE_scx_gamer")).args(["report", "--json", "--log"]).arg(&log_path).output().unwrap();
    assert!(report.status.success(), "{}", String::from_utf8_lossy(&report.stderr));
    let v: serde_json::Value = serde_json::from_slice(&report.stdout).unwrap();
    for key in [
        "file",
        "frames",
        "avg_fps",
        "p50_ms",
        "p95_ms",
        "p99_ms",
        "p999_ms",
        "low1_fps",
        "low01_fps",
        "stutters",
        "sampled",
        "bad_rows",
        "mangohud_version",
    ] {
        assert!(v.get(key).is_some(), "{key} missing from {v}");
    }
    assert_eq!(v["frames"].as_u64().unwrap() as usize, delivered);
    assert_eq!(v["mangohud_version"], "0.6.8");
    drop(game);
}
