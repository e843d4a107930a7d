//! Test helpers: run a shell script inside the sched_ext VM test bed
//! (scripts/vm-run) and pick apart what it printed.
#![allow(dead_code)]

pub mod store;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// One VM at a time: the machine has 2 cores and TCG is CPU-bound.
static VM_LOCK: Mutex<()> = Mutex::new(());

pub struct VmOutput {
    pub status: i32,
    pub output: String,
}

impl VmOutput {
    /// Value of the first `KEY=value` line the script printed.
    pub fn field(&self, key: &str) -> &str {
        let prefix = format!("{key}=");
        self.output
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no {key}= line in the VM output:\n{}", self.output))
            .trim()
    }

    /// Every line that is a JSON object with `key` in it.
    pub fn json_lines_with(&self, key: &str) -> Vec<serde_json::Value> {
        self.output
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l.trim()).ok())
            .filter(|v| v.get(key).is_some())
            .collect()
    }
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn scx_gamer_bin() -> &'static str {
    env!("CARGO_BIN_EXE_scx_gamer")
}

/// Run `script` (bash) as root inside the sched_ext VM. `$SCX_GAMER` names
/// the binary under test, `$FRAMELOOP` the frame-loop program. Panics,
/// loudly, when the VM itself cannot run:
/// a VM test never passes without having run.
pub fn run_in_vm(script: &str, timeout_secs: u32) -> VmOutput {
    let _guard = VM_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    // The guest's /tmp is an empty tmpfs, so the script lives under /var/tmp.
    let dir = tempfile::Builder::new()
        .prefix("scx-gamer-test.")
        .tempdir_in("/var/tmp")
        .expect("creating a script dir under /var/tmp");
    let path = dir.path().join("script.sh");
    let body = format!(
        "set -u\nexport SCX_GAMER={bin} FRAMELOOP={frameloop}\ncd {root}\n{script}\n",
        bin = scx_gamer_bin(),
        frameloop = env!("CARGO_BIN_EXE_frameloop"),
        root = repo_root().display()
    );
    std::fs::write(&path, body).unwrap();
    vm_run(&path, timeout_secs)
}

fn vm_run(script: &Path, timeout_secs: u32) -> VmOutput {
    let out = Command::new(repo_root().join("scripts/vm-run"))
        .args(["--timeout", &timeout_secs.to_string(), "--", "bash", script.to_str().unwrap()])
        .output()
        .expect("starting scripts/vm-run");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let status = out.status.code().unwrap_or(-1);
    if status == 124 || status == 125 {
        panic!(
            "the sched_ext VM test bed could not run the test (vm-run exit {status}; \
             run scripts/setup.sh?)\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}"
        );
    }
    VmOutput { status, output: stdout + &stderr }
}

/// A "game" for VM tests, as bash: a render loop of short CPU bursts and
/// sleeps that also forks a child per frame (like a launcher or Wine helper).
/// Prints GAME_PID=<pid> and leaves the pid in $GAME.
pub const GAME_LIKE_LOAD: &str = r#"
game_loop() { while :; do i=0; while [ $i -lt 300 ]; do i=$((i+1)); done; sleep 0.004; done; }
game_loop & GAME=$!
echo GAME_PID=$GAME
"#;

/// Background CPU hogs, one more than the VM has CPUs. Leaves pids in $HOGS.
pub const CPU_HOGS: &str = r#"
HOGS=""
for _ in $(seq $(( $(nproc) + 1 ))); do ( while :; do :; done ) & HOGS="$HOGS $!"; done
"#;

/// Wait (up to 20 s) for sched_ext to report $1.
pub const WAIT_STATE: &str = r#"
wait_state() { for _ in $(seq 200); do [ "$(cat /sys/kernel/sched_ext/state)" = "$1" ] && return 0; sleep 0.1; done; echo "TIMEOUT waiting for state $1"; return 1; }
"#;

/// Xvfb on :7 with Mesa's software renderer, as the games' display; the
/// tuner runs games as `nobody` (what `sudo` from that user would give).
/// Defines `wait_line FILE REGEX` (up to 2 min).
pub const GAME_DISPLAY: &str = r#"
export LP_NUM_THREADS=0 MANGOHUD_LOG_LEVEL=off DISPLAY=:7 SUDO_UID=65534 SUDO_GID=65534
Xvfb :7 -screen 0 320x240x24 -nolisten tcp >/dev/null 2>&1 &
for _ in $(seq 100); do [ -e /tmp/.X11-unix/X7 ] && break; sleep 0.1; done
wait_line() { for _ in $(seq 600); do grep -qE "$2" "$1" 2>/dev/null && return 0; sleep 0.2; done; echo "TIMEOUT waiting for '$2' in $1"; cat "$1"; return 1; }
"#;

/// The game store the tuner wrote under `/tmp/<dir>` (printed by the
/// script with `cat /tmp/<dir>/*.json`).
pub fn store(out: &VmOutput) -> serde_json::Value {
    out.json_lines_with("schema_version").into_iter().next().unwrap_or_else(|| panic!("no store printed:\n{}", out.output))
}
