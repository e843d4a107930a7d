# Helpers for scripts that run inside the VM test bed (sourced by every
# scenario the tests send to scripts/vm-serve, and by vm-serve itself).
#
# Every wait here is bounded. When one expires it says what it waited for and
# shows what it saw (dump_state), so a failing test explains itself instead of
# hanging until the VM's own timeout.

# What the guest looks like now: sched_ext's state, the processes, the tail of
# the kernel log, and the tail of each FILE (default: the scenario's own
# /tmp/*.out, *.err and *.log, where the tests send the output of the
# programs they run in the background).
dump_state() {
    echo "--- sched_ext: state=$(cat /sys/kernel/sched_ext/state 2>/dev/null) ops=$(cat /sys/kernel/sched_ext/root/ops 2>/dev/null)"
    echo "--- processes:"
    ps -e -o pid=,ppid=,user:8=,stat=,etime=,time=,args= 2>/dev/null \
        | awk '$1 != 2 && $2 != 2' | cut -c1-200
    echo "--- kernel log (tail):"
    dmesg 2>/dev/null | tail -n 15
    local files=("$@")
    if [ ${#files[@]} -eq 0 ]; then
        shopt -s nullglob
        files=(/tmp/*.out /tmp/*.err /tmp/*.log)
        shopt -u nullglob
    fi
    local f
    for f in "${files[@]}"; do
        [ -f "$f" ] || continue
        echo "--- $f (last 30 lines):"
        tail -n 30 "$f"
    done
    echo "--- end of state"
}

# press_keys KEY...: real key presses on the VM's PS/2 keyboard (qemu's key
# names: a, b, ret, spc, …; each pressed and released), sent by the host's
# vm-run through qemu's monitor: the path a player's keyboard takes, from
# the i8042 controller up through the kernel's input core.
press_keys() {
    _ask_host sendkey "press the keys '$*'" "$*"
}

# _ask_host NAME WHAT LINE: hand LINE to vm-run as $work/NAME.req, wait for
# its NAME.done; fails with what vm-run wrote to sendkey.err.
_ask_host() {
    local req=${SCX_GAMER_VM_WORK:?$1: not in the VM test bed}/$1.req
    rm -f "$SCX_GAMER_VM_WORK/$1.done"
    echo "$3" > "$req.tmp" && mv "$req.tmp" "$req"
    wait_for 30 "the host to $2" test -e "$SCX_GAMER_VM_WORK/$1.done"
    if [ -s "$SCX_GAMER_VM_WORK/sendkey.err" ]; then
        cat "$SCX_GAMER_VM_WORK/sendkey.err"
        return 1
    fi
}

# key_events EVENT...: single key events on the VM's PS/2 keyboard,
# "down:KEY" or "up:KEY" (qemu's key names), sent by the host's vm-run
# through qemu's QMP: e.g. a release of a key that is up, which the
# keyboard driver reports and the kernel's input core drops.
key_events() {
    _ask_host keyevents "send the key events '$*'" "$*"
}

# load_module NAME: load this kernel's module NAME (scripts/fetch-kernel.sh
# keeps the few the tests need beside the kernel; the host's /lib/modules
# has none of the guest's kernel). Fails, saying so, where there is none.
load_module() {
    local dir=${SCX_GAMER_VM_MODULES:?load_module: not in the VM test bed} f
    grep -q "^$1 " /proc/modules && return 0
    for f in "$dir/$1.ko" "$dir/$1.ko.xz" "$dir/$1.ko.zst"; do
        [ -e "$f" ] && { insmod "$f"; return; }
    done
    echo "load_module: no module $1 for $(uname -r) in $dir (the archive has no linux-modules package of this kernel?)"
    return 1
}

# nap SECS: sleep without a process (read on a FIFO nothing writes to):
# tests count processes named `sleep` (`pgrep -x sleep`), and the helpers'
# own must not show up among them.
nap() {
    if [ -z "${_NAP_FD:-}" ]; then
        local f
        f=/run/vm-nap.$BASHPID.$RANDOM
        mkfifo "$f" && exec {_NAP_FD}<>"$f" && rm -f "$f"
    fi
    read -r -t "$1" -u "$_NAP_FD" _ 2>/dev/null
    return 0
}

# wait_for SECS WHAT CMD...: run CMD until it succeeds, at most SECS seconds:
# after 0.1 s, 0.2 s, 0.5 s, then every second. (Every 0.1 s, a check that
# starts a program (grep, readlink) keeps an emulated CPU busy and slows
# what it waits for: with the back-off, the VM tests' scenarios took 1530 s
# instead of 1853 s, the containerised one left out.) On expiry: "TIMEOUT
# after SECS s waiting for WHAT", the state, and status 1.
wait_for() {
    local secs=$1 what=$2
    shift 2
    local deadline=$((SECONDS + secs)) pause=0.1
    while ! "$@"; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            echo "TIMEOUT after ${secs}s waiting for $what"
            dump_state
            return 1
        fi
        nap $pause
        case $pause in 0.1) pause=0.2 ;; 0.2) pause=0.5 ;; *) pause=1 ;; esac
    done
}

# wait_line FILE REGEX [SECS]: until a line of FILE matches REGEX (default
# 120 s).
wait_line() {
    wait_for "${3:-120}" "a line matching '$2' in $1" grep -qE -- "$2" "$1" 2>/dev/null
}

# wait_state STATE [SECS]: until sched_ext's state is STATE (default 30 s).
wait_state() {
    wait_for "${2:-30}" "sched_ext state $1" _is_state "$1"
}
_is_state() { local s=""; { read -r s < /sys/kernel/sched_ext/state; } 2>/dev/null; [ "$s" = "$1" ]; }

# _gone PID: PID has exited (gone, or a zombie not yet reaped).
_gone() {
    local st
    { read -r st < "/proc/$1/stat"; } 2>/dev/null || return 0
    st=${st##*) }
    [ "${st:0:1}" = Z ]
}

# wait_pid PID SECS: wait for a child of this shell to exit, at most SECS
# seconds; the status is its exit status. On expiry: the state, SIGKILL to
# PID, and status 124 (printed as "TIMEOUT ..." first, so it is never taken
# for the program's own status).
wait_pid() {
    local pid=$1 secs=$2 args
    args=$(tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | cut -c1-120)
    if ! wait_for "$secs" "pid $pid ($args) to exit" _gone "$pid"; then
        kill -9 "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        return 124
    fi
    wait "$pid"
}
