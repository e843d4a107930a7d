//! The tuner end to end, in the sched_ext VM test bed: real MangoHud 0.6.8
//! on glxgears under Xvfb as the game (and 0.8.4 in a root of its own).

use crate::support::{GAME_DISPLAY, GAME_LIKE_LOAD, MANGOHUD_084_ROOT, VmOutput, run_in_vm, store};
use serde_json::Value;

fn trials(store: &Value) -> &Vec<Value> {
    store["trials"].as_array().expect("trials array")
}

fn state(t: &Value) -> &str {
    t["status"]["state"].as_str().unwrap_or("?")
}

fn frames(t: &Value) -> u64 {
    t["frames"]["frames"].as_u64().unwrap_or(0)
}

/// A `drawn_shot` field ("WHITE LIT") as (MangoHud's text pixels, drawn
/// pixels).
fn hud(out: &VmOutput, key: &str) -> (u64, u64) {
    let v: Vec<u64> = out.field(key).split_whitespace().filter_map(|n| n.parse().ok()).collect();
    assert_eq!(v.len(), 2, "{key}: {:?}", out.field(key));
    (v[0], v[1])
}

fn show(out: &VmOutput) -> String {
    // The store's lines are long (encoded frames): leave them out.
    out.output.lines().filter(|l| !l.contains("\"schema_version\"")).collect::<Vec<_>>().join("\n")
}

#[test]
fn tune_runs_every_trial_on_a_real_game_and_reports_them() {
    let script = format!(
        r#"{GAME_DISPLAY}
# The player's settings set inside the command, as a Steam launch option
# `env MANGOHUD_CONFIG=… %command%` sets them.
$SCX_GAMER tune --trials trials/ci.toml --measure blocks --trial-secs 5 --warmup-secs 2 --repeats 1 --seed 7 --data /tmp/ml_data $FIRST_FRAME \
    -- env MANGOHUD_CONFIG=no_display,fps_limit=0 mangohud glxgears -geometry 160x160 > /tmp/tune.out 2>&1 &
T=$!
wait_for 60 "glxgears to start" pgrep -n glxgears && {{
    G=$(pgrep -n glxgears)
    echo GAME_OWNER=$(ps -o user= -p $G)
    echo GAME_MANGOHUD_CONFIG=$(tr '\0' '\n' < /proc/$G/environ | grep '^MANGOHUD_CONFIG=' | cut -d= -f2-)
}}
# (Once the warm-up has seen frames, the game has drawn.)
wait_line /tmp/tune.out '^\[INFO\] trial 1 ' 300 && echo HUD_HIDDEN=$(drawn_shot)
wait_pid $T 400; echo TUNE_RC=$?
cat /tmp/tune.out
echo STATE_AFTER=$(cat /sys/kernel/sched_ext/state)
echo GAME_LEFT=$(pgrep -c glxgears)
cat /tmp/ml_data/*.json
$SCX_GAMER report --data /tmp/ml_data glxgears --json
echo BEST=$($SCX_GAMER report --data /tmp/ml_data --best glxgears 2>/dev/null)
echo OLD_BEST=$($SCX_GAMER --ml-show-best glxgears --data /tmp/ml_data 2>/dev/null)
echo CSV_ROWS=$($SCX_GAMER report --data /tmp/ml_data glxgears --csv | wc -l)
"#
    );
    let out = run_in_vm(&script, 600);
    assert_eq!(out.field("TUNE_RC"), "0", "{}", show(&out));
    assert_eq!(out.field("GAME_OWNER"), "nobody", "the game must not run as root:\n{}", show(&out));
    assert_eq!(out.field("STATE_AFTER"), "disabled");
    assert_eq!(out.field("GAME_LEFT"), "0", "tune stops the game it started");
    // The player hides MangoHud's HUD with no_display (in the command's
    // own `env`, which the tuner's config has to survive): the game still logs
    // (every trial has frames, below) and the HUD stays hidden — alpha 0
    // instead, and not a pixel of its text on the screen (a visible HUD's
    // shows: attach_tunes_a_running_game_and_sigint_leaves_it_running).
    let game_config = out.field("GAME_MANGOHUD_CONFIG");
    assert!(game_config.contains("fps_limit=0") && game_config.contains("alpha=0"), "{game_config}");
    assert!(!game_config.contains("no_display"), "{game_config}");
    let (text, drawn) = hud(&out, "HUD_HIDDEN");
    assert!(drawn > 100 && text == 0, "HUD text pixels {text}, drawn pixels {drawn}: {}", show(&out));

    let store = store(&out);
    assert_eq!(store["schema_version"], 1);
    assert_eq!(store["sessions"][0]["system"]["mangohud_version"], "0.6.8");
    assert_eq!(store["sessions"][0]["frame_source"], "control-socket");
    let t = trials(&store);
    assert_eq!(t.len(), 3, "two configs and the baseline:\n{}", show(&out));
    for trial in t {
        assert_eq!(state(trial), "ok", "{trial}");
        // How many depends on the emulator's speed (a loaded host gave a
        // 4-s trial of glxgears under 20): that frames came, not how many.
        assert!(frames(trial) > 0, "frames in every trial: {}", trial["frames"]);
        // The exact frame times are stored; the HDR histogram is not (any
        // histogram can be rebuilt from them).
        assert!(trial["frame_times"].is_string() && trial.get("histogram").is_none(), "{trial}");
        let obs = &trial["observed"];
        if trial["kind"] == "baseline" {
            assert_eq!(obs["state_mid"], "disabled", "{obs}");
            assert!(trial["sched"].is_null());
        } else {
            // The scheduler verifiably ran the game during the trial.
            for k in ["ops_mid", "ops_end"] {
                assert!(obs[k].as_str().unwrap_or("").starts_with("scx_gamer"), "{k}: {obs}");
            }
            assert!(trial["sched"]["game_dispatches"].as_u64().unwrap() > 0, "{}", trial["sched"]);
            assert!(trial["switch"]["load_ms"].as_f64().unwrap() > 0.0);
            assert!(trial["switch"]["gap_ms"].as_f64().is_some(), "{}", trial["switch"]);
        }
    }

    let ranking = out.json_lines_with("rows").into_iter().next().expect("report --json");
    let rows = ranking["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    for r in rows {
        assert!(r["verified"].as_bool().unwrap(), "{r}");
        assert!(r["p99_ms"]["low"].as_f64().unwrap() <= r["p99_ms"]["high"].as_f64().unwrap());
    }
    // Ranked by p99 relative to the baseline.
    let ratios: Vec<f64> = rows.iter().map(|r| r["p99_ratio"]["estimate"].as_f64().unwrap()).collect();
    assert!(ratios.windows(2).all(|w| w[0] <= w[1]), "{ratios:?}");
    assert!(out.field("BEST").starts_with("--slice-us "), "{}", show(&out));
    assert_eq!(out.field("OLD_BEST"), out.field("BEST"));
    assert_eq!(out.field("CSV_ROWS"), "4", "header + 3 trials");
    assert!(out.output.contains("p99 ÷ baseline"), "the summary table is printed");
}

#[test]
fn attach_tunes_a_running_game_and_sigint_leaves_it_running() {
    let script = format!(
        r#"{GAME_DISPLAY}
mkdir -p /tmp/logs && chown nobody /tmp/logs
setpriv --reuid=65534 --regid=65534 --clear-groups \
    env MANGOHUD_CONFIG=control=mangohud-%p,output_folder=/tmp/logs,log_interval=0 mangohud glxgears -geometry 160x160 >/dev/null 2>&1 &
GAME=$!
# MangoHud is in once the wrapper script has exec'd the game.
wait_for 60 "MangoHud in the game's memory" grep -q -i mangohud /proc/$GAME/maps
$SCX_GAMER attach --pid $GAME --trials trials/ci.toml --measure blocks --trial-secs 4 --warmup-secs 1 --repeats 1 --seed 3 --data /tmp/ml_data $FIRST_FRAME > /tmp/attach.out 2>&1 &
T=$!
# Trial 1 is recorded; SIGINT during trial 2.
wait_line /tmp/attach.out '^\[INFO\] trial 2 ' 360
echo HUD_VISIBLE=$(drawn_shot)
kill -INT $T; wait_pid $T 60; echo ATTACH_RC=$?
echo STATE_AFTER=$(cat /sys/kernel/sched_ext/state)
kill -0 $GAME 2>/dev/null && echo GAME_ALIVE=yes || echo GAME_ALIVE=no
cat /tmp/attach.out
cat /tmp/ml_data/*.json
$SCX_GAMER attach --pid 999999 --trials trials/ci.toml; echo NOPID_RC=$?
$SCX_GAMER attach --pid $XVFB_PID --trials trials/ci.toml 2>&1 | sed 's/^/NOT_MANGOHUD=/'
kill $GAME
"#
    )
    .replace("$XVFB_PID", "$(pgrep -n Xvfb)");
    let out = run_in_vm(&script, 600);
    assert_eq!(out.field("ATTACH_RC"), "130", "{}", show(&out));
    assert_eq!(out.field("STATE_AFTER"), "disabled");
    assert_eq!(out.field("GAME_ALIVE"), "yes", "attach must not stop the game");
    // A visible HUD's text shows in a screenshot: what the hidden HUDs'
    // screenshots are compared with.
    let (text, drawn) = hud(&out, "HUD_VISIBLE");
    assert!(drawn > 100 && text > 20, "HUD text pixels {text}, drawn pixels {drawn}: {}", show(&out));
    let store = store(&out);
    assert_eq!(store["sessions"][0]["mode"], "attach");
    let t = trials(&store);
    assert!(t.len() >= 2, "{}", show(&out));
    assert_eq!(state(&t[0]), "ok");
    assert!(frames(&t[0]) > 20);
    assert_eq!(state(t.last().unwrap()), "interrupted");
    assert_eq!(out.field("NOPID_RC"), "1");
    assert!(out.output.contains("no process with pid 999999"), "{}", show(&out));
    assert!(out.field("NOT_MANGOHUD").contains("is not a MangoHud game"), "{}", show(&out));
}

/// The store of a tune of glxgears under MangoHud 0.8.4 in a root of its
/// own, over trials/ci.toml (three contenders): whole blocks or rounds of
/// them, each trial ok with frames read through the game's root
/// (/proc/PID/root).
fn measured_through_the_games_root(out: &VmOutput) -> Value {
    let store = store(out);
    assert_eq!(store["sessions"][0]["system"]["mangohud_version"], "0.8.4", "{}", show(out));
    let t = trials(&store);
    assert!(!t.is_empty() && t.len().is_multiple_of(3), "{} trials: {}", t.len(), show(out));
    for trial in t {
        assert_eq!(state(trial), "ok", "{trial}");
        // Any number: glxgears' rate under TCG follows the host's load (one
        // loaded clean-clone run: 20 or fewer frames in a 4-s trial).
        assert!(frames(trial) > 0, "{trial}");
        assert!(trial["mangohud_log"].as_str().unwrap_or("").contains("/proc/"), "read through the game's root: {trial}");
    }
    store
}

#[test]
fn attach_tunes_a_mangohud_0_8_game_in_a_root_of_its_own() {
    // As Steam's pressure-vessel runs a game: real MangoHud 0.8.4 (row-
    // flushed logs, its control socket) in a Debian root of its own
    // (scripts/fetch-mangohud.sh, built by setup.sh), with its own /tmp. The
    // log folder it names, /tmp/logs, exists only inside that root: the
    // tuner must read it through /proc/PID/root. (It looked in the host's
    // /tmp/logs and stopped with "no frames".)
    let script = format!(
        r#"{GAME_DISPLAY}{MANGOHUD_084_ROOT}
MANGOHUD_CONFIG=control=mangohud-%p,output_folder=/tmp/logs,log_interval=0 \
    scripts/in-game-root $ROOT --user nobody -- sh -c 'mkdir -p /tmp/logs && exec mangohud glxgears -geometry 160x160' >/dev/null 2>&1 &
G=$!
# The pid is sh, then the mangohud wrapper script, then glxgears (each
# exec'd; trixie's is glxgears.x86_64-linux-gnu): attach once it is the game
# with MangoHud loaded. (When this looked for */glxgears only, every run
# waited the full 300 s and then attached anyway.)
is_game() {{ case "$(readlink /proc/$G/exe)" in */glxgears*) grep -q -i mangohud /proc/$G/maps ;; *) false ;; esac; }}
wait_for 300 "glxgears with MangoHud in its memory" is_game || exit 1
echo GAME_ROOT=$(readlink /proc/$G/root)
echo GAME_USER=$(ps -o user= -p $G)
$SCX_GAMER attach --pid $G --trials trials/ci.toml --measure blocks --trial-secs 4 --warmup-secs 1 --repeats 1 --seed 3 --data /tmp/ml_data $FIRST_FRAME > /tmp/attach.out 2>&1 &
A=$!
# (Once the warm-up has seen frames, the game has drawn.)
wait_line /tmp/attach.out '^\[INFO\] trial 1 ' 300 && echo HUD_VISIBLE=$(drawn_shot)
wait_pid $A 500; echo ATTACH_RC=$?
echo HOST_LOGS=$(ls /tmp/logs 2>/dev/null | wc -l)
kill -0 $G 2>/dev/null && echo GAME_ALIVE=yes || echo GAME_ALIVE=no
cat /tmp/attach.out
cat /tmp/ml_data/*.json
kill $G
"#
    );
    let out = run_in_vm(&script, 600);
    assert_eq!(out.field("GAME_ROOT"), "/var/cache/scx_gamer/mangohud-root", "{}", show(&out));
    assert_eq!(out.field("GAME_USER"), "nobody");
    assert_eq!(out.field("ATTACH_RC"), "0", "{}", show(&out));
    assert_eq!(out.field("GAME_ALIVE"), "yes");
    // 0.8.4's visible HUD shows in a screenshot (the hidden one's does
    // not: tune_starts_a_game_in_a_sandbox_of_its_own_and_reads_its_logs_there).
    let (text, drawn) = hud(&out, "HUD_VISIBLE");
    assert!(drawn > 100 && text > 20, "HUD text pixels {text}, drawn pixels {drawn}: {}", show(&out));
    // Nothing in the host's /tmp/logs: the frames came from the game's root.
    assert_eq!(out.field("HOST_LOGS"), "0");
    let store = measured_through_the_games_root(&out);
    assert_eq!(trials(&store).len(), 3, "one block: {}", show(&out));
    assert_eq!(store["sessions"][0]["frame_source"], "control-socket");
}

#[test]
fn tune_starts_a_game_in_a_sandbox_of_its_own_and_reads_its_logs_there() {
    // As Steam's pressure-vessel (or Flatpak) starts a game: bubblewrap,
    // unprivileged (the tuner starts it as the player), with the MangoHud
    // 0.8.4 root as / and a /tmp of its own, which does not show the log
    // folder the tuner made in ours. The tuner makes the folder inside the
    // game's root and reads the logs through /proc/PID/root. (It waited for
    // logs in its own folder and stopped with "no frames".)
    // And in a pid namespace of its own, as Flatpak starts it: MangoHud
    // names its control socket with the pid it knows itself by (2), not
    // ours. (The tuner looked for mangohud-<our pid> only, and stopped
    // with "set up with a control socket but never opened it".)
    // The player hides MangoHud's HUD with no_display, under which 0.8.4
    // writes no log at all: the tuner must hide it another way.
    // Measured as a player's tune is by default: interleaved rounds.
    let script = format!(
        r#"{GAME_DISPLAY}{MANGOHUD_084_ROOT}
MANGOHUD_CONFIG=no_display,fps_limit=0 \
$SCX_GAMER tune --trials trials/ci.toml --segment-secs 3 --budget-mins 0.5 --seed 3 --data /tmp/ml_data $FIRST_FRAME -- \
    $SANDBOX_084 -- mangohud glxgears -geometry 160x160 > /tmp/tune.out 2>&1 &
T=$!
# (trixie's glxgears is glxgears.x86_64-linux-gnu.)
wait_for 300 "glxgears in the sandbox" pgrep -n '^glxgears' && {{
    G=$(pgrep -n '^glxgears')
    echo GAME_MANGOHUD_CONFIG=$(tr '\0' '\n' < /proc/$G/environ | grep '^MANGOHUD_CONFIG=' | cut -d= -f2-)
    echo GAME_NSPID=$(awk '/^NSpid:/ {{$1=""; print}}' /proc/$G/status)
}}
# (Once the warm-up has seen frames, the game has drawn.)
wait_line /tmp/tune.out '^\[INFO\] trial 1 ' 300 && echo HUD_HIDDEN=$(drawn_shot)
wait_pid $T 500; echo TUNE_RC=$?
cat /tmp/tune.out
cat /tmp/ml_data/*.json
"#
    );
    let out = run_in_vm(&script, 600);
    assert_eq!(out.field("TUNE_RC"), "0", "{}", show(&out));
    assert!(out.output.contains("runs in a root of its own"), "{}", show(&out));
    // The player's settings kept, the HUD hidden by alpha 0 instead.
    let game_config = out.field("GAME_MANGOHUD_CONFIG");
    assert!(game_config.contains("fps_limit=0") && game_config.contains("alpha=0"), "{game_config}");
    assert!(!game_config.contains("no_display"), "{game_config}");
    let (text, drawn) = hud(&out, "HUD_HIDDEN");
    assert!(drawn > 100 && text == 0, "HUD text pixels {text}, drawn pixels {drawn}: {}", show(&out));
    let nspid: Vec<&str> = out.field("GAME_NSPID").split_whitespace().collect();
    assert!(nspid.len() == 2 && nspid[0] != nspid[1], "two pids, ours and the sandbox's: {nspid:?}");
    let store = measured_through_the_games_root(&out);
    assert_eq!(store["sessions"][0]["measure"], "interleaved", "{}", show(&out));
    assert_eq!(store["sessions"][0]["frame_source"], "control-socket", "{}", show(&out));
}

#[test]
fn failed_configs_are_recorded_and_the_tune_goes_on_until_the_game_exits() {
    // Seed 5 orders the block c, a, baseline, b (asserted below): trial 1
    // is ejected, trial 2 cannot load, the baseline gives time to repair,
    // trial 4 loads fresh and the game exits during it.
    let script = format!(
        r#"{GAME_DISPLAY}
cat > /tmp/three.toml <<T
[[trial]]
name = "a"
[[trial]]
name = "b"
slice_us = 2000
[[trial]]
name = "c"
slice_us = 500
T
# The game is started by a launcher that exits a second later (a Windows
# launcher under Wine, a backgrounding script): the tune goes on with it.
$SCX_GAMER -v tune --trials /tmp/three.toml --measure blocks --trial-secs 30 --warmup-secs 1 --repeats 1 --seed 5 --data /tmp/ml_data $FIRST_FRAME \
    -- mangohud sh -c 'glxgears -geometry 64x64 & sleep 1' > /tmp/tune.out 2>&1 &
T=$!
wait_line /tmp/tune.out 'game processes added' 300
# Trial 2's scheduler will not load: libbpf needs the kernel config…
mv /boot/config-$(uname -r) /tmp/kconfig
# …and the kernel ejects trial 1's.
echo S > /proc/sysrq-trigger
wait_line /tmp/tune.out '^trial 2 '
mv /tmp/kconfig /boot/config-$(uname -r)
wait_line /tmp/tune.out '\[INFO\] trial 4 '
# After trial 4's mid-trial reading (15 s into its 30 s), before its end:
# 15 s for this shell to see the line and kill the game, which a run with
# the host under stress-ng needed more than 5 s for.
mid4() {{ sed -n '/\[INFO\] trial 4 /,$p' /tmp/tune.out | grep -q 'mid-trial reading'; }}
wait_for 60 "trial 4's mid-trial reading" mid4
pkill glxgears
wait_pid $T 120; echo TUNE_RC=$?
echo STATE_AFTER=$(cat /sys/kernel/sched_ext/state)
cat /tmp/tune.out
cat /tmp/ml_data/*.json
"#
    );
    let out = run_in_vm(&script, 600);
    assert_eq!(out.field("TUNE_RC"), "0", "{}", show(&out));
    assert_eq!(out.field("STATE_AFTER"), "disabled");
    let store = store(&out);
    let t = trials(&store);
    let names: Vec<&str> = t.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["c", "a", "baseline", "b"], "the seed no longer gives this order:\n{}", show(&out));
    let reason = |t: &Value| t["status"]["reason"].as_str().unwrap_or("").to_string();
    assert_eq!(state(&t[0]), "failed", "{}", t[0]["status"]);
    assert!(reason(&t[0]).to_lowercase().contains("sysrq"), "{}", t[0]["status"]);
    assert_eq!(state(&t[1]), "failed", "{}", t[1]["status"]);
    assert!(reason(&t[1]).contains("load failed"), "{}", t[1]["status"]);
    assert_eq!(state(&t[2]), "ok", "{}", t[2]["status"]);
    // The tune went on with a fresh load…
    assert!(t[3]["observed"]["ops_mid"].as_str().unwrap_or("").starts_with("scx_gamer"), "{}", t[3]["observed"]);
    // …until the game exited mid-trial.
    assert_eq!(state(&t[3]), "partial", "{}", t[3]["status"]);
    assert!(reason(&t[3]).contains("the game exited"));
    assert!(out.output.contains("the game exited"), "{}", show(&out));
    assert!(out.output.contains("the game's launcher exited"), "{}", show(&out));
}

#[test]
fn sigint_stops_the_launched_game_and_no_frames_is_a_clear_error() {
    let script = format!(
        r#"{GAME_DISPLAY}
$SCX_GAMER tune --trials trials/ci.toml --measure blocks --trial-secs 30 --warmup-secs 1 --repeats 1 --data /tmp/ml_data $FIRST_FRAME \
    -- mangohud glxgears -geometry 64x64 > /tmp/int.out 2>&1 &
T=$!
wait_line /tmp/int.out '\[INFO\] trial 1 ' 300
kill -INT $T; wait_pid $T 60; echo INT_RC=$?
echo STATE_AFTER=$(cat /sys/kernel/sched_ext/state)
echo GAME_LEFT=$(pgrep -c glxgears)
echo TRIALS=$(grep -o '"state":"[a-z]*"' /tmp/ml_data/*.json | tr '\n' ' ')
$SCX_GAMER tune --trials trials/ci.toml --frames-timeout 5 --data /tmp/nf -- mangohud sleep 60 > /tmp/nf.out 2>&1 &
wait_pid $! 60; echo NOFRAMES_RC=$?
echo NOFRAMES=$(grep error /tmp/nf.out)
echo SLEEP_LEFT=$(pgrep -c -x sleep)
# Through sudo, whose env_reset drops the player's settings: the game gets
# them back from sudo's own process. A copy of dash named sudo runs the
# tuner as its child with an environment of sudo's making (env -i).
mkdir -p /tmp/fakesudo && cp /bin/dash /tmp/fakesudo/sudo
PLAYERS_OWN=kept MANGOHUD_CONFIG=fps_limit=30 /tmp/fakesudo/sudo -c \
    "env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin SUDO_UID=65534 SUDO_GID=65534 $SCX_GAMER tune --trials trials/ci.toml --frames-timeout 10 --data /tmp/nf2 -- mangohud sleep 60; true" > /tmp/sudo.out 2>&1 &
SUDO=$!
wait_for 60 "the game started through sudo" pgrep -x sleep && {{
    S=$(pgrep -n -x sleep)
    echo SUDO_GAME_OWNER=$(ps -o user= -p $S)
    echo SUDO_GAME_OWN=$(tr '\0' '\n' < /proc/$S/environ | grep '^PLAYERS_OWN=' | cut -d= -f2-)
    echo SUDO_GAME_MANGOHUD=$(tr '\0' '\n' < /proc/$S/environ | grep '^MANGOHUD_CONFIG=' | cut -d= -f2-)
}}
wait_pid $SUDO 60; cat /tmp/sudo.out
"#
    );
    let out = run_in_vm(&script, 600);
    assert_eq!(out.field("INT_RC"), "130", "{}", out.output);
    assert_eq!(out.field("STATE_AFTER"), "disabled");
    assert_eq!(out.field("GAME_LEFT"), "0", "{}", out.output);
    assert!(out.field("TRIALS").contains("\"state\":\"interrupted\""), "{}", out.output);
    assert_eq!(out.field("NOFRAMES_RC"), "1");
    assert!(out.field("NOFRAMES").contains("no frames from the game within 5s"), "{}", out.output);
    assert_eq!(out.field("SLEEP_LEFT"), "0", "the game is stopped after the error");
    assert_eq!(out.field("SUDO_GAME_OWNER"), "nobody", "{}", out.output);
    assert_eq!(out.field("SUDO_GAME_OWN"), "kept", "sudo's env_reset took the player's variable from the game: {}", out.output);
    let hud = out.field("SUDO_GAME_MANGOHUD");
    assert!(hud.contains("fps_limit=30") && hud.contains("output_folder"), "the player's MangoHud settings and ours: {hud}");
}

#[test]
fn attach_without_a_control_socket_cuts_a_live_log_by_time() {
    // The frame-loop program logs like MangoHud 0.8 (a row per frame,
    // flushed): the only way to test the stream source, since bookworm's
    // MangoHud writes its logs at stop.
    let script = r#"
mkdir -p /tmp/fl
MANGOHUD=1 MANGOHUD_CONFIG=output_folder=/tmp/fl,log_interval=0 \
    $FRAMELOOP --fps 100 --work-us 1000 --threads 1 --seconds 600 --output-folder /tmp/fl --exe fl-game >/dev/null 2>&1 &
G=$!
$SCX_GAMER attach --pid $G --trials trials/ci.toml --measure blocks --trial-secs 3 --warmup-secs 1 --repeats 1 --seed 9 --data /tmp/ml_data > /tmp/a.out 2>&1 &
wait_pid $! 300; echo ATTACH_RC=$?
kill -0 $G 2>/dev/null && echo GAME_ALIVE=yes || echo GAME_ALIVE=no
cat /tmp/a.out
cat /tmp/ml_data/*.json
kill $G
"#;
    let out = run_in_vm(script, 600);
    assert_eq!(out.field("ATTACH_RC"), "0", "{}", show(&out));
    assert_eq!(out.field("GAME_ALIVE"), "yes");
    let store = store(&out);
    assert_eq!(store["sessions"][0]["frame_source"], "stream");
    let t = trials(&store);
    assert_eq!(t.len(), 3, "{}", show(&out));
    for trial in t {
        assert_eq!(state(trial), "ok", "{trial}");
        // ~3 s at up to 100 fps, cut by time: neither empty nor the whole log.
        let n = frames(trial);
        assert!(n > 30 && n < 600, "{n} frames in a 3 s trial");
        assert!(trial["measured_secs"].as_f64().unwrap() >= 3.0);
    }
}

#[test]
fn an_interleaved_tune_runs_rounds_of_short_segments_over_changing_scenes() {
    // A game whose frame times change with its scenes (its per-frame work
    // changes 0.5–2× every ~10 s), two configs that schedule alike (no
    // input comes) and the kernel's scheduler, in rounds until the budget.
    let script = r#"
mkdir -p /tmp/fl
MANGOHUD=1 MANGOHUD_CONFIG=output_folder=/tmp/fl,log_interval=0 \
    $FRAMELOOP --fps 100 --work-us 1000 --threads 1 --scenes 10 --seconds 900 --output-folder /tmp/fl --exe fl-game >/dev/null 2>&1 &
G=$!
$SCX_GAMER attach --pid $G --trials trials/twins.toml --measure interleaved --segment-secs 3 --guard-secs 1 --budget-mins 1.5 \
    --seed 4 --data /tmp/ml_data > /tmp/a.out 2>&1 &
wait_pid $! 400; echo ATTACH_RC=$?
kill -0 $G 2>/dev/null && echo GAME_ALIVE=yes || echo GAME_ALIVE=no
cat /tmp/a.out
cat /tmp/ml_data/*.json
$SCX_GAMER report --data /tmp/ml_data --json
kill $G
"#;
    let out = run_in_vm(script, 600);
    assert_eq!(out.field("ATTACH_RC"), "0", "{}", show(&out));
    assert_eq!(out.field("GAME_ALIVE"), "yes");
    let store = store(&out);
    let session = &store["sessions"][0];
    assert_eq!(session["measure"], "interleaved", "{session}");
    assert_eq!((session["trial_secs"].as_f64(), session["warmup_secs"].as_f64()), (Some(3.0), Some(1.0)));
    let t = trials(&store);
    // Rounds are blocks: each has every contender still running once.
    let last = t.iter().filter_map(|x| x["block"].as_u64()).max().unwrap_or(0);
    assert!(last >= 2, "at least two rounds in 1.5 min:\n{}", show(&out));
    for b in 1..=last {
        let mut names: Vec<&str> = t.iter().filter(|x| x["block"] == b).map(|x| x["name"].as_str().unwrap()).collect();
        names.sort();
        let n = names.len();
        names.dedup();
        assert_eq!(n, names.len(), "round {b} ran a contender twice: {names:?}");
        assert!(names.contains(&"baseline"), "round {b}: {names:?}");
    }
    for b in 1..=last.min(3) {
        assert_eq!(t.iter().filter(|x| x["block"] == b).count(), 3, "the first rounds run all three");
    }
    let mut seen = Vec::new();
    for trial in t {
        assert_eq!(state(trial), "ok", "{trial}");
        assert_eq!(trial["planned_secs"].as_f64(), Some(3.0), "segments, not trials");
        // Each config is loaded (verified) once; its later segments attach
        // the same copy again.
        if trial["kind"] == "config" {
            let name = trial["name"].as_str().unwrap();
            let load_ms = trial["switch"]["load_ms"].as_f64();
            if seen.contains(&name) {
                assert_eq!(load_ms, None, "{name} was loaded again: {trial}");
            } else {
                assert!(load_ms.is_some_and(|ms| ms > 0.0), "{name}'s first segment: {trial}");
                seen.push(name);
            }
            // Every copy knew the game in every segment (handed over at
            // each switch, `Session::hand_over`) and scheduled it.
            let sched = &trial["sched"];
            assert!(sched["game_tgids"].as_u64() >= Some(1) && sched["game_dispatches"].as_u64() > Some(0), "{name}: {sched}");
        }
        let n = frames(trial);
        assert!(n > 30 && n < 600, "{n} frames in a 3 s segment");
    }
    assert!(out.output.contains("the play-time budget (1.5 min) is spent") || out.output.contains("rounds, decided"), "{}", show(&out));
    let ranking = out.json_lines_with("rows").into_iter().next().unwrap_or_else(|| panic!("no report --json:\n{}", show(&out)));
    assert_eq!(ranking["rows"].as_array().unwrap().len(), 3, "{ranking}");
    if std::env::var_os("SCX_GAMER_TEST_SHOW").is_some() {
        eprintln!("{}", show(&out));
    }
}

#[test]
fn a_cpu_hotplug_during_a_trial_restarts_the_scheduler_and_the_trial_is_measured_again() {
    // A CPU goes offline and online while a config is being measured: the
    // kernel ejects scx_gamer twice, the tuner brings it back each time, and
    // the disturbed measurement is thrown away and taken again; no trial
    // fails. (16-s trials: the mid-trial line leaves 8 s for the hotplug.)
    let script = r#"
mkdir -p /tmp/fl
MANGOHUD=1 MANGOHUD_CONFIG=output_folder=/tmp/fl,log_interval=0 \
    $FRAMELOOP --fps 100 --work-us 1000 --threads 1 --seconds 900 --output-folder /tmp/fl --exe fl-game >/dev/null 2>&1 &
G=$!
$SCX_GAMER -v attach --pid $G --trials trials/ci.toml --measure blocks --trial-secs 16 --warmup-secs 1 --repeats 1 --seed 9 --data /tmp/ml_data > /tmp/a.out 2>&1 &
T=$!
wait_line /tmp/a.out 'mid-trial reading: sched_ext Some\("enabled"\)' 300
echo 0 > /sys/devices/system/cpu/cpu1/online
wait_line /tmp/a.out 'scx_gamer restarted' 60
echo 1 > /sys/devices/system/cpu/cpu1/online
wait_for 60 "a second restart" sh -c "[ \$(grep -c 'scx_gamer restarted' /tmp/a.out) -ge 2 ]"
wait_pid $T 300; echo ATTACH_RC=$?
kill -0 $G 2>/dev/null && echo GAME_ALIVE=yes || echo GAME_ALIVE=no
grep -v '^{' /tmp/a.out
cat /tmp/ml_data/*.json
kill $G
"#;
    let out = run_in_vm(script, 600);
    assert_eq!(out.field("ATTACH_RC"), "0", "{}", show(&out));
    assert_eq!(out.field("GAME_ALIVE"), "yes");
    let store = store(&out);
    let t = trials(&store);
    assert_eq!(t.len(), 3, "{}", show(&out));
    for trial in t {
        assert_eq!(state(trial), "ok", "no trial fails because of a hotplug: {trial}");
        // What was kept is a measurement without a restart in it.
        if let Some(r) = trial["sched"]["restarts"].as_u64() {
            assert_eq!(r, 0, "{trial}");
        }
    }
    let remeasured: u64 = t.iter().filter_map(|x| x["remeasured"].as_u64()).sum();
    assert!(remeasured >= 1, "the disturbed measurement was kept:\n{}", show(&out));
}

#[test]
fn the_old_ml_collect_workflow_records_into_the_games_store() {
    let script = format!(
        r#"{GAME_LIKE_LOAD}
$SCX_GAMER --stats 1 --ml-collect --slice-us 5 --input-window-us 1000 --mig-max 1 --game-pid $GAME --data /tmp/mlc > /tmp/run.out 2>&1 &
R=$!
wait_state enabled
sleep 3   # the measurement (measured_secs >= 3 below)
kill -TERM $R; wait_pid $R 60; echo RUN_RC=$?
echo STATE_AFTER=$(cat /sys/kernel/sched_ext/state)
kill $GAME
grep -v '^{{' /tmp/run.out
cat /tmp/mlc/*.json
"#
    );
    let out = run_in_vm(&script, 600);
    assert_eq!(out.field("RUN_RC"), "0", "SIGTERM ends `run` cleanly:\n{}", show(&out));
    assert_eq!(out.field("STATE_AFTER"), "disabled");
    let store = store(&out);
    assert_eq!(store["sessions"][0]["mode"], "collect");
    let t = trials(&store);
    assert_eq!(t.len(), 1, "{}", show(&out));
    assert_eq!(t[0]["kind"], "collect");
    let c = &t[0]["config"];
    assert_eq!((c["slice_us"].as_u64(), c["input_window_us"].as_u64(), c["mig_max"].as_u64()), (Some(5), Some(1000), Some(1)));
    assert!(t[0]["sched"]["game_dispatches"].as_u64().unwrap() > 0, "{}", t[0]["sched"]);
    assert!(t[0]["measured_secs"].as_f64().unwrap() >= 3.0);
}
