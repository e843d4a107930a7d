//! The scheduler in a real sched_ext kernel (the TCG VM test bed); none
//! of these can pass without it.

use crate::support::{CPU_HOGS, GAME_LIKE_LOAD, run_in_vm};
use serde_json::Value;

fn totals(out: &crate::support::VmOutput) -> Value {
    let line = out.output.lines().find_map(|l| l.strip_prefix("totals: ")).unwrap_or_else(|| panic!("no totals line:\n{}", out.output));
    serde_json::from_str(line).unwrap()
}

fn num(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or_else(|| panic!("{key} missing in {v}"))
}

#[test]
fn run_schedules_a_game_under_full_load_and_detaches_on_sigint() {
    let script = format!(
        r#"{GAME_LIKE_LOAD}
$SCX_GAMER run --game-pid $GAME --stats 1 --stats-json --wake-preempt 1 > /tmp/run.out 2>&1 &
SCHED=$!
wait_state enabled
{CPU_HOGS}
echo STATE_RUNNING=$(cat /sys/kernel/sched_ext/state)
echo OPS=$(cat /sys/kernel/sched_ext/root/ops)
# A second stats client. SIGINT only once it printed: a background job of
# this shell starts with SIGINT ignored, and one sent before the handler is
# in place (startup takes seconds under this load in TCG) is lost.
$SCX_GAMER --monitor 1 --stats-json > /tmp/monitor.out 2>&1 & MON=$!
monitor_lines() {{ [ "$(grep -c '"game_dispatches"' /tmp/monitor.out)" -ge 2 ]; }}
wait_for 120 "two stats lines from --monitor" monitor_lines
kill -INT $MON
wait_pid $MON 10; rc=$?
[ $rc -ne 124 ] || echo MONITOR_HUNG=1
echo MONITOR_RC=$rc
echo MONITOR_LINES=$(grep -c '"game_dispatches"' /tmp/monitor.out)
# At least three stats lines from run itself.
run_lines() {{ [ "$(grep -c '"game_dispatches"' /tmp/run.out)" -ge 3 ]; }}
wait_for 60 "three stats lines from run" run_lines
echo STATE_BEFORE_SIGINT=$(cat /sys/kernel/sched_ext/state)
kill -INT $SCHED; wait_pid $SCHED 60; echo RUN_RC=$?
echo STATE_AFTER=$(cat /sys/kernel/sched_ext/state)
kill $HOGS $GAME
cat /tmp/run.out
"#
    );
    let out = run_in_vm(&script, 300);
    assert_eq!(out.status, 0, "{}", out.output);
    assert_eq!(out.field("STATE_RUNNING"), "enabled");
    assert!(out.field("OPS").starts_with("scx_gamer"), "{}", out.output);
    // Still attached after seconds of full CPU load: no watchdog ejection.
    assert_eq!(out.field("STATE_BEFORE_SIGINT"), "enabled", "{}", out.output);
    assert_eq!(out.field("RUN_RC"), "0", "{}", out.output);
    assert_eq!(out.field("STATE_AFTER"), "disabled");
    // A second process read the same stats through the scx_stats socket,
    // and left on SIGINT.
    assert!(!out.output.contains("MONITOR_HUNG"), "--monitor did not exit on SIGINT:\n{}", out.output);
    assert_eq!(out.field("MONITOR_RC"), "0", "{}", out.output);
    assert!(out.field("MONITOR_LINES").parse::<u32>().unwrap() >= 2, "{}", out.output);

    // --stats-json lines came through the stats socket, once a second.
    let lines = out.json_lines_with("game_dispatches");
    assert!(lines.len() >= 3, "expected stats lines:\n{}", out.output);
    let interval_sum: u64 = lines.iter().map(|v| num(v, "game_dispatches")).sum();
    assert!(interval_sum > 0, "no game dispatches in the stats lines:\n{}", out.output);

    let t = totals(&out);
    assert!(num(&t, "game_dispatches") > 0, "{t}");
    assert!(num(&t, "shared_dispatches") + num(&t, "local_dispatches") > num(&t, "game_dispatches"), "{t}");
    // The game forks `sleep` every frame: the children join the game in BPF.
    assert!(num(&t, "game_forks") > 0, "{t}");
    // Hogs outnumber CPUs, so slices expire.
    assert!(num(&t, "slice_expired") > 0, "{t}");
    assert_eq!(num(&t, "boosted_dispatches"), 0, "no input was given: {t}");
    // No input window ever opened, so these kicks are wake_preempt's (turned
    // on above): a game thread that found no idle CPU preempted a hog.
    assert!(num(&t, "preempt_kicks") > 0, "{t}");
    // Default mig_max=3 with hogs bouncing between CPUs: the limit bites.
    assert!(num(&t, "migrations") > 0 && num(&t, "mig_blocked") > 0, "{t}");
}

#[test]
fn a_game_thread_over_its_migration_budget_does_not_wait_for_a_busy_cpu() {
    // The defaults (--wake-preempt 0): a game thread may not preempt a hog
    // outside the input window, so waiting for its previous CPU would last
    // until that CPU's next tick; it goes to the first free CPU instead.
    // Background tasks still wait. --mig-max 1: the game thread, woken
    // every few ms while hogs hold every CPU, is over budget often.
    let script = format!(
        r#"{GAME_LIKE_LOAD}
$SCX_GAMER run --game-pid $GAME --mig-max 1 > /tmp/run.out 2>&1 &
SCHED=$!
wait_state enabled
{CPU_HOGS}
sleep 6   # the measurement: 6 s of a game under full load
kill -INT $SCHED; wait_pid $SCHED 60; echo RUN_RC=$?
kill $HOGS $GAME
cat /tmp/run.out
"#
    );
    let out = run_in_vm(&script, 300);
    assert_eq!(out.field("RUN_RC"), "0", "{}", out.output);
    let t = totals(&out);
    assert!(num(&t, "game_mig_saturated") > 0, "the game thread was never over budget: {t}");
    assert_eq!(num(&t, "game_mig_blocked"), 0, "{t}");
    assert!(num(&t, "mig_blocked") > 0, "the hogs were never kept on their CPU: {t}");
    // No input, no --wake-preempt: nothing preempts anything.
    assert_eq!(num(&t, "preempt_kicks"), 0, "{t}");
}

#[test]
fn one_process_switches_between_three_configs_and_attaches_them_again_without_a_load() {
    let script = format!(
        r#"{GAME_LIKE_LOAD}
( while :; do cat /sys/kernel/sched_ext/root/ops 2>/dev/null; sleep 0.2; done ) > /tmp/ops.log &
WATCH=$!
A=slice_us=500,mig_max=1; B=slice_us=5000,mig_max=0,input_window_us=0
$SCX_GAMER cycle --game-pid $GAME --hold-secs 2 \
    --config $A --config $B --config slice_us=5,game_boost_us=0 --config $A --config $B > /tmp/cycle.out 2>&1 &
wait_pid $! 240; echo CYCLE_RC=$?
cat /tmp/cycle.out
kill $WATCH
echo STATE_AFTER=$(cat /sys/kernel/sched_ext/state)
echo OPS_SEEN=$(sort -u /tmp/ops.log | grep -c scx_gamer)
# A CPU goes offline and online (as in a suspend and resume) during B's
# turn: B restarts; the copy of A kept from its first turn was loaded for
# the CPUs before and is loaded afresh for its second (the kernel ends a
# copy whose hotplug count is old as soon as it is enabled).
$SCX_GAMER cycle --game-pid $GAME --hold-secs 6 --config $A --config $B --config $A > /tmp/cycle2.out 2>&1 &
C2=$!
wait_line /tmp/cycle2.out gap_ms
echo 0 > /sys/devices/system/cpu/cpu1/online
wait_line /tmp/cycle2.out 'going offline' 60
echo 1 > /sys/devices/system/cpu/cpu1/online
wait_pid $C2 240; echo CYCLE2_RC=$?
sed 's/^/C2: /' /tmp/cycle2.out
kill $GAME
echo STATE_AFTER2=$(cat /sys/kernel/sched_ext/state)
"#
    );
    let out = run_in_vm(&script, 480);
    assert_eq!(out.field("CYCLE2_RC"), "0", "{}", out.output);
    assert_eq!(out.field("STATE_AFTER2"), "disabled");
    let second: Vec<serde_json::Value> =
        out.output.lines().filter_map(|l| l.strip_prefix("C2: ")).filter_map(|l| serde_json::from_str(l).ok()).collect();
    assert_eq!(second.len(), 3, "{}", out.output);
    assert!(out.output.contains("CPUs went offline or online since it was loaded"), "{}", out.output);
    // A's second turn: loaded afresh (the kept copy was stale), and it
    // scheduled the game.
    assert!(second[2]["load_ms"].as_f64().is_some_and(|ms| ms > 0.0), "{}", second[2]);
    assert!(num(&second[2]["stats"], "game_dispatches") > 0, "{}", second[2]);
    assert_eq!(out.field("CYCLE_RC"), "0", "{}", out.output);
    assert_eq!(out.field("STATE_AFTER"), "disabled");
    assert!(out.field("OPS_SEEN").parse::<u32>().unwrap() >= 1, "{}", out.output);

    let records = out.json_lines_with("gap_ms");
    assert_eq!(records.len(), 5, "{}", out.output);
    let configs: Vec<&str> = records.iter().map(|r| r["config"].as_str().unwrap()).collect();
    assert!(configs[0].contains("slice_us=500,") && configs[0].contains("mig_max=1"), "{configs:?}");
    assert!(configs[1].contains("slice_us=5000,"), "{configs:?}");
    assert!(configs[2].contains("slice_us=5,"), "{configs:?}");
    assert_eq!((configs[3], configs[4]), (configs[0], configs[1]));
    for (i, r) in records.iter().enumerate() {
        if i < 3 {
            assert!(r["load_ms"].as_f64().unwrap() > 0.0, "{r}");
        } else {
            // Its second turn: the copy loaded for its first, attached again.
            assert!(r["load_ms"].is_null(), "config {i} was loaded again: {r}");
        }
        // Counted since this attach: each turn scheduled the game itself.
        assert!(num(&r["stats"], "game_dispatches") > 0, "config {i} never ran the game: {r}");
        if i == 1 || i == 4 {
            // mig_max=0: no limit, so nothing is ever held back.
            assert_eq!(num(&r["stats"], "mig_blocked") + num(&r["stats"], "mig_saturated"), 0, "{r}");
        }
        if i < 4 {
            assert_eq!(r["next"].as_str().unwrap(), configs[i + 1]);
            let gap = r["gap_ms"].as_f64().unwrap();
            assert!(gap > 0.0 && gap < 10_000.0, "{r}");
        } else {
            assert!(r["next"].is_null() && r["gap_ms"].is_null(), "{r}");
        }
    }
}

#[test]
fn bad_requests_get_clear_errors_and_attach_nothing() {
    let script = r#"
$SCX_GAMER run --slice-us 0 > /tmp/e1 2>&1; echo BAD_KNOB_RC=$?
echo BAD_KNOB_ERR=$(grep -o 'slice_us = 0 is out of range.*' /tmp/e1)
echo STATE_AFTER_BAD_KNOB=$(cat /sys/kernel/sched_ext/state)
$SCX_GAMER cycle --config slice_us=5,mig_window_ms=0 > /tmp/e2 2>&1; echo BAD_CYCLE_RC=$?
echo BAD_CYCLE_ERR=$(grep -c 'mig_window_ms = 0 is out of range' /tmp/e2)
$SCX_GAMER run --game-pid 4000000 > /tmp/e3 2>&1; echo BAD_PID_RC=$?
echo BAD_PID_ERR=$(grep -c 'no such process' /tmp/e3)
unshare --mount sh -c "mount -t tmpfs none /sys/kernel && $SCX_GAMER run" > /tmp/e6 2>&1; echo NO_SCX_RC=$?
echo NO_SCX_ERR=$(grep -o 'has no sched_ext: /sys/kernel/sched_ext is missing' /tmp/e6)
setpriv --reuid=65534 --regid=65534 --clear-groups $SCX_GAMER run > /tmp/e4 2>&1; echo NOT_ROOT_RC=$?
echo NOT_ROOT_ERR=$(grep -o 'needs root[^.]*' /tmp/e4)
$SCX_GAMER run > /tmp/first.out 2>&1 & FIRST=$!
wait_state enabled
$SCX_GAMER run > /tmp/e5 2>&1; echo SECOND_RC=$?
echo SECOND_ERR=$(grep -o 'another sched_ext scheduler is attached: [a-z_]*' /tmp/e5)
echo STATE_WITH_FIRST=$(cat /sys/kernel/sched_ext/state)
kill -INT $FIRST; wait_pid $FIRST 60; echo FIRST_RC=$?
echo STATE_AFTER=$(cat /sys/kernel/sched_ext/state)
"#;
    let out = run_in_vm(script, 300);
    assert_eq!(out.field("BAD_KNOB_RC"), "1", "{}", out.output);
    assert_eq!(out.field("BAD_KNOB_ERR"), "slice_us = 0 is out of range: allowed 1..=100000 µs");
    assert_eq!(out.field("STATE_AFTER_BAD_KNOB"), "disabled");
    // A bad --config is a command-line usage error: clap's exit status 2.
    assert_eq!(out.field("BAD_CYCLE_RC"), "2", "{}", out.output);
    assert_eq!(out.field("BAD_CYCLE_ERR"), "1", "{}", out.output);
    assert_eq!(out.field("BAD_PID_RC"), "1", "{}", out.output);
    assert_eq!(out.field("BAD_PID_ERR"), "1", "{}", out.output);
    assert_eq!(out.field("NO_SCX_RC"), "1", "{}", out.output);
    assert_eq!(out.field("NO_SCX_ERR"), "has no sched_ext: /sys/kernel/sched_ext is missing");
    assert_eq!(out.field("NOT_ROOT_RC"), "1", "{}", out.output);
    assert!(out.field("NOT_ROOT_ERR").contains("uid 65534"), "{}", out.output);
    assert_eq!(out.field("SECOND_RC"), "1", "{}", out.output);
    assert_eq!(out.field("SECOND_ERR"), "another sched_ext scheduler is attached: scx_gamer_", "{}", out.output);
    // The failed second start did not disturb the first.
    assert_eq!(out.field("STATE_WITH_FIRST"), "enabled");
    assert_eq!(out.field("FIRST_RC"), "0", "{}", out.output);
    assert_eq!(out.field("STATE_AFTER"), "disabled");
}

#[test]
fn input_events_from_an_evdev_device_boost_the_game() {
    // A FIFO stands in for /dev/input/event0: the same reader path, fed
    // with real `struct input_event` records (a key press + SYN each).
    let script = format!(
        r#"{GAME_LIKE_LOAD}
mkdir -p /tmp/input && mkfifo /tmp/input/event0
# The userspace reader (the default; the in-kernel hook is opt-in).
SCX_GAMER_INPUT_HOOK=0 $SCX_GAMER run --game-pid $GAME --input-dir /tmp/input --input-window-us 20000 --wake-preempt 0 --stats 1 --stats-json > /tmp/run.out 2>&1 &
SCHED=$!
wait_state enabled
{CPU_HOGS}
exec 3>/tmp/input/event0
Z='\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00'
N=100
for _ in $(seq $N); do printf "$Z\x01\x00\x1e\x00\x01\x00\x00\x00$Z\x00\x00\x00\x00\x00\x00\x00\x00" >&3; nap 0.01; done
echo SENT=$N
# Stop once the stats lines (counts per second) add up to every event sent.
counted() {{ [ "$(grep -o '"input_events":[0-9]*' /tmp/run.out | awk -F: '{{s += $2}} END {{print s + 0}}')" -ge $N ]; }}
wait_for 60 "$N input events in the stats" counted
kill -INT $SCHED; wait_pid $SCHED 60; echo RUN_RC=$?
exec 3>&-
kill $HOGS $GAME
cat /tmp/run.out
"#
    );
    let out = run_in_vm(&script, 300);
    assert_eq!(out.field("RUN_RC"), "0", "{}", out.output);
    let t = totals(&out);
    let sent: u64 = out.field("SENT").parse().unwrap();
    // Every key record counted once, SYN records not at all.
    assert_eq!(num(&t, "input_events"), sent, "{t}");
    assert!(num(&t, "boosted_dispatches") > 0, "{t}");
    assert!(num(&t, "boosted_dispatches") <= num(&t, "game_dispatches"), "{t}");
    // With wake_preempt off, only the input window preempts hogs.
    assert!(num(&t, "preempt_kicks") > 0, "{t}");
    assert_eq!(num(&t, "input_hook"), 0, "{t}");
}

#[test]
fn a_real_key_press_opens_the_input_window_through_the_kernel_hook() {
    // Keys pressed on the VM's PS/2 keyboard (qemu's monitor, from the
    // host): i8042 → atkbd → the kernel's input core, where the fentry hook
    // counts them. No /dev/input: the evdev module is not even loaded in
    // the guest, so the (fallback) reader has nothing to read. Then three
    // copies in one process (one hook for all), and a hook that can attach
    // only at a later load.
    let script = format!(
        r#"{GAME_LIKE_LOAD}
# A 200-ms window per key; the hook is the default (no SCX_GAMER_INPUT_HOOK).
$SCX_GAMER run --game-pid $GAME --input-dir /nonexistent --input-window-us 200000 --wake-preempt 0 --stats 1 --stats-json > /tmp/run.out 2>&1 &
SCHED=$!
wait_state enabled
wait_line /tmp/run.out '"input_hook":1' 60
{CPU_HOGS}
echo EVDEV_LOADED=$(grep -c '^evdev ' /proc/modules)
# Sum of a counter over the per-second stats lines so far.
total() {{ grep -o "\"$1\":[0-9]*" /tmp/run.out | awk -F: '{{s += $2}} END {{print s + 0}}'; }}
# One key at a time until a window has boosted and preempted for the game
# (whether a game thread wakes inside a window depends on the emulator's
# speed: under a loaded host five keys at once were not enough), at most 30.
KEYS=0
while [ $KEYS -lt 30 ]; do
    press_keys a; KEYS=$((KEYS + 1)); nap 1
    [ "$(total boosted_dispatches)" -gt 0 ] && [ "$(total preempt_kicks)" -gt 0 ] && break
done
echo KEYS=$KEYS
# Each key: a press and a release (two EV_KEY events; the scan codes and
# SYN reports do not count).
N=$((2 * KEYS))
counted() {{ [ "$(total input_events)" -ge $N ]; }}
wait_for 60 "$N input events in the stats" counted
kill -INT $SCHED; wait_pid $SCHED 60; echo RUN_RC=$?
cat /tmp/run.out

# One process holding three copies (as a tune keeps its configs loaded),
# keys pressed all along: one hook for the process, and every copy's
# window opens (they share the input state).
W=input_window_us=200000
$SCX_GAMER cycle --game-pid $GAME --input-dir /nonexistent --hold-secs 8 \
    --config slice_us=500,$W --config slice_us=2000,$W --config slice_us=4000,$W --config slice_us=500,$W > /tmp/cycle.out 2>&1 &
CYC=$!
( while kill -0 $CYC 2>/dev/null; do press_keys a; nap 0.5; done ) &
KEYER=$!
# The fourth turn has begun once three turns' records are out: all three
# copies are loaded then. Count the process's tracing links (fentry).
turns() {{ [ "$(grep -c gap_ms /tmp/cycle.out)" -ge 3 ]; }}
wait_for 120 "three turns of cycle" turns
echo TRACING_LINKS=$(grep -l '^link_type:.*tracing' /proc/$CYC/fdinfo/* 2>/dev/null | wc -l)
wait_pid $CYC 120; echo CYCLE_RC=$?
wait $KEYER
cat /tmp/cycle.out

# The hook cannot attach at first (input_event's trampoline full), then
# can: a later load attaches one, and the copies see the keys from then on.
$FENTRY_FILL > /tmp/fill.out 2>&1 & FILL=$!
wait_line /tmp/fill.out '^FILLED' 60; echo "FILL=$(cat /tmp/fill.out)"
$SCX_GAMER cycle --game-pid $GAME --input-dir /nonexistent --hold-secs 8 \
    --config slice_us=500,$W --config slice_us=2000,$W --config slice_us=4000,$W > /tmp/retry.out 2>&1 &
CYC=$!
wait_line /tmp/retry.out 'hook did not attach' 60
kill $FILL; wait $FILL 2>/dev/null
( while kill -0 $CYC 2>/dev/null; do press_keys a; nap 0.5; done ) &
KEYER=$!
wait_pid $CYC 120; echo RETRY_RC=$?
wait $KEYER
echo RETRY_WARNED=$(grep -c 'hook did not attach' /tmp/retry.out)
echo RETRY_LATER=$(grep -c 'attached at a later load' /tmp/retry.out)
echo "RETRY_LAST=$(grep gap_ms /tmp/retry.out | tail -1)"
sed 's/^/retry: /' /tmp/retry.out
kill $HOGS $GAME
"#
    );
    let out = run_in_vm(&script, 540);
    assert_eq!(out.field("RUN_RC"), "0", "{}", out.output);
    assert_eq!(out.field("EVDEV_LOADED"), "0", "no evdev: the hook alone sees the keys");
    let t = totals(&out);
    assert_eq!(num(&t, "input_hook"), 1, "{t}");
    let keys: u64 = out.field("KEYS").parse().unwrap();
    assert_eq!(num(&t, "input_events"), 2 * keys, "{keys} keys pressed and released: {t}");
    assert!(num(&t, "boosted_dispatches") > 0, "the window opened: {t}");
    assert!(num(&t, "preempt_kicks") > 0, "{t}");

    assert_eq!(out.field("CYCLE_RC"), "0", "{}", out.output);
    assert_eq!(out.field("TRACING_LINKS"), "1", "one input hook for three loaded copies: {}", out.output);
    let turns = out.json_lines_with("gap_ms");
    assert_eq!(turns.len(), 4, "{}", out.output);
    for (i, r) in turns.iter().enumerate() {
        let stats = &r["stats"];
        assert_eq!(num(stats, "input_hook"), 1, "turn {i}: {r}");
        assert!(num(stats, "input_events") > 0, "turn {i} counted no key: {r}");
        assert!(num(stats, "boosted_dispatches") > 0, "turn {i}'s window never opened: {r}");
    }

    // A hook that could not attach at the first load attaches at a later
    // one (input_event's trampoline had room again): the last turn's copy
    // sees the keys in the kernel (nothing else could: no evdev).
    assert!(out.field("FILL").starts_with("FILLED "), "{}", out.output);
    assert_eq!(out.field("RETRY_RC"), "0", "{}", out.output);
    assert_eq!(out.field("RETRY_WARNED"), "1", "warned once, at the first load: {}", out.output);
    assert_eq!(out.field("RETRY_LATER"), "1", "{}", out.output);
    let last: Value = serde_json::from_str(out.field("RETRY_LAST")).unwrap_or_else(|e| panic!("{e}: {}", out.output));
    let stats = &last["stats"];
    assert_eq!(num(stats, "input_hook"), 1, "{last}");
    assert!(num(stats, "input_events") > 0, "the last turn counted no key: {last}");
}

#[test]
fn real_key_presses_open_the_input_window_on_every_path_and_its_delay_is_measured() {
    // Real key presses (qemu's PS/2 keyboard) with evdev loaded, so that
    // the userspace reader reads them too: once beside the in-kernel hook
    // (which opens the window; the reader only measures how long before
    // evdev's stamp it did), once with the reader alone
    // (SCX_GAMER_INPUT_HOOK=0: it opens the window, and BPF counts how long
    // after the stamp), and once with the hook asked for but unable to
    // attach (input_event's trampoline filled by $FENTRY_FILL): the reader
    // stands in. The archive has evdev for 7.2 and later only
    // (scripts/fetch-kernel.sh): scripts/test.sh skips this on the oldest
    // kernel, and elsewhere a missing module fails it.
    let script = format!(
        r#"{GAME_LIKE_LOAD}
load_module evdev || exit 1
wait_for 30 "the keyboard's /dev/input/event*" compgen -G '/dev/input/event*'
total() {{ grep -o "\"$2\":[0-9]*" "$1" | awk -F: '{{s += $2}} END {{print s + 0}}'; }}
KEYS=5
for P in hook reader fallback; do
    case $P in
        hook) ENV=1 HOOK=1 ;;
        reader) ENV=0 HOOK=0 ;;
        # The hook asked for, but input_event's trampoline is full.
        fallback) ENV=1 HOOK=0
            $FENTRY_FILL > /tmp/fill.out 2>&1 & FILL=$!
            wait_line /tmp/fill.out '^FILLED' 60; echo "FILL=$(cat /tmp/fill.out)" ;;
    esac
    SCX_GAMER_INPUT_HOOK=$ENV $SCX_GAMER run --game-pid $GAME --input-window-us 20000 --stats 1 --stats-json > /tmp/$P.out 2>&1 &
    SCHED=$!
    wait_state enabled
    wait_line /tmp/$P.out "\"input_hook\":$HOOK" 60
    for _ in $(seq $KEYS); do press_keys a; nap 0.3; done
    counted() {{ [ "$(total /tmp/$P.out input_events)" -ge $((2 * KEYS)) ]; }}
    wait_for 60 "$((2 * KEYS)) input events in the stats" counted
    # Releases of a key that is up: the keyboard driver reports them, the
    # input core drops them; no input (the hook counted each).
    key_events up:a up:a up:a || exit 1
    nap 1.5
    kill -INT $SCHED; wait_pid $SCHED 60; echo "${{P^^}}_RC=$?"
    echo "${{P^^}}_TOTALS=$(sed -n 's/^totals: //p' /tmp/$P.out)"
    grep 'input: ' /tmp/$P.out
done
echo KEYS=$KEYS
kill $GAME $FILL
"#
    );
    let out = run_in_vm(&script, 300);
    let keys: u64 = out.field("KEYS").parse().unwrap();
    let totals = |p: &str| -> Value {
        assert_eq!(out.field(&format!("{p}_RC")), "0", "{}", out.output);
        serde_json::from_str(out.field(&format!("{p}_TOTALS"))).unwrap_or_else(|e| panic!("{p}: {e}\n{}", out.output))
    };
    let (hook, reader) = (totals("HOOK"), totals("READER"));
    let mean_us = |t: &Value, sum: &str, n: &str| num(t, sum) as f64 / num(t, n) as f64 / 1000.0;
    // The hook: every press and release once (the reader's copies not
    // counted again, nor the releases of a key that was up), a lead
    // measured, no delay (it opened no window).
    assert_eq!(num(&hook, "input_hook"), 1, "{hook}");
    assert_eq!(num(&hook, "input_events"), 2 * keys, "{hook}");
    assert!(num(&hook, "input_lead_samples") > 0, "{hook}");
    assert_eq!(num(&hook, "input_delay_samples"), 0, "{hook}");
    // The reader alone: the same events, its delay measured.
    assert_eq!(num(&reader, "input_hook"), 0, "{reader}");
    assert_eq!(num(&reader, "input_events"), 2 * keys, "{reader}");
    assert!(num(&reader, "input_delay_samples") > 0, "{reader}");
    assert!(num(&reader, "input_delay_ns") > 0, "{reader}");
    assert_eq!(num(&reader, "input_lead_samples"), 0, "{reader}");
    // The hook that cannot attach: the reader stands in, and says so.
    assert!(out.field("FILL").starts_with("FILLED "), "{}", out.output);
    assert!(out.output.contains("input: the in-kernel hook did not attach"), "{}", out.output);
    let fallback = totals("FALLBACK");
    assert_eq!(num(&fallback, "input_hook"), 0, "{fallback}");
    assert_eq!(num(&fallback, "input_events"), 2 * keys, "{fallback}");
    assert!(num(&fallback, "input_delay_samples") > 0, "{fallback}");
    // The figures BENCHMARKS.md's "Input" reports.
    eprintln!(
        "input -> window: hook {:.0} us before evdev's stamp ({} samples); reader {:.0} us after it ({} samples); \
         reader standing in for the hook {:.0} us after it ({} samples)",
        mean_us(&hook, "input_lead_ns", "input_lead_samples"),
        num(&hook, "input_lead_samples"),
        mean_us(&reader, "input_delay_ns", "input_delay_samples"),
        num(&reader, "input_delay_samples"),
        mean_us(&fallback, "input_delay_ns", "input_delay_samples"),
        num(&fallback, "input_delay_samples")
    );
}

#[test]
fn an_ejected_scheduler_exits_nonzero_with_the_kernels_reason() {
    let script = r#"
$SCX_GAMER --slice-us 2000 > /tmp/out 2>&1 & SCHED=$!   # no subcommand: means run
wait_state enabled
echo S > /proc/sysrq-trigger
wait_pid $SCHED 60; echo RUN_RC=$?
echo REASON=$(grep -o 'ejected scx_gamer.*' /tmp/out)
echo STATE_AFTER=$(cat /sys/kernel/sched_ext/state)
"#;
    let out = run_in_vm(script, 300);
    assert_eq!(out.field("RUN_RC"), "1", "{}", out.output);
    assert!(out.field("REASON").to_lowercase().contains("sysrq"), "{}", out.output);
    assert_eq!(out.field("STATE_AFTER"), "disabled");
}

#[test]
fn a_cpu_going_offline_and_online_restarts_the_scheduler_with_the_same_config_and_game() {
    // Without cpu_online/cpu_offline ops the kernel ejects the scheduler
    // on every CPU hotplug (suspend/resume takes CPUs offline and back
    // too), asking for a restart. `run` comes back by itself, twice here.
    let script = format!(
        r#"{GAME_LIKE_LOAD}
restarts() {{ grep -c 'scx_gamer restarted' /tmp/run.out; }}
$SCX_GAMER run --game-pid $GAME --slice-us 1500 > /tmp/run.out 2>&1 & SCHED=$!
wait_state enabled
wait_line /tmp/run.out 'game processes added'
t0=$(date +%s%N)
echo 0 > /sys/devices/system/cpu/cpu1/online
wait_line /tmp/run.out 'scx_gamer restarted' 60
wait_state enabled
echo BACK_OFFLINE_MS=$(( ($(date +%s%N) - t0) / 1000000 ))
echo OPS_OFFLINE=$(cat /sys/kernel/sched_ext/root/ops)
t0=$(date +%s%N)
echo 1 > /sys/devices/system/cpu/cpu1/online
wait_for 60 "a second restart" sh -c "[ \$(grep -c 'scx_gamer restarted' /tmp/run.out) -ge 2 ]"
wait_state enabled
echo BACK_ONLINE_MS=$(( ($(date +%s%N) - t0) / 1000000 ))
echo OPS_ONLINE=$(cat /sys/kernel/sched_ext/root/ops)
echo CPUS=$(cat /sys/devices/system/cpu/online)
sleep 2   # the restarted copy schedules the game for a while
kill -0 $SCHED 2>/dev/null && echo RUN_ALIVE=yes
kill -0 $GAME 2>/dev/null && echo GAME_ALIVE=yes
kill -INT $SCHED; wait_pid $SCHED 60; echo RUN_RC=$?
echo STATE_AFTER=$(cat /sys/kernel/sched_ext/state)
echo RESTARTS=$(restarts)
kill $GAME
cat /tmp/run.out
"#
    );
    let out = run_in_vm(&script, 300);
    assert_eq!(out.field("RUN_ALIVE"), "yes", "{}", out.output);
    assert_eq!(out.field("GAME_ALIVE"), "yes", "{}", out.output);
    assert!(out.field("OPS_OFFLINE").starts_with("scx_gamer"), "{}", out.output);
    assert!(out.field("OPS_ONLINE").starts_with("scx_gamer"), "{}", out.output);
    assert_eq!(out.field("CPUS"), "0-1");
    assert_eq!(out.field("RUN_RC"), "0", "{}", out.output);
    assert_eq!(out.field("STATE_AFTER"), "disabled");
    // The kernel's reason is logged, and the same config came back.
    assert!(out.output.contains("going offline"), "{}", out.output);
    assert!(out.output.contains("going online"), "{}", out.output);
    for line in out.output.lines().filter(|l| l.contains("scx_gamer restarted")) {
        assert!(line.contains("slice_us=1500"), "{line}");
    }
    let t = totals(&out);
    assert_eq!(num(&t, "restarts"), 2, "{t}");
    assert!(num(&t, "game_dispatches") > 0 && num(&t, "game_tgids") > 0, "the game was scheduled as the game: {t}");
    eprintln!("back after offline {} ms, after online {} ms", out.field("BACK_OFFLINE_MS"), out.field("BACK_ONLINE_MS"));
}

/// CPU ticks (utime + stime) a process has used so far, as a shell
/// expression over /proc/PID/stat (the comm `sh` has no spaces).
const TICKS: &str = r#"
ticks() { set -- $(cat /proc/$1/stat); echo $(( ${14} + ${15} )); }
"#;

#[test]
fn game_weight_gives_the_game_that_share_of_a_contended_cpu() {
    // Two endless loops on one CPU, one of them the game: with weight 1
    // they split it evenly (vtime fairness), with weight 4 the game gets
    // about 4/5.
    let script = format!(
        r#"{TICKS}
taskset -c 1 sh -c 'while :; do :; done' & GAME=$!
taskset -c 1 sh -c 'while :; do :; done' & BG=$!
for w in 1 4; do
    $SCX_GAMER run --game-pid $GAME --game-weight $w > /tmp/run-$w.out 2>&1 & SCHED=$!
    wait_state enabled
    # Once the game is known to the scheduler, 2 s for the shares to settle
    # (the two tasks' vtimes start where the kernel's scheduler left them),
    # then 6 s measured.
    wait_line /tmp/run-$w.out 'game processes added'
    sleep 2
    g0=$(ticks $GAME); b0=$(ticks $BG)
    sleep 6
    g1=$(ticks $GAME); b1=$(ticks $BG)
    echo "SHARE_$w=$(( (g1 - g0) * 100 / (g1 - g0 + b1 - b0) ))"
    kill -INT $SCHED; wait_pid $SCHED 60; wait_state disabled
done
kill $GAME $BG
"#
    );
    let out = run_in_vm(&script, 300);
    let share = |w: &str| -> u32 { out.field(&format!("SHARE_{w}")).parse().unwrap_or_else(|_| panic!("no SHARE_{w}:\n{}", out.output)) };
    let (equal, weighted) = (share("1"), share("4"));
    assert!((35..=65).contains(&equal), "weight 1: the game had {equal} % of the CPU\n{}", out.output);
    assert!(weighted >= 70, "weight 4: the game had only {weighted} % of the CPU\n{}", out.output);
}

#[test]
fn a_hung_scenario_fails_with_what_it_printed_the_state_it_hung_in_and_the_console() {
    // The harness itself: a guest command that never ends must not hang the
    // suite, and its failure must say what happened.
    let script = r#"
echo progress > /tmp/hang.out
echo BEFORE_THE_HANG
wait_line /tmp/hang.out 'never printed' 2
echo "<4>hang-test: a kernel message" > /dev/kmsg
sleep 600
"#;
    let failure = std::panic::catch_unwind(|| run_in_vm(script, 20)).expect_err("a hung scenario must fail the test");
    let msg = failure.downcast_ref::<String>().cloned().unwrap_or_default();
    for part in [
        "did not finish within its 20 s",
        "BEFORE_THE_HANG",
        // A bounded wait that expired says what it waited for, and shows
        // the state it saw.
        "TIMEOUT after 2s waiting for a line matching 'never printed' in /tmp/hang.out",
        "--- /tmp/hang.out (last 30 lines):",
        // The scenario's own timeout: the state it hung in…
        "scenario timed out after 20s",
        "sleep 600",
        "--- sched_ext: state=disabled",
        // …and the guest kernel's console, with the stacks of its blocked
        // tasks (sysrq-w: where a deadlocked kernel is stuck).
        "hang-test: a kernel message",
        "Show Blocked State",
    ] {
        assert!(msg.contains(part), "no '{part}' in the failure message:\n{msg}");
    }
}
