//! The Steam launch wrapper against the root daemon, in the sched_ext VM:
//! the wrapper runs as an unprivileged user (nobody, via setpriv), the game
//! is the frame-loop program. Raw protocol checks go through socat.

use crate::support::{GAME_DISPLAY, MANGOHUD_084_ROOT, run_in_vm};
use serde_json::{Value, json};

/// The daemon on a socket of the scenario's own, and `ask` for raw requests
/// as the player.
const DAEMON: &str = r#"
S=/tmp/d.sock
AS_USER="setpriv --reuid=65534 --regid=65534 --clear-groups env HOME=/tmp"
ask() { printf '%s\n' "$1" | $AS_USER socat -t5 - UNIX-CONNECT:$S; }
mkdir -m 1777 -p /tmp/fl
$SCX_GAMER daemon --socket $S > /tmp/daemon.out 2>&1 & D=$!
wait_for 60 "the daemon's socket $S" test -S $S
"#;

#[test]
fn launch_applies_a_config_while_the_game_runs_and_the_daemon_guards_its_socket() {
    let script = r#"
echo SOCKET_MODE=$(stat -c %a $S)

# The game runs as the player with the config applied; its status comes back.
# It runs until the checks below are done (a loaded host once took longer
# to load the scheduler than a game of fixed length lasted).
$AS_USER $SCX_GAMER launch --socket $S --data /tmp/none -- \
    sh -c "$FRAMELOOP --fps 60 --seconds 300 --output-folder /tmp/fl >/dev/null; exit 7" 2>/tmp/launch.err &
L=$!
wait_state enabled 120
echo DURING_STATE=$(cat /sys/kernel/sched_ext/state)
echo DURING_OPS=$(cat /sys/kernel/sched_ext/root/ops)
echo GAME_USER=$(ps -o user= -p "$(pgrep -n frameloop)")
echo STATUS_DURING=$(ask '"status"')
echo BUSY=$(ask "{\"apply\":{\"pid\":$(pgrep -n frameloop),\"config\":{}}}")
pkill -x frameloop
wait_pid $L 120; echo LAUNCH_RC=$?
wait_state disabled 30
echo AFTER_STATE=$(cat /sys/kernel/sched_ext/state)
echo LAUNCH_SAID=$(head -1 /tmp/launch.err)

# Signals pass through: SIGTERM to the wrapper, once the game runs with
# its config, ends the game with it (tests/launch_cli.rs sends it during
# the wrapper's start-up too).
$AS_USER $SCX_GAMER launch --socket $S --data /tmp/none -- sleep 600 2>/tmp/sigterm.err &
L=$!
wait_state enabled 60
# A CPU goes offline and online while the daemon serves this game (as
# suspend/resume does): the kernel ejects scx_gamer each time, the daemon
# brings the same config back for the same game.
echo 0 > /sys/devices/system/cpu/cpu1/online
wait_line /tmp/daemon.out 'scx_gamer restarted' 60
echo 1 > /sys/devices/system/cpu/cpu1/online
wait_for 60 "a second restart" sh -c "[ \$(grep -c 'scx_gamer restarted' /tmp/daemon.out) -ge 2 ]"
wait_state enabled 30
echo HOTPLUG_OPS=$(cat /sys/kernel/sched_ext/root/ops)
echo HOTPLUG_STATUS=$(ask '"status"')
echo HOTPLUG_GAME=$(pgrep -c -x sleep)
kill -TERM $L; wait_pid $L 30; echo SIGTERM_RC=$?
wait_for 10 "the game (sleep) to end" sh -c '! pgrep -x sleep'
echo SLEEP_LEFT=$(pgrep -c -x sleep)
wait_state disabled 30

# A launcher that starts the game and exits (a Windows launcher under
# Wine, a script that backgrounds the game): the game keeps its config, the
# wrapper waits for it and passes signals on to it, and exits with the
# launcher's status once the game has gone.
$AS_USER $SCX_GAMER launch --socket $S --data /tmp/none -- \
    sh -c 'sleep 500 & while [ ! -e /tmp/launcher-done ]; do sleep 0.2; done; exit 5' 2>/tmp/orphan.err &
L=$!
wait_state enabled 60
touch /tmp/launcher-done
wait_line /tmp/orphan.err 'launcher exited' 60
sleep 2
echo ORPHAN_STATE=$(cat /sys/kernel/sched_ext/state)
echo ORPHAN_STATUS=$(ask '"status"')
kill -TERM $L; wait_pid $L 30; echo ORPHAN_RC=$?
echo ORPHAN_LEFT=$(pgrep -c -x sleep)
wait_state disabled 30
echo ORPHAN_SAID=$(grep 'launcher exited' /tmp/orphan.err)

# Requests that must change nothing.
echo OTHER_UID=$(ask "{\"apply\":{\"pid\":$D,\"config\":{}}}")
echo OUT_OF_RANGE=$(ask '{"apply":{"pid":1,"config":{"slice_us":0}}}')
echo MALFORMED=$(ask '{"apply":{"pid":1,"config":{},"exec":"/bin/sh"}}')
echo GARBAGE=$(ask 'not json at all')
echo OVERSIZED=$(ask "$(head -c 20000 /dev/zero | tr '\0' x)")
printf '{"apply":{"pid":' | $AS_USER socat -t0 - UNIX-CONNECT:$S
echo STATE_AFTER_BAD=$(cat /sys/kernel/sched_ext/state)
kill -0 $D && echo DAEMON_ALIVE=yes
echo STATUS_AFTER=$(ask '"status"')

# No daemon: the game still starts, with one line saying how to install it.
kill -TERM $D; wait_pid $D 60; echo DAEMON_RC=$?
$AS_USER $SCX_GAMER launch --socket $S -- sh -c 'echo GAME_RAN=yes; exit 3' 2>/tmp/nodaemon.err; echo NODAEMON_RC=$?
echo NODAEMON_SAID=$(cat /tmp/nodaemon.err)
cat /tmp/daemon.out
"#;
    let out = run_in_vm(&format!("{DAEMON}{script}"), 600);
    assert_eq!(out.field("SOCKET_MODE"), "666");
    assert_eq!(out.field("DURING_STATE"), "enabled", "{}", out.output);
    assert!(out.field("DURING_OPS").starts_with("scx_gamer"), "{}", out.output);
    assert_eq!(out.field("GAME_USER"), "nobody");
    assert!(out.field("STATUS_DURING").contains("serving pid"), "{}", out.output);
    assert!(out.field("BUSY").contains("busy"), "{}", out.output);
    assert_eq!(out.field("LAUNCH_RC"), "7", "the game's exit status passes through:\n{}", out.output);
    assert_eq!(out.field("AFTER_STATE"), "disabled", "reverted when the game exited:\n{}", out.output);
    assert!(out.field("LAUNCH_SAID").contains("default config"), "{}", out.output);
    assert!(out.field("HOTPLUG_OPS").starts_with("scx_gamer"), "{}", out.output);
    assert!(out.field("HOTPLUG_STATUS").contains("serving pid"), "{}", out.output);
    assert_eq!(out.field("HOTPLUG_GAME"), "1", "the game lives on through the restarts:\n{}", out.output);
    assert!(out.output.contains("going offline") && out.output.contains("going online"), "{}", out.output);
    assert_eq!(out.field("SIGTERM_RC"), "143", "{}", out.output);
    assert_eq!(out.field("SLEEP_LEFT"), "0");
    assert_eq!(out.field("ORPHAN_STATE"), "enabled", "the config went with the launcher:\n{}", out.output);
    assert!(out.field("ORPHAN_STATUS").contains("serving pid"), "{}", out.output);
    assert!(out.field("ORPHAN_SAID").contains("sleep (pid "), "{}", out.output);
    assert_eq!(out.field("ORPHAN_RC"), "5", "the launcher's status:\n{}", out.output);
    assert_eq!(out.field("ORPHAN_LEFT"), "0", "SIGTERM reached the game the launcher left:\n{}", out.output);
    assert!(out.field("OTHER_UID").contains("not to you (uid 65534)"), "{}", out.output);
    assert!(out.field("OUT_OF_RANGE").contains("slice_us = 0 is out of range"), "{}", out.output);
    assert!(out.field("MALFORMED").contains("unknown field `exec`"), "{}", out.output);
    assert!(out.field("GARBAGE").contains("malformed request"), "{}", out.output);
    assert!(out.field("OVERSIZED").contains("request too large"), "{}", out.output);
    assert_eq!(out.field("STATE_AFTER_BAD"), "disabled");
    assert_eq!(out.field("DAEMON_ALIVE"), "yes");
    assert!(out.field("STATUS_AFTER").contains("idle"), "{}", out.output);
    assert_eq!(out.field("DAEMON_RC"), "0");
    assert_eq!(out.field("GAME_RAN"), "yes");
    assert_eq!(out.field("NODAEMON_RC"), "3");
    assert!(out.field("NODAEMON_SAID").contains("install-service.sh"), "{}", out.output);
}

#[test]
fn launch_tune_races_the_plan_across_launches_through_the_daemon() {
    let script = r#"
# launch --tune, twice, measuring as it does by default: the plan's configs,
# the defaults and the kernel's scheduler race in rounds of short segments,
# and the second launch's race goes on from the first one's rounds, into
# nobody's XDG store (HOME=/tmp). The game is frameloop behind a stand-in
# `mangohud` (bookworm's MangoHud 0.6.8 cannot hook a program that draws
# nothing): frameloop logs by itself into the output_folder the wrapper
# puts in MANGOHUD_CONFIG, row by row, so the wrapper cuts segments from
# the live log. Each game runs until its launch has measured some segments
# (six, then four) and is then ended.
mkdir -p /tmp/bin /tmp/plan
printf '#!/bin/sh\nexec "$@"\n' > /tmp/bin/mangohud; chmod 755 /tmp/bin/mangohud
printf '[[trial]]\nname = "p1"\nslice_us = 700\n[[trial]]\nname = "p2"\nslice_us = 3000\n' > /tmp/plan/two.toml
printf '[[trial]]\nname = "p1"\nslice_us = 700\n' > /tmp/plan/first.toml
chmod -R a+rX /tmp/plan
STORE=/tmp/.local/share/scx_gamer/ml_data
TUNE="$AS_USER $SCX_GAMER launch --tune --socket $S --seed 5"
RACE="--segment-secs 3 --guard-secs 1"
GAME="/tmp/bin/mangohud $FRAMELOOP --fps 60 --work-us 1000 --exe fl-game --write-on-sigterm"
segments() { # FILE N: wait for N segments' lines in FILE, then end the game
    wait_for 400 "$2 segment lines in $1" sh -c "[ \$(grep -c '^trial [0-9]* ' $1) -ge $2 ]"
    pkill -x frameloop
}
$TUNE $RACE --trials /tmp/plan/two.toml -- $GAME --seconds 900 >/dev/null 2>/tmp/tune1.err & T=$!
segments /tmp/tune1.err 6; wait_pid $T 120; echo TUNE1_RC=$?
echo STORE1=$(cat $STORE/*.json)
$TUNE $RACE --trials /tmp/plan/two.toml -- $GAME --seconds 900 >/dev/null 2>/tmp/tune2.err & T=$!
segments /tmp/tune2.err 4; wait_pid $T 120; echo TUNE2_RC=$?
echo STORE2=$(cat $STORE/*.json)
echo STORE_FILES=$(ls $STORE | wc -l)
echo STORE_OWNER=$(stat -c %U $STORE/*.json)
echo GOES_ON=$(grep -m1 'the race goes on from' /tmp/tune2.err)
# In blocks, p1 (first in the plan) counts as measured once: the rounds
# paired it with the kernel's scheduler. That plan is done, and this is
# plain launch (no MANGOHUD_CONFIG: frameloop is told where to log).
$TUNE --measure blocks --repeats 1 --trials /tmp/plan/first.toml -- $GAME --seconds 2 --output-folder /tmp/fl >/dev/null 2>/tmp/tune3.err & wait_pid $! 120; echo TUNE3_RC=$?
echo TUNE3_SAID=$(head -1 /tmp/tune3.err)
echo STATE_AFTER_TUNE=$(cat /sys/kernel/sched_ext/state)
echo APPLIED_LOADED=$(grep -c 'applied .* (loaded)' /tmp/daemon.out)
echo APPLIED_KEPT=$(grep -c 'applied .*kept from its last turn' /tmp/daemon.out)
sed 's/^/TUNE1: /' /tmp/tune1.err; sed 's/^/TUNE2: /' /tmp/tune2.err; sed 's/^/TUNE3: /' /tmp/tune3.err
kill -TERM $D; wait_pid $D 60
"#;
    let out = run_in_vm(&format!("{DAEMON}{script}"), 600);
    check_launch_tune(&out);
}

#[test]
fn launch_tune_reads_the_live_log_of_a_game_in_a_sandbox_of_its_own() {
    // As pressure-vessel and Flatpak start a game: bubblewrap, as the
    // player, with a /tmp and a pid namespace of its own, so the game does
    // not see the log folder the wrapper made in our /tmp. frameloop logs
    // by itself (no control socket, as MangoHud ≥ 0.6.9 with autostart):
    // the wrapper finds the game's root, makes the folder there, and cuts
    // segments from the live log it finds in it. (It looked only in its own
    // folder and stopped with "no frames from the game".)
    // Then real MangoHud 0.8.4 in its own root, as the player's Steam would
    // run it (bubblewrap over that root): launch --tune gives it its
    // control socket, finds it by the pid the sandbox knows itself by, and
    // reads the per-segment logs through the game's root. Same boot.
    let script = r#"
mkdir -p /tmp/bin /tmp/plan
printf '#!/bin/sh\nexec "$@"\n' > /tmp/bin/mangohud; chmod 755 /tmp/bin/mangohud
printf '[[trial]]\nname = "p1"\nslice_us = 700\n' > /tmp/plan/one.toml
chmod -R a+rX /tmp/plan
STORE=/tmp/.local/share/scx_gamer/ml_data
# (The checkout may be under /tmp: CI clones there. The sandbox sees it.)
SANDBOX="bwrap --die-with-parent --unshare-pid --ro-bind / / --tmpfs /tmp --ro-bind /tmp/bin /tmp/bin --ro-bind $PWD $PWD --proc /proc --dev /dev"
$AS_USER $SCX_GAMER launch --tune --socket $S --seed 5 --segment-secs 3 --guard-secs 1 --trials /tmp/plan/one.toml -- \
    /tmp/bin/mangohud $SANDBOX -- $FRAMELOOP --fps 60 --work-us 1000 --exe fl-game --write-on-sigterm --seconds 900 >/dev/null 2>/tmp/tune.err & T=$!
wait_for 400 "3 segment lines in /tmp/tune.err" sh -c "[ \$(grep -c '^trial [0-9]* ' /tmp/tune.err) -ge 3 ]"
echo GAME_NSPID=$(awk '/^NSpid:/ {$1=""; print}' /proc/$(pgrep -n frameloop)/status)
pkill -x frameloop
wait_pid $T 120; echo TUNE_RC=$?
echo STORE=$(cat $STORE/*.json)
sed 's/^/TUNE: /' /tmp/tune.err

$AS_USER DISPLAY=:7 $SCX_GAMER launch --tune --socket $S --seed 6 --segment-secs 3 --guard-secs 1 --trials /tmp/plan/one.toml -- \
    $SANDBOX_084 -- mangohud glxgears -geometry 64x64 >/dev/null 2>/tmp/tune84.err & T=$!
wait_for 500 "3 segment lines in /tmp/tune84.err" sh -c "[ \$(grep -c '^trial [0-9]* ' /tmp/tune84.err) -ge 3 ]"
G=$(pgrep -n '^glxgears')
echo GAME84_NSPID=$(awk '/^NSpid:/ {$1=""; print}' /proc/$G/status)
kill $G
wait_pid $T 120; echo TUNE84_RC=$?
echo STORE84=$(cat $STORE/glxgears*.json)
sed 's/^/TUNE84: /' /tmp/tune84.err
kill -TERM $D; wait_pid $D 60
"#;
    let out = run_in_vm(&format!("{GAME_DISPLAY}{MANGOHUD_084_ROOT}{DAEMON}{script}"), 900);
    assert_eq!(out.field("TUNE_RC"), "0", "frameloop's own status:\n{}", out.output);
    let nspid: Vec<&str> = out.field("GAME_NSPID").split_whitespace().collect();
    assert_eq!(nspid.len(), 2, "the game in a pid namespace of its own: {nspid:?}");
    let store = segments_read_through_the_games_root(&out, "STORE");
    assert_eq!(store["sessions"][0]["frame_source"], "stream", "{}", out.output);
    // MangoHud 0.8.4 in its root: through its control socket. The game
    // was killed (SIGTERM): launch returns its status.
    assert_eq!(out.field("TUNE84_RC"), "143", "{}", out.output);
    let nspid: Vec<&str> = out.field("GAME84_NSPID").split_whitespace().collect();
    assert_eq!(nspid.len(), 2, "{nspid:?}");
    let store = segments_read_through_the_games_root(&out, "STORE84");
    let session = &store["sessions"][0];
    assert_eq!(
        (&session["frame_source"], &session["system"]["mangohud_version"]),
        (&json!("control-socket"), &json!("0.8.4")),
        "{}",
        out.output
    );
}

/// The store the scenario printed as `key`: at least 3 ok segments, each
/// with frames, read through the game's root (`/proc/PID/root`).
fn segments_read_through_the_games_root(out: &crate::support::VmOutput, key: &str) -> Value {
    let store: Value = serde_json::from_str(out.field(key)).unwrap_or_else(|e| panic!("{key}: {e}\n{}", out.output));
    let ok: Vec<&Value> = store["trials"].as_array().unwrap().iter().filter(|t| t["status"]["state"] == "ok").collect();
    assert!(ok.len() >= 3, "{}", out.output);
    for t in ok {
        assert!(t["frames"]["frames"].as_u64().unwrap_or(0) > 0, "{t}");
        assert!(t["mangohud_log"].as_str().unwrap_or("").contains("/proc/"), "read through the game's root: {t}");
    }
    store
}

/// Config trials measured with a baseline of their block, as (session,
/// slice_us), and every one of them must have really run that config.
fn measured(store: &Value) -> Vec<(String, u64)> {
    let trials = store["trials"].as_array().expect("trials");
    let ok = |t: &Value| t["status"]["state"] == "ok";
    let mut out = Vec::new();
    // The plan's configs only: not the defaults (slice_us 1000, not in the
    // plan) that every block also measures, for the verdict against them.
    let planned = |t: &Value| t["config"]["slice_us"].as_u64() != Some(1000);
    for t in trials.iter().filter(|t| t["kind"] == "config" && ok(t) && planned(t)) {
        let same_block = |b: &&Value| b["kind"] == "baseline" && b["session"] == t["session"] && b["block"] == t["block"];
        let Some(base) = trials.iter().find(same_block).filter(|b| ok(b)) else { continue };
        let obs = &t["observed"];
        for k in ["ops_mid", "ops_end"] {
            assert!(obs[k].as_str().is_some_and(|o| o.starts_with("scx_gamer")), "trial {} ran without scx_gamer: {obs}", t["id"]);
        }
        assert_eq!(obs["state_mid"], "enabled", "{t}");
        assert_eq!(base["observed"]["state_mid"], "disabled", "the baseline ran the kernel's scheduler: {base}");
        assert!(t["frames"]["frames"].as_u64().unwrap_or(0) > 10, "{t}");
        assert!(t["sched"]["game_dispatches"].as_u64().unwrap_or(0) > 0, "counters through the daemon's stats: {t}");
        out.push((t["session"].as_str().unwrap().to_string(), t["config"]["slice_us"].as_u64().unwrap()));
    }
    out
}

fn check_launch_tune(out: &crate::support::VmOutput) {
    let parse = |k: &str| serde_json::from_str::<Value>(out.field(k)).unwrap_or_else(|e| panic!("{k}: {e}\n{}", out.output));
    assert_eq!(out.field("TUNE1_RC"), "0", "frameloop's own status:\n{}", out.output);
    assert_eq!(out.field("TUNE2_RC"), "0", "{}", out.output);
    let (s1, s2) = (parse("STORE1"), parse("STORE2"));
    assert_eq!(s1["sessions"][0]["mode"], "launch-tune");
    assert_eq!(s1["sessions"][0]["measure"], "interleaved");
    assert_eq!(s1["sessions"][0]["frame_source"], "stream");
    let first = measured(&s1);
    assert!(!first.is_empty(), "the first launch measured a config beside the kernel's scheduler:\n{}", out.output);
    let all = measured(&s2);
    assert_eq!(&all[..first.len()], &first[..], "the second launch keeps the first one's segments");
    let session2 = s2["sessions"][1]["id"].as_str().expect("a second session");
    assert!(all[first.len()..].iter().all(|(s, _)| s == session2), "{all:?}\n{}", out.output);
    // The second launch's race started from the first one's rounds.
    let session1 = s1["sessions"][0]["id"].as_str().unwrap();
    let rounds1: std::collections::BTreeSet<u64> =
        s1["trials"].as_array().unwrap().iter().filter(|t| t["session"] == session1).filter_map(|t| t["block"].as_u64()).collect();
    assert!(rounds1.len() >= 2, "six segments of four contenders: two rounds begun: {rounds1:?}");
    assert!(
        out.field("GOES_ON").contains(&format!("the race goes on from {} rounds of earlier launches", rounds1.len())),
        "{}",
        out.output
    );
    assert_eq!(out.field("STORE_FILES"), "1");
    assert_eq!(out.field("STORE_OWNER"), "nobody");
    assert_eq!(out.field("TUNE3_RC"), "0", "{}", out.output);
    assert!(out.field("TUNE3_SAID").contains("tuning plan of") && out.field("TUNE3_SAID").contains("is done"), "{}", out.output);
    assert_eq!(out.field("STATE_AFTER_TUNE"), "disabled", "{}", out.output);
    // Each launch loads each of its configs (p1, p2, the defaults) once;
    // their later segments attach the daemon's kept copy again.
    let (loaded, kept): (u32, u32) = (out.field("APPLIED_LOADED").parse().unwrap(), out.field("APPLIED_KEPT").parse().unwrap());
    assert!(loaded <= 3 + 3 + 1, "{loaded} loads for three launches of at most three configs:\n{}", out.output);
    assert!(kept >= 1, "no segment attached a kept copy ({loaded} loads):\n{}", out.output);
}
