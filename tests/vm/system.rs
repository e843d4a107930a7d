//! The Debian package on a real Debian system: the root of
//! scripts/fetch-mangohud.sh (trixie, systemd as init, a normal user
//! `player`) booted in the VM test bed (`scripts/vm-run --system`). The
//! package is built by `cargo deb` from the binary under test; installed
//! with dpkg, its socket must start the daemon on a player's first
//! `scx_gamer launch`, the hardened service (its hardening checked in the
//! running daemon) must load the scheduler, the player's tuned winner must
//! be what runs, and a crashed daemon must come back; scx_loader's
//! scheduler, started by arguments or by mode, must be paused for a game
//! and put back as it ran after the game ends or is killed, and after the
//! daemon crashes or stops, unless `pause_scx_loader = false`. One boot
//! for all of it.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::store::{spiky_frames, synthetic_trial};
use crate::support::{VmOutput, repo_root, scx_gamer_bin};
use scx_gamer::game::identity::GameId;
use scx_gamer::sched::SchedConfig;
use scx_gamer::store::{GameStore, TrialStatus, store_path};

/// `cargo deb` over the binary under test (a debug build: cargo-deb packs
/// `target/release/scx_gamer`, so it gets a target folder whose
/// release/scx_gamer is this binary, without its debug information: the
/// 110 MB of it took over a minute to unpack in the emulated guest).
/// Returns the .deb's path.
fn build_deb(dir: &Path) -> PathBuf {
    let target = dir.join("target");
    std::fs::create_dir_all(target.join("release")).unwrap();
    let strip = Command::new("objcopy")
        .arg("--strip-debug")
        .arg(scx_gamer_bin())
        .arg(target.join("release/scx_gamer"))
        .status()
        .expect("objcopy (binutils)");
    assert!(strip.success(), "objcopy --strip-debug failed: {strip}");
    let deb = dir.join("scx-gamer.deb");
    let out = Command::new("cargo")
        .args(["deb", "--no-build", "--output"])
        .arg(&deb)
        .env("CARGO_TARGET_DIR", &target)
        .current_dir(repo_root())
        .output()
        .expect("cargo deb (scripts/setup.sh installs cargo-deb)");
    assert!(out.status.success(), "cargo deb failed:\n{}", String::from_utf8_lossy(&out.stderr));
    deb
}

/// Steam app 570's store in which config "calm" (slice_us=1234) beats the
/// kernel's scheduler in all three blocks: launch must apply it. Its choice is
/// recorded, as a tune's end records it: the player's launch reads it and
/// does not rank the store.
fn winning_store(data: &Path) {
    let calm: SchedConfig = "slice_us=1234".parse().unwrap();
    let mut store = GameStore::new(GameId { key: "steam-570".into(), exe: "sleep".into(), steam_app_id: Some("570".into()) });
    for block in 1..=3u32 {
        let seed = block * 100;
        let id = block * 3;
        store.trials.push(synthetic_trial(id - 2, block, "baseline", None, &spiky_frames(4000, 8000, 40, seed), TrialStatus::Ok));
        store.trials.push(synthetic_trial(id - 1, block, "calm", Some(calm), &spiky_frames(4000, 8000, 0, seed + 1), TrialStatus::Ok));
        store.trials.push(synthetic_trial(
            id,
            block,
            "default",
            Some(SchedConfig::default()),
            &spiky_frames(4000, 8000, 40, seed + 2),
            TrialStatus::Ok,
        ));
    }
    let path = store_path(data, "steam-570");
    store.save(&path).unwrap();
    scx_gamer::verdict::choice::record(&path).unwrap();
}

const SCENARIO: &str = r#"
set -u
source "/run/host$REPO/scripts/vm-lib.sh"
H=/run/host
echo PID1=$(cat /proc/1/comm)
# Guest uptime at each step (a slow step shows where).
step() { echo "STEP $1 at $(cut -d' ' -f1 /proc/uptime) s"; }
step install

# Install: the socket is enabled and listening, the daemon not started.
dpkg -i "$H$DEB" > /tmp/dpkg.log 2>&1; echo DPKG_RC=$?
echo SOCKET_ENABLED=$(systemctl is-enabled scx_gamer.socket)
echo SOCKET_ACTIVE=$(systemctl is-active scx_gamer.socket)
echo SERVICE_BEFORE=$(systemctl is-active scx_gamer.service)
echo SOCKET_MODE=$(stat -c %a /run/scx_gamer.sock)
echo FILES=$(ls /usr/share/doc/scx-gamer /usr/share/scx_gamer /usr/share/scx_gamer/trials | tr '\n' ' ')
grep -q '^ *GNU GENERAL PUBLIC LICENSE' /usr/share/doc/scx-gamer/copyright && grep -q 'Version 2, June 1991' /usr/share/doc/scx-gamer/copyright \
    && echo LICENCE_TEXT=GPL-2

# The player's tuning data where launch looks for it ($XDG_DATA_HOME's
# default), owned by the player.
su -l player -c "mkdir -p ~/.local/share/scx_gamer && cp -r $H$DATA ~/.local/share/scx_gamer/ml_data"

# A player's launch from a login session (pam_systemd: XDG_RUNTIME_DIR).
step launch
# The game runs until the scenario has looked at it (/tmp/game-may-end),
# at most 600 s.
su -l player -c 'echo XDG_RUNTIME_DIR=$XDG_RUNTIME_DIR; SteamAppId=570 exec scx_gamer launch -- sh -c \
    "for i in \$(seq 6000); do [ -e /tmp/game-may-end ] && exit 0; sleep 0.1; done; exit 9"' > /tmp/launch.out 2>&1 &
L=$!
# Bounded widely: the daemon starts (socket activation) and loads the
# scheduler, a debug build under emulation.
wait_state enabled 240
echo DURING_OPS=$(cat /sys/kernel/sched_ext/root/ops)
echo SERVICE_DURING=$(systemctl is-active scx_gamer.service)
echo TRIGGERED_BY=$(systemctl show -p TriggeredBy --value scx_gamer.service)
echo GAME_USER=$(ps -o user= -p "$(pgrep -n -f game-may-end)")
DAEMON=$(systemctl show -p MainPID --value scx_gamer.service)
echo DAEMON_USER=$(ps -o user= -p "$DAEMON")
# The hardening is in force in the daemon that loaded the scheduler: no
# new privileges, /usr, /etc and the homes read-only, a /tmp of its own.
for p in NoNewPrivileges ProtectSystem ProtectHome PrivateTmp; do echo "UNIT_$p=$(systemctl show -p $p --value scx_gamer.service)"; done
echo DAEMON_NNP=$(awk '$1 == "NoNewPrivs:" { print $2 }' /proc/$DAEMON/status)
in_daemon() { nsenter -t "$DAEMON" -m -- sh -c "$1" 2>/dev/null && echo yes || echo no; }
echo DAEMON_WRITES_ETC=$(in_daemon 'touch /etc/scx-gamer-probe')
echo DAEMON_WRITES_HOME=$(in_daemon 'touch /home/player/scx-gamer-probe')
echo DAEMON_SEES_TMP=$(in_daemon 'test -e /tmp/launch.out')
echo DAEMON_SEES_BIN=$(in_daemon 'test -x /usr/bin/scx_gamer')
touch /tmp/game-may-end
wait_pid $L 120; echo LAUNCH_RC=$?
echo LAUNCH_SAID=$(grep -m1 '^scx_gamer:' /tmp/launch.out)
echo LAUNCH_XDG=$(grep -m1 '^XDG_RUNTIME_DIR=' /tmp/launch.out | cut -d= -f2)
wait_state disabled 60
echo AFTER_STATE=$(cat /sys/kernel/sched_ext/state)

# scx_loader (the published crate, on the system bus, with polkit) runs
# scx_bpfland with arguments: a player's launch pauses it for the game and
# puts it back, with the same arguments, when the game ends.
step loader
T=$H$TOOLS
install -m 0755 "$T/bin/scx_loader" "$T/bin/scx_bpfland" /usr/bin/
mkdir -p /etc/dbus-1/system.d
cat > /etc/dbus-1/system.d/org.scx.Loader.conf <<'X'
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <policy user="root">
    <allow own="org.scx.Loader"/>
    <allow send_destination="org.scx.Loader"/>
  </policy>
</busconfig>
X
mkdir -p /usr/share/polkit-1/actions
cat > /usr/share/polkit-1/actions/org.scx.Loader.policy <<'X'
<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE policyconfig PUBLIC "-//freedesktop//DTD PolicyKit Policy Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/PolicyKit/1.0/policyconfig.dtd">
<policyconfig>
  <action id="org.scx.loader.manage-schedulers">
    <description>Manage sched-ext schedulers</description>
    <defaults><allow_any>no</allow_any><allow_inactive>no</allow_inactive><allow_active>auth_admin_keep</allow_active></defaults>
  </action>
</policyconfig>
X
cat > /etc/systemd/system/scx_loader.service <<'X'
[Service]
Type=dbus
BusName=org.scx.Loader
ExecStart=/usr/bin/scx_loader
KillSignal=SIGINT
X
systemctl daemon-reload
systemctl reload dbus
systemctl start scx_loader; echo LOADER_START_RC=$?
loader() { busctl --system -- "$1" org.scx.Loader /org/scx/Loader org.scx.Loader "${@:2}"; }
loader call StartSchedulerWithArgs sas scx_bpfland 2 --slice-us 4000; echo LOADER_CALL_RC=$?
ops_is() { local o=""; { read -r o < /sys/kernel/sched_ext/root/ops; } 2>/dev/null; [[ $o == *"$1"* ]]; }
wait_for 180 "scx_loader's scx_bpfland to attach" ops_is bpfland
echo LOADER_OPS_BEFORE=$(cat /sys/kernel/sched_ext/root/ops)
game_until() { # FILE: a game of the player's that runs until FILE exists (600 s at most); the launch's exit status into FILE.rc
    su -l player -c "SteamAppId=570 exec scx_gamer launch -- sh -c \"for i in \\\$(seq 6000); do [ -e $1 ] && exit 0; sleep 0.1; done; exit 9\"" > "$1.out" 2>&1
    echo $? > "$1.rc"
}
game_until /tmp/loader-game-may-end &
L=$!
wait_for 240 "the game's config to replace scx_loader's scheduler" ops_is scx_gamer
echo LOADER_OPS_DURING=$(cat /sys/kernel/sched_ext/root/ops)
echo LOADER_CURRENT_DURING=$(loader get-property CurrentScheduler)
echo PAUSED_DURING=$(test -e /run/scx_gamer/scx_loader-paused.json && echo present || echo gone)
touch /tmp/loader-game-may-end
wait_pid $L 120; echo LOADER_LAUNCH_RC=$?
wait_for 120 "scx_loader's scheduler to come back after the game" ops_is bpfland
echo LOADER_OPS_AFTER=$(cat /sys/kernel/sched_ext/root/ops)
echo LOADER_CURRENT_AFTER=$(loader get-property CurrentScheduler)
echo LOADER_ARGS_AFTER=$(loader get-property CurrentSchedulerArgs)
echo PAUSED_AFTER=$(test -e /run/scx_gamer/scx_loader-paused.json && echo present || echo gone)

# A crash, while the daemon holds scx_loader's scheduler paused for a
# game: systemd brings the daemon back by itself (Restart=on-failure), it
# puts scx_loader's scheduler back with its arguments, and the next launch
# is served (pausing it again).
step crash
game_until /tmp/crash-game-may-end &
L=$!
wait_for 240 "the second game's config to replace scx_loader's scheduler" ops_is scx_gamer
DAEMON=$(systemctl show -p MainPID --value scx_gamer.service)
# SIGKILL, not SIGSEGV: Rust's stack-overflow handler catches a SIGSEGV
# that no fault raised and the process lives on (NRestarts stayed 0).
kill -KILL "$DAEMON"
wait_for 60 "systemd to restart the crashed daemon" sh -c \
    '[ "$(systemctl show -p NRestarts --value scx_gamer.service)" -ge 1 ] && systemctl is-active -q scx_gamer.service'
echo NRESTARTS=$(systemctl show -p NRestarts --value scx_gamer.service)
NEW=$(systemctl show -p MainPID --value scx_gamer.service)
[ "$NEW" != "$DAEMON" ] && echo RESTARTED_PID=new
wait_for 120 "the restarted daemon to put scx_loader's scheduler back" ops_is bpfland
echo RECOVERED_OPS=$(cat /sys/kernel/sched_ext/root/ops)
echo RECOVERED_ARGS=$(loader get-property CurrentSchedulerArgs)
touch /tmp/crash-game-may-end
wait_pid $L 120
# (The game starts first and the config follows: it waits for it, bounded.)
su -l player -c 'SteamAppId=570 scx_gamer launch -- sh -c "
    for i in \$(seq 4000); do grep -q ^scx_gamer /sys/kernel/sched_ext/root/ops && break; sleep 0.1; done
    cat /sys/kernel/sched_ext/root/ops; exit 4"' > /tmp/again.out 2>&1
echo AGAIN_RC=$?
echo AGAIN_OPS=$(grep -m1 -e ^scx_gamer -e ^bpfland /tmp/again.out)
wait_for 120 "scx_loader's scheduler to come back after the third game" ops_is bpfland

# Started by mode (gaming) instead of arguments, and the game crashes
# (SIGKILL) while it is paused: back in the same mode.
step loader-mode
loader call SwitchScheduler su scx_bpfland 1; echo LOADER_MODE_CALL_RC=$?
by_mode() { [ "$(loader get-property CurrentSchedulerArgs)" = "as 0" ] && ops_is bpfland; }
wait_for 120 "scx_loader to run scx_bpfland by mode" by_mode
echo MODE_BEFORE=$(loader get-property SchedulerMode)
game_until /tmp/mode-game-may-end &
L=$!
wait_for 240 "the game's config to replace scx_loader's scheduler (by mode)" ops_is scx_gamer
WRAPPER=$(pgrep -u player -x scx_gamer)
kill -KILL "$(pgrep -P "$WRAPPER" -x sh)"
wait_pid $L 120; echo MODE_LAUNCH_RC=$(tail -n 1 /tmp/mode-game-may-end.rc 2>/dev/null || echo none)
wait_for 120 "scx_loader's scheduler to come back after the game crashed" ops_is bpfland
echo MODE_AFTER=$(loader get-property SchedulerMode)
echo MODE_CURRENT_AFTER=$(loader get-property CurrentScheduler)
echo MODE_ARGS_AFTER=$(loader get-property CurrentSchedulerArgs)

# The daemon stopped cleanly (a restart) while it holds the scheduler
# paused: it puts it back before it exits.
step loader-restart
game_until /tmp/restart-game-may-end &
L=$!
wait_for 240 "the game's config to replace scx_loader's scheduler (restart)" ops_is scx_gamer
systemctl restart scx_gamer.service; echo RESTART_RC=$?
wait_for 120 "the stopping daemon to put scx_loader's scheduler back" ops_is bpfland
echo RESTART_OPS=$(cat /sys/kernel/sched_ext/root/ops)
echo RESTART_MODE=$(loader get-property SchedulerMode)
echo RESTART_CURRENT=$(loader get-property CurrentScheduler)
touch /tmp/restart-game-may-end
wait_pid $L 120

# pause_scx_loader = false: scx_loader's scheduler stays, and launch says
# why the game runs without scx_gamer's config.
step loader-off
echo 'pause_scx_loader = false' > /etc/scx_gamer.toml
systemctl restart scx_gamer.service
su -l player -c 'SteamAppId=570 scx_gamer launch -- sh -c "
    for i in \$(seq 2400); do grep -q ^scx_gamer: /tmp/off.out && break; sleep 0.1; done
    echo OFF_OPS_IN_GAME=\$(cat /sys/kernel/sched_ext/root/ops)"' > /tmp/off.out 2>&1
echo OFF_LAUNCH_RC=$?
echo OFF_SAID=$(grep -m1 '^scx_gamer:' /tmp/off.out)
echo OFF_OPS=$(grep -m1 '^OFF_OPS_IN_GAME=' /tmp/off.out | cut -d= -f2)
echo OFF_CURRENT=$(loader get-property CurrentScheduler)
rm /etc/scx_gamer.toml
systemctl stop scx_loader
wait_state disabled 60

step remove
# Removal stops both and takes the socket away.
dpkg -r scx-gamer >> /tmp/dpkg.log 2>&1; echo REMOVE_RC=$?
echo SOCKET_REMOVED=$(systemctl is-active scx_gamer.socket)
echo SERVICE_REMOVED=$(systemctl is-active scx_gamer.service)
echo SOCKET_FILE=$(test -e /run/scx_gamer.sock && echo present || echo gone)
echo "--- journal of scx_gamer.service:"
journalctl -u scx_gamer.service -u scx_gamer.socket --no-pager -o cat | tail -n 30
echo "--- dpkg:"
cat /tmp/dpkg.log /tmp/launch.out /tmp/again.out /tmp/loader-game-may-end.out /tmp/crash-game-may-end.out \
    /tmp/mode-game-may-end.out /tmp/restart-game-may-end.out /tmp/off.out
echo "--- journal of scx_loader.service:"
journalctl -u scx_loader.service --no-pager -o cat | tail -n 20
"#;

#[test]
fn the_package_serves_a_players_launch_through_its_socket_on_a_booted_system() {
    crate::support::assert_players_reach_the_checkout();
    let dir = tempfile::Builder::new().prefix("scx-gamer-system.").tempdir_in("/var/tmp").unwrap();
    let deb = build_deb(dir.path());
    let data = dir.path().join("ml_data");
    winning_store(&data);
    let tools = crate::support::scx_tools();
    let out: VmOutput = crate::support::run_in_system_vm(
        SCENARIO,
        &[
            ("REPO", repo_root().to_str().unwrap()),
            ("DEB", deb.to_str().unwrap()),
            ("DATA", data.to_str().unwrap()),
            ("TOOLS", tools.to_str().unwrap()),
        ],
        1500,
    );
    let show = || out.output.clone();
    // Where the time went (seen with --nocapture): the guest's uptime at
    // each step.
    for line in out.output.lines().filter(|l| l.starts_with("STEP ")) {
        eprintln!("{line}");
    }
    assert_eq!(out.status, 0, "{}", show());
    assert_eq!(out.field("PID1"), "systemd", "{}", show());
    assert_eq!(out.field("DPKG_RC"), "0", "{}", show());
    assert_eq!(
        (out.field("SOCKET_ENABLED"), out.field("SOCKET_ACTIVE"), out.field("SERVICE_BEFORE"), out.field("SOCKET_MODE")),
        ("enabled", "active", "inactive", "666"),
        "{}",
        show()
    );
    // What the package carries besides the binary and the units.
    let files = out.field("FILES");
    for f in ["README.md", "copyright", "MangoHud.conf", "default.toml", "ci.toml"] {
        assert!(files.split_whitespace().any(|x| x == f), "{f} not installed: {files}");
    }
    assert_eq!(out.field("LICENCE_TEXT"), "GPL-2", "the copyright file carries the licence's text: {}", show());
    // Socket activation started the hardened daemon as root; it loaded the
    // scheduler for the player's game, which ran as the player.
    assert_eq!(out.field("SERVICE_DURING"), "active", "{}", show());
    assert_eq!(out.field("TRIGGERED_BY"), "scx_gamer.socket", "{}", show());
    assert!(out.field("DURING_OPS").starts_with("scx_gamer"), "{}", show());
    assert_eq!((out.field("GAME_USER"), out.field("DAEMON_USER")), ("player", "root"), "{}", show());
    assert!(out.output.contains("listening on the socket systemd passed"), "{}", show());
    // …with the unit's hardening in force in that very process (nsenter
    // into its mount namespace: it sees the system, cannot write /etc or
    // the homes, and has a /tmp of its own).
    for (key, want) in
        [("UNIT_NoNewPrivileges", "yes"), ("UNIT_ProtectSystem", "full"), ("UNIT_ProtectHome", "read-only"), ("UNIT_PrivateTmp", "yes")]
    {
        assert_eq!(out.field(key), want, "{key}: {}", show());
    }
    assert_eq!(out.field("DAEMON_NNP"), "1", "{}", show());
    assert_eq!(
        (out.field("DAEMON_SEES_BIN"), out.field("DAEMON_WRITES_ETC"), out.field("DAEMON_WRITES_HOME"), out.field("DAEMON_SEES_TMP")),
        ("yes", "no", "no", "no"),
        "{}",
        show()
    );
    // The player's tuned winner, from the data a login session finds.
    assert_eq!(out.field("LAUNCH_XDG"), "/run/user/1000", "{}", show());
    assert!(out.field("LAUNCH_SAID").contains("the tuned config 'calm' (slice_us=1234"), "{}", show());
    assert_eq!((out.field("LAUNCH_RC"), out.field("AFTER_STATE")), ("0", "disabled"), "{}", show());
    // Back after a crash, and serving.
    assert_eq!((out.field("NRESTARTS"), out.field("RESTARTED_PID")), ("1", "new"), "{}", show());
    assert_eq!(out.field("AGAIN_RC"), "4", "{}", show());
    assert!(out.field("AGAIN_OPS").starts_with("scx_gamer"), "{}", show());
    // scx_loader's scheduler paused for the game, and back as it was after
    // it, and after a crash of the daemon.
    assert_eq!((out.field("LOADER_START_RC"), out.field("LOADER_CALL_RC")), ("0", "0"), "{}", show());
    assert!(out.field("LOADER_OPS_BEFORE").starts_with("bpfland"), "{}", show());
    assert!(out.field("LOADER_OPS_DURING").starts_with("scx_gamer"), "{}", show());
    assert_eq!(out.field("LOADER_CURRENT_DURING"), "s \"unknown\"", "{}", show());
    assert_eq!(out.field("PAUSED_DURING"), "present", "{}", show());
    assert_eq!(out.field("LOADER_LAUNCH_RC"), "0", "{}", show());
    assert!(out.field("LOADER_OPS_AFTER").starts_with("bpfland"), "{}", show());
    assert_eq!(out.field("LOADER_CURRENT_AFTER"), "s \"scx_bpfland\"", "{}", show());
    assert_eq!(out.field("LOADER_ARGS_AFTER"), "as 2 \"--slice-us\" \"4000\"", "{}", show());
    assert_eq!(out.field("PAUSED_AFTER"), "gone", "{}", show());
    assert!(out.field("RECOVERED_OPS").starts_with("bpfland"), "{}", show());
    assert_eq!(out.field("RECOVERED_ARGS"), "as 2 \"--slice-us\" \"4000\"", "{}", show());
    // Started by mode, the game killed while it was paused: back in that
    // mode (no arguments); the launch's status is the killed game's.
    assert_eq!(out.field("LOADER_MODE_CALL_RC"), "0", "{}", show());
    assert_eq!(out.field("MODE_BEFORE"), "u 1", "{}", show());
    assert_eq!(out.field("MODE_LAUNCH_RC"), "137", "{}", show());
    assert_eq!(
        (out.field("MODE_CURRENT_AFTER"), out.field("MODE_AFTER"), out.field("MODE_ARGS_AFTER")),
        ("s \"scx_bpfland\"", "u 1", "as 0"),
        "{}",
        show()
    );
    // A clean stop of the daemon while it holds the scheduler paused.
    assert_eq!(out.field("RESTART_RC"), "0", "{}", show());
    assert!(out.field("RESTART_OPS").starts_with("bpfland"), "{}", show());
    assert_eq!((out.field("RESTART_CURRENT"), out.field("RESTART_MODE")), ("s \"scx_bpfland\"", "u 1"), "{}", show());
    // The setting off: scx_loader's scheduler stays, launch says why.
    assert_eq!(out.field("OFF_LAUNCH_RC"), "0", "{}", show());
    assert!(out.field("OFF_SAID").contains("another sched_ext scheduler is attached: bpfland"), "{}", show());
    assert!(out.field("OFF_OPS").starts_with("bpfland"), "{}", show());
    assert_eq!(out.field("OFF_CURRENT"), "s \"scx_bpfland\"", "{}", show());
    // Removed: nothing listens any more.
    assert_eq!(
        (out.field("REMOVE_RC"), out.field("SOCKET_REMOVED"), out.field("SERVICE_REMOVED"), out.field("SOCKET_FILE")),
        ("0", "inactive", "inactive", "gone"),
        "{}",
        show()
    );
}
