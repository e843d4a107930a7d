//! Test helpers: run a shell script inside the sched_ext VM test bed
//! (scripts/vm-run) and pick apart what it printed.
#![allow(dead_code)]

pub mod store;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Guest seconds a scenario may wait for its turn and for the host to see
/// its result beyond its own timeout (the guest enforces that one).
const HOST_MARGIN: Duration = Duration::from_secs(60);

#[derive(Debug)]
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

/// Tests run the game, the Steam wrapper and the tuner's refusals as the
/// player (`nobody`), from this checkout: every folder above the binaries
/// and the repository must let others through, and the trial files must be
/// readable. Panics naming the first that does not (a checkout in a 0700
/// folder, as `mktemp -d` makes, fails every such test otherwise, with
/// errors that say nothing about why).
pub fn assert_players_reach_the_checkout() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.permissions().mode()).unwrap_or(0);
    let bin = PathBuf::from(scx_gamer_bin());
    for dir in bin.ancestors().skip(1).chain(repo_root().ancestors()) {
        assert!(
            mode(dir) & 0o001 != 0,
            "{} has mode {:o}: other users cannot pass it, and the tests run programs of this checkout as nobody \
             (chmod o+x it, or check out elsewhere)",
            dir.display(),
            mode(dir) & 0o7777
        );
    }
    assert!(mode(&bin) & 0o001 != 0, "{} is not executable by other users", bin.display());
    let trials = repo_root().join("trials/ci.toml");
    assert!(mode(&trials) & 0o004 != 0, "{} is not readable by other users", trials.display());
}

/// A VM this test binary shares between its tests: booted once, it runs
/// their scenarios one after another (scripts/vm-serve) and powers off once
/// none has come for a while, or when this process exits.
struct SharedVm {
    queue: tempfile::TempDir,
    next: u32,
    /// Scenarios sent to it whose result has not been read yet.
    in_flight: Arc<Mutex<u32>>,
    /// Set when vm-run has exited: its exit status and log.
    ended: Arc<Mutex<Option<String>>>,
}

/// The VMs of this test binary. A TCG VM keeps one host core busy; the
/// tests run on as many threads as there are cores, so as many VMs as
/// cores (`SCX_GAMER_TEST_VMS` overrides) run their scenarios side by side.
static VMS: Mutex<Vec<SharedVm>> = Mutex::new(Vec::new());

fn max_vms() -> usize {
    std::env::var("SCX_GAMER_TEST_VMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1)
}

impl SharedVm {
    fn boot() -> SharedVm {
        // Not under /tmp: the guest mounts its own /tmp.
        let queue = tempfile::Builder::new()
            .prefix("scx-gamer-vmq.")
            .tempdir_in("/var/tmp")
            .expect("creating the VM's queue folder under /var/tmp");
        let q = queue.path().to_path_buf();
        let ended = Arc::new(Mutex::new(None));
        let ended_w = ended.clone();
        // vm-run is started from a thread that lives as long as this
        // process: the parent-death signal that stops the VM when the test
        // binary exits fires when the *thread* that forked ends.
        std::thread::spawn(move || {
            let log_path = q.join("vm-run.log");
            let log = std::fs::File::create(&log_path).expect("creating vm-run.log");
            let mut cmd = Command::new(repo_root().join("scripts/vm-run"));
            cmd.args(["--timeout", "10800", "--share"])
                .arg(&q)
                .arg("--console")
                .arg(q.join("console.txt"))
                .args(["--", "bash"])
                .arg(repo_root().join("scripts/vm-serve"))
                .arg(&q)
                .current_dir(repo_root())
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("vm-run.log"))
                .stderr(log);
            // SAFETY: prctl is async-signal-safe; nothing else runs in the child.
            unsafe {
                use std::os::unix::process::CommandExt;
                cmd.pre_exec(|| nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGTERM).map_err(std::io::Error::from));
            }
            let status = match cmd.status() {
                Ok(s) => format!("vm-run exited: {s}"),
                Err(e) => format!("vm-run could not start: {e}"),
            };
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            *ended_w.lock().unwrap_or_else(|e| e.into_inner()) = Some(format!("{status}\n--- vm-run.log ---\n{log}"));
        });
        SharedVm { queue, next: 0, in_flight: Arc::default(), ended }
    }

    fn ended(&self) -> Option<String> {
        self.ended.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// One scenario in the shared VM: where its files are.
struct Ticket {
    queue: PathBuf,
    name: String,
    in_flight: Arc<Mutex<u32>>,
    ended: Arc<Mutex<Option<String>>>,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        *self.in_flight.lock().unwrap_or_else(|e| e.into_inner()) -= 1;
    }
}

impl Ticket {
    fn file(&self, ext: &str) -> PathBuf {
        self.queue.join(format!("{}.{ext}", self.name))
    }

    fn read(&self, ext: &str) -> String {
        std::fs::read_to_string(self.file(ext)).unwrap_or_default()
    }

    /// The guest console's lines from this scenario's start on.
    fn console(&self) -> String {
        let all = std::fs::read_to_string(self.queue.join("console.txt")).unwrap_or_default();
        let mark = format!("vm-serve: scenario {} starts", self.name);
        match all.find(&mark) {
            Some(at) => all[at..].lines().skip(1).collect::<Vec<_>>().join("\n"),
            None => all.lines().rev().take(60).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n"),
        }
    }

    /// Everything known about a scenario that did not finish: what it
    /// printed, the guest console, and why.
    fn fail(&self, why: &str) -> ! {
        panic!(
            "VM test bed: {why}\n--- what the scenario printed ---\n{}\n--- guest kernel console ---\n{}",
            self.read("out"),
            self.console()
        );
    }
}

fn submit(body: &str, timeout_secs: u32) -> Ticket {
    let mut vms = VMS.lock().unwrap_or_else(|e| e.into_inner());
    // A VM that powered off (idle) or died is dropped: the scenarios sent to
    // it have their results already, or fail on their own.
    vms.retain(|v| v.ended().is_none());
    let load = |v: &SharedVm| *v.in_flight.lock().unwrap_or_else(|e| e.into_inner());
    // An idle VM, else a new one while there is room, else the least busy.
    let idle = vms.iter().position(|v| load(v) == 0);
    let i = match idle {
        Some(i) => i,
        None if vms.len() < max_vms() => {
            vms.push(SharedVm::boot());
            vms.len() - 1
        }
        None => (0..vms.len()).min_by_key(|&i| load(&vms[i])).unwrap(),
    };
    let v = &mut vms[i];
    *v.in_flight.lock().unwrap_or_else(|e| e.into_inner()) += 1;
    v.next += 1;
    let name = format!("{:04}", v.next);
    let queue = v.queue.path().to_path_buf();
    let tmp = queue.join(format!("{name}.sh.tmp"));
    std::fs::write(&tmp, format!("# timeout={timeout_secs}\n{body}")).expect("writing a scenario");
    std::fs::rename(&tmp, queue.join(format!("{name}.sh"))).expect("queueing a scenario");
    Ticket { queue, name, in_flight: v.in_flight.clone(), ended: v.ended.clone() }
}

/// Run `script` (bash) as root inside the sched_ext VM, at most
/// `timeout_secs` seconds once its turn comes. `$SCX_GAMER` names the
/// binary under test, `$FRAMELOOP` the frame-loop program, `$FENTRY_FILL`
/// the tool that fills input_event's BPF trampoline, and the helpers
/// of scripts/vm-lib.sh (bounded waits that show the state they saw) are
/// defined. Panics, with the scenario's output and the guest console, when
/// it times out or the VM cannot run: a VM test never passes without
/// having run.
pub fn run_in_vm(script: &str, timeout_secs: u32) -> VmOutput {
    assert_players_reach_the_checkout();
    let root = repo_root();
    let body = format!(
        "set -u\n. {lib}\nexport SCX_GAMER={bin} FRAMELOOP={frameloop} FENTRY_FILL={fentry_fill}\ncd {root}\n{script}\n",
        lib = root.join("scripts/vm-lib.sh").display(),
        bin = scx_gamer_bin(),
        frameloop = env!("CARGO_BIN_EXE_frameloop"),
        fentry_fill = env!("CARGO_BIN_EXE_fentry_fill"),
        root = root.display()
    );
    // A VM that powered off (idle) just as the scenario was queued never
    // started it: queue it again, on a fresh VM.
    let mut attempt = 1;
    loop {
        let t = submit(&body, timeout_secs);
        match wait_result(&t, Duration::from_secs(timeout_secs.into())) {
            Ok(out) => return out,
            Err(why) if attempt == 3 => {
                t.fail(&format!("three VMs in a row ended before starting the scenario (run scripts/setup.sh?)\n{why}"))
            }
            Err(_) => attempt += 1,
        }
    }
}

/// The scenario's result; Err(why) when its VM ended before starting it.
fn wait_result(t: &Ticket, timeout: Duration) -> Result<VmOutput, String> {
    let mut started: Option<Instant> = None;
    loop {
        if let Ok(rc) = std::fs::read_to_string(t.file("rc")) {
            if t.file("timedout").exists() {
                t.fail(&format!("the scenario did not finish within its {} s", timeout.as_secs()));
            }
            let status = rc.trim().parse().unwrap_or(-1);
            let mut output = t.read("out");
            let console = t.console();
            if !console.trim().is_empty() {
                output.push_str("\n--- guest kernel console during this scenario ---\n");
                output.push_str(&console);
            }
            return Ok(VmOutput { status, output });
        }
        if let Some(why) = t.ended.lock().unwrap_or_else(|e| e.into_inner()).clone() {
            // vm-run may have ended just after the result came.
            if t.file("rc").exists() {
                continue;
            }
            if !t.file("started").exists() {
                return Err(why);
            }
            t.fail(&format!("the VM ended before the scenario did (run scripts/setup.sh?)\n{why}"));
        }
        if started.is_none() && t.file("started").exists() {
            started = Some(Instant::now());
        }
        if let Some(s) = started
            && s.elapsed() > timeout + HOST_MARGIN
        {
            // The guest enforces the timeout; if it did not, it is hung.
            kill_vm(&t.queue);
            t.fail("the guest stopped answering (it did not end the scenario at its timeout)");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Power off the VM whose queue is `queue` (its guest hung): the next test
/// boots a new one.
fn kill_vm(queue: &std::path::Path) {
    let mut vms = VMS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(i) = vms.iter().position(|v| v.queue.path() == queue) {
        let v = vms.remove(i);
        let _ = Command::new("pkill").arg("-f").arg(format!("qemu.*{}", queue.display())).status();
        std::mem::forget(v.queue); // vm-run's log is in it
    }
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

/// Xvfb on :7 with Mesa's software renderer, as the games' display; the
/// tuner runs games as `nobody` (what `sudo` from that user would give).
///
/// `$FIRST_FRAME` is the tuner's `--frames-timeout` for glxgears: before its
/// first frame llvmpipe JIT-compiles its shaders (no shader cache: `nobody`
/// has no home), and under emulation with both host cores busy a clean-clone
/// run saw no frame within the default 60 s ("no frames from the game within
/// 60s", twice, both right after another glxgears scenario in that VM).
pub const GAME_DISPLAY: &str = r#"
export FIRST_FRAME="--frames-timeout 240"
export LP_NUM_THREADS=0 MANGOHUD_LOG_LEVEL=off DISPLAY=:7 SUDO_UID=65534 SUDO_GID=65534
Xvfb :7 -screen 0 320x240x24 -nolisten tcp >/dev/null 2>&1 &
wait_for 30 "Xvfb's socket" test -e /tmp/.X11-unix/X7
# hud_shot: a screenshot of the game's window (glxgears -geometry 160x160,
# at the screen's corner) as "WHITE LIT" (tests/vm/hud_pixels.py): pixels
# of MangoHud's text, and pixels the game drew. drawn_shot: the first shot
# in which the game drew, of 5 (a shot takes seconds under emulation: take
# them once the game is known to draw); "0 0" and false if none.
# (Debian's python3 by its path: a python3 earlier in PATH may be a
# version manager's shim, a shell script that took over a minute a call
# here.)
hud_shot() { xwd -root -silent -display :7 > /tmp/shot.xwd && /usr/bin/python3 -I -S tests/vm/hud_pixels.py /tmp/shot.xwd 0 0 160 160; }
drawn_shot() {
    local s i
    for i in 1 2 3 4 5; do s=$(hud_shot) && [ "${s#* }" -gt 100 ] && { echo "$s"; return 0; }; sleep 1; done
    echo "0 0"; return 1
}
"#;

/// The Debian root with MangoHud 0.8.4 (scripts/fetch-mangohud.sh, built by
/// setup.sh) in $ROOT, or the scenario stops saying it is missing; and
/// $SANDBOX_084, the bubblewrap command line that starts a game in it as
/// pressure-vessel and Flatpak do (a user and a pid namespace, its own
/// /tmp; the X socket shared; an empty /sys/class/drm, without which 0.8.4
/// aborts), followed by `-- GAME…`.
pub const MANGOHUD_084_ROOT: &str = r#"
ROOT=/var/cache/scx_gamer/mangohud-root
test -e $ROOT/.scx-gamer-mangohud || { echo "no MangoHud 0.8.4 root in $ROOT: run scripts/setup.sh"; exit 1; }
SANDBOX_084="bwrap --die-with-parent --unshare-pid --bind $ROOT / --proc /proc --dev /dev --tmpfs /tmp --ro-bind /tmp/.X11-unix /tmp/.X11-unix \
    --tmpfs /sys --ro-bind /sys/devices /sys/devices --dir /sys/class/drm"
"#;

/// The game store the tuner wrote under `/tmp/<dir>` (printed by the
/// script with `cat /tmp/<dir>/*.json`).
pub fn store(out: &VmOutput) -> serde_json::Value {
    out.json_lines_with("schema_version").into_iter().next().unwrap_or_else(|| panic!("no store printed:\n{}", out.output))
}

/// The booted system of `scripts/vm-run --system`: the root
/// scripts/fetch-mangohud.sh builds (setup.sh caches it;
/// `SCX_GAMER_MANGOHUD_ROOT` names another).
pub fn system_root() -> PathBuf {
    std::env::var_os("SCX_GAMER_MANGOHUD_ROOT").map_or_else(|| PathBuf::from("/var/cache/scx_gamer/mangohud-root"), PathBuf::from)
}

/// scx_loader and scx_bpfland, built by scripts/setup.sh (bin/ under it).
pub fn scx_tools() -> PathBuf {
    let cache = std::env::var_os("SCX_GAMER_CACHE").map_or_else(|| PathBuf::from("/var/cache/scx_gamer"), PathBuf::from);
    let tools = cache.join("scx-tools");
    for bin in ["scx_loader", "scx_bpfland"] {
        assert!(tools.join("bin").join(bin).is_file(), "{} missing: run scripts/setup.sh", tools.join("bin").join(bin).display());
    }
    tools
}

/// Run `script` (bash) as root on a booted Debian system (systemd as init,
/// `scripts/vm-run --system`, a VM of its own), with `env` set; the host's
/// / is at /run/host there. At most `timeout_secs` seconds, boot included.
/// The result holds what the script printed, then what vm-run said (on a
/// timeout: the guest console's tail), and then the guest console.
pub fn run_in_system_vm(script: &str, env: &[(&str, &str)], timeout_secs: u32) -> VmOutput {
    let dir = tempfile::Builder::new().prefix("scx-gamer-sysvm.").tempdir_in("/var/tmp").expect("a folder under /var/tmp");
    let file = dir.path().join("scenario.sh");
    std::fs::write(&file, script).expect("writing the scenario");
    let console = dir.path().join("console.txt");
    let mut cmd = Command::new(repo_root().join("scripts/vm-run"));
    cmd.args(["--timeout", &timeout_secs.to_string(), "--console"]).arg(&console).arg("--system").arg(system_root());
    for (k, v) in env {
        cmd.env(k, v).args(["--env", k]);
    }
    let out = cmd
        .args(["--", "bash"])
        .arg(Path::new("/run/host").join(file.strip_prefix("/").unwrap()))
        .stdin(Stdio::null())
        .output()
        .expect("running scripts/vm-run");
    let mut output = String::from_utf8_lossy(&out.stdout).into_owned();
    output.push_str(&String::from_utf8_lossy(&out.stderr));
    let console = std::fs::read_to_string(&console).unwrap_or_default();
    output.push_str("\n--- guest console ---\n");
    output.push_str(&console);
    VmOutput { status: out.status.code().unwrap_or(-1), output }
}
