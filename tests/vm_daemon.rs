//! The Steam launch wrapper against the root daemon, in the sched_ext VM:
//! the wrapper runs as an unprivileged user (nobody, via setpriv), the game
//! is the frame-loop program. Raw protocol checks go through socat.

mod support;

use support::run_in_vm;

#[test]
fn launch_applies_a_config_while_the_game_runs_and_the_daemon_guards_its_socket() {
    let script = r#"
S=/tmp/d.sock
AS_USER="setpriv --reuid=65534 --regid=65534 --clear-groups env HOME=/tmp"
ask() { printf '%s\n' "$1" | $AS_USER socat -t5 - UNIX-CONNECT:$S; }
mkdir -m 1777 -p /tmp/fl
$SCX_GAMER daemon --socket $S > /tmp/daemon.out 2>&1 & D=$!
for _ in $(seq 100); do [ -S $S ] && break; sleep 0.1; done
echo SOCKET_MODE=$(stat -c %a $S)

# The game runs as the player with the config applied; its status comes back.
$AS_USER $SCX_GAMER launch --socket $S --data /tmp/none -- \
    sh -c "$FRAMELOOP --fps 60 --seconds 25 --output-folder /tmp/fl >/dev/null; exit 7" 2>/tmp/launch.err &
L=$!
for _ in $(seq 100); do [ "$(cat /sys/kernel/sched_ext/state)" = enabled ] && break; sleep 0.1; done
echo DURING_STATE=$(cat /sys/kernel/sched_ext/state)
echo DURING_OPS=$(cat /sys/kernel/sched_ext/root/ops)
echo GAME_USER=$(ps -o user= -p "$(pgrep -n frameloop)")
echo STATUS_DURING=$(ask '"status"')
echo BUSY=$(ask "{\"apply\":{\"pid\":$(pgrep -n frameloop),\"config\":{}}}")
wait $L; echo LAUNCH_RC=$?
for _ in $(seq 100); do [ "$(cat /sys/kernel/sched_ext/state)" = disabled ] && break; sleep 0.1; done
echo AFTER_STATE=$(cat /sys/kernel/sched_ext/state)
echo LAUNCH_SAID=$(head -1 /tmp/launch.err)

# Signals pass through: SIGTERM to the wrapper ends the game with it.
$AS_USER $SCX_GAMER launch --socket $S --data /tmp/none -- sleep 100 2>/dev/null &
L=$!
sleep 3
kill -TERM $L; wait $L; echo SIGTERM_RC=$?
sleep 1
echo SLEEP_LEFT=$(pgrep -c -x sleep)

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
kill -TERM $D; wait $D; echo DAEMON_RC=$?
$AS_USER $SCX_GAMER launch --socket $S -- sh -c 'echo GAME_RAN=yes; exit 3' 2>/tmp/nodaemon.err; echo NODAEMON_RC=$?
echo NODAEMON_SAID=$(cat /tmp/nodaemon.err)
cat /tmp/daemon.out
"#;
    let out = run_in_vm(script, 600);
    assert_eq!(out.field("SOCKET_MODE"), "666");
    assert_eq!(out.field("DURING_STATE"), "enabled", "{}", out.output);
    assert!(out.field("DURING_OPS").starts_with("scx_gamer"), "{}", out.output);
    assert_eq!(out.field("GAME_USER"), "nobody");
    assert!(out.field("STATUS_DURING").contains("serving pid"), "{}", out.output);
    assert!(out.field("BUSY").contains("busy"), "{}", out.output);
    assert_eq!(out.field("LAUNCH_RC"), "7", "the game's exit status passes through:\n{}", out.output);
    assert_eq!(out.field("AFTER_STATE"), "disabled", "reverted when the game exited:\n{}", out.output);
    assert!(out.field("LAUNCH_SAID").contains("default config"), "{}", out.output);
    assert_eq!(out.field("SIGTERM_RC"), "143", "{}", out.output);
    assert_eq!(out.field("SLEEP_LEFT"), "0");
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
