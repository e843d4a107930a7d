#!/usr/bin/env bash
# The guest half of scripts/bench.sh: runs inside the VM test bed (as root,
# sched_ext kernel) and writes everything into $OUT for the host to tabulate.
#
# Environment (set by scripts/bench.sh):
#   BIN      scx_gamer binary           FRAMELOOP  the frame-loop program
#   PEERS    folder with bin/scx_bpfland and bin/scx_lavd
#   OUT      results folder (shared read-write with the host)
#   REPS     repetitions of the whole matrix
#   WARMUP   seconds the frame-loop game runs before its frames count
#            (glxgears is warmed up until its frame rate is steady)
#   MEASURE  seconds of frames measured per run
#   TUNE_SECS  trial length of the tuning run that picks "gamer-tuned"
#   WORKLOADS  which of "glxgears frameloop" to run
#   LOADS      which of "cpu burst" (default both)
#   SWITCH_GAP 0 skips the switch-gap measurement
#   SCHEDS     which schedulers (default all five; without gamer-tuned
#              there is no tuning run)
#
# Layout of $OUT:
#   logs/<workload>/<load>/<scheduler>/<rep>/*.csv   MangoHud-form frame logs
#   runs.tsv        one line per run: rep workload load scheduler ops status
#   tune/<workload>/ the tuner's store, output and its CPU samples
#   tuned/<workload>.flags   the config tune picked, as scx_gamer flags
#   switch-gap.txt  in-process switch vs process restart
#   vm.txt          kernel, vCPUs
set -uo pipefail
[ -z "${TRACE:-}" ] || { exec 2>"$OUT/trace.txt"; set -x; }

export LP_NUM_THREADS=${LP_NUM_THREADS:-2} MANGOHUD_LOG_LEVEL=off DISPLAY=:7
here=$(cd "$(dirname "$0")" && pwd)
ncpu=$(nproc)
mkdir -p "$OUT/logs" "$OUT/tune" "$OUT/tuned"
echo -e "kernel\t$(uname -r)\nvcpus\t$ncpu" > "$OUT/vm.txt"
: > "$OUT/runs.tsv"

Xvfb :7 -screen 0 320x240x24 -nolisten tcp >/dev/null 2>&1 &
for _ in $(seq 100); do [ -e /tmp/.X11-unix/X7 ] && break; sleep 0.1; done

state() { cat /sys/kernel/sched_ext/state; }
ops() { cat /sys/kernel/sched_ext/root/ops 2>/dev/null || echo -; }
wait_state() { # STATE SECS
    local i
    for i in $(seq $(($2 * 20))); do [ "$(state)" = "$1" ] && return 0; sleep 0.05; done
    return 1
}

# --- background loads ------------------------------------------------------------
# cpu:   one busy loop per vCPU (stress-ng), always on.
# burst: a parallel build: every second or so, vCPU-count compiler processes
#        start at once, run a short while and exit (new short-lived tasks).
load_pid=""
start_load() {
    case "$1" in
        cpu) stress-ng --cpu "$ncpu" --quiet >/dev/null 2>&1 & load_pid=$! ;;
        burst)
            (
                cd /tmp && cp "$here/burst.c" /tmp/burst.c
                while :; do
                    seq "$ncpu" | xargs -P "$ncpu" -I{} cc -O2 -c /tmp/burst.c -o /tmp/burst{}.o
                    sleep 0.5
                done
            ) >/dev/null 2>&1 &
            load_pid=$! ;;
    esac
}
stop_load() {
    [ -n "$load_pid" ] || return 0
    pkill -P "$load_pid" 2>/dev/null; kill "$load_pid" 2>/dev/null; wait "$load_pid" 2>/dev/null
    pkill -x cc1 2>/dev/null; pkill -x stress-ng 2>/dev/null
    load_pid=""
}

# --- games ---------------------------------------------------------------------------
# glxgears (llvmpipe) compiles its shaders with LLVM for a long while under
# TCG, so one copy runs through all the runs of a cell, warmed up once, and
# each run is one log, started and stopped over MangoHud's control socket
# (MangoHud 0.6.8 writes a log when logging stops).
gx_dir=/tmp/gx
start_glxgears() {
    rm -rf "$gx_dir"; mkdir -p "$gx_dir"; chown nobody "$gx_dir"
    # setpriv, env and mangohud exec in turn: $! is glxgears' pid, which
    # names MangoHud's control socket.
    setpriv --reuid=65534 --regid=65534 --clear-groups env MANGOHUD_CONFIG="output_folder=$gx_dir,log_interval=0,control=mangohud-%p,no_display" \
        mangohud glxgears -geometry 160x160 >/dev/null 2>&1 &
    gx_pid=$!
}
mh_send() { printf '%s' "$1" | socat -t 0.5 - "ABSTRACT-CONNECT:mangohud-$gx_pid" >/dev/null 2>&1; }
# gx_log SECS DIR: log SECS seconds of frames into DIR/.
gx_log() {
    local n i f
    n=$(ls "$gx_dir" | grep -c _summary.csv)
    mh_send ':logging=1;'
    sleep "$1"
    mh_send ':logging=0;'
    for i in $(seq 60); do   # (polling is costly in TCG: not too often)
        [ "$(ls "$gx_dir" | grep -c _summary.csv)" -gt "$n" ] && break
        sleep 0.5
    done
    f=$(ls -t "$gx_dir"/*.csv 2>/dev/null | grep -v _summary | head -1)
    mkdir -p "$2"
    [ -n "$f" ] && mv "$f" "$2/" && rm -f "$gx_dir"/*_summary.csv
}
# Warm up: 3-s probes until two in a row agree on the frame rate within 15 %.
gx_warm_up() {
    local prev=0 fps i
    for i in $(seq 20); do
        rm -rf /tmp/probe; gx_log 3 /tmp/probe
        fps=$("$BIN" report --log /tmp/probe/*.csv --json 2>/dev/null | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["avg_fps"]))' 2>/dev/null || echo 0)
        echo "glxgears warm-up probe $i: $fps fps"
        [ "$fps" -gt 0 ] && [ "$prev" -gt 0 ] && [ $((fps * 100)) -ge $((prev * 85)) ] && [ $((fps * 100)) -le $((prev * 115)) ] && return 0
        prev=$fps
    done
}

# The frame-loop game: 60 fps, a render thread and vCPU-1 workers doing a
# fixed amount of work per frame.
fl_game=("$FRAMELOOP" --fps 60 --work-us 3000 --threads $((ncpu - 1)) --exe frameloop)

# frameloop starts at once (no JIT): a fresh copy per run, created before
# the scheduler attaches (which needs its pid) and held until release_game.
start_frameloop() { # DIR
    mkdir -p "$1"; chown nobody "$1"
    rm -f /tmp/go; mkfifo /tmp/go
    # The shell waits on the fifo, then becomes the game (same pid).
    bash -c 'read -r _ < /tmp/go; exec setpriv --reuid=65534 --regid=65534 --clear-groups "$@"' game \
        env MANGOHUD=1 MANGOHUD_CONFIG="output_folder=$1,log_interval=0" \
        "${fl_game[@]}" --warmup-secs "$WARMUP" --seconds $((WARMUP + MEASURE)) >/dev/null 2>&1 &
    fl_pid=$!
}
release_frameloop() { echo go > /tmp/go; wait "$fl_pid"; }

# --- schedulers ---------------------------------------------------------------------
sched_pid=""
start_sched() { # NAME WORKLOAD GAME_PID
    case "$1" in
        eevdf) sched_pid=""; return 0 ;;
        gamer) "$BIN" run --game-pid "$3" >/dev/null 2>&1 & sched_pid=$! ;;
        gamer-tuned)
            # shellcheck disable=SC2046 # the flags are words
            "$BIN" run $(cat "$OUT/tuned/$2.flags") --game-pid "$3" >/dev/null 2>&1 & sched_pid=$! ;;
        bpfland) "$PEERS/bin/scx_bpfland" >/dev/null 2>&1 & sched_pid=$! ;;
        lavd) "$PEERS/bin/scx_lavd" >/dev/null 2>&1 & sched_pid=$! ;;
    esac
    wait_state enabled 60
}
stop_sched() {
    [ -n "$sched_pid" ] || return 0
    kill -INT "$sched_pid" 2>/dev/null; wait "$sched_pid" 2>/dev/null
    wait_state disabled 30
    sched_pid=""
}

# --- 1. the tuner picks a config per workload (under the cpu load) ----------------
# Its own CPU use is sampled once a second from /proc/<pid>/stat (utime+stime).
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null; }
LOADS=${LOADS:-cpu burst}
SCHEDS=${SCHEDS:-eevdf gamer gamer-tuned bpfland lavd}
for w in $WORKLOADS; do
    case " $SCHEDS " in *" gamer-tuned "*) ;; *) continue ;; esac
    d="$OUT/tune/$w"; mkdir -p "$d"
    start_load cpu
    case "$w" in
        glxgears)
            SUDO_UID=65534 SUDO_GID=65534 "$BIN" tune --trials trials/default.toml --trial-secs "$TUNE_SECS" \
                --warmup-secs 2 --repeats 1 --seed 1 --data "$d/ml_data" \
                -- mangohud glxgears -geometry 160x160 > "$d/tune.out" 2>&1 &
            tpid=$! ;;
        frameloop)
            mkdir -p /tmp/fl-tune; chown nobody /tmp/fl-tune
            setpriv --reuid=65534 --regid=65534 --clear-groups env MANGOHUD=1 \
                MANGOHUD_CONFIG="output_folder=/tmp/fl-tune,log_interval=0" \
                "${fl_game[@]}" --seconds 3600 >/dev/null 2>&1 &
            fl=$!
            sleep 2
            "$BIN" attach --pid "$fl" --trials trials/default.toml --trial-secs "$TUNE_SECS" \
                --warmup-secs 2 --repeats 1 --seed 1 --data "$d/ml_data" > "$d/tune.out" 2>&1 &
            tpid=$! ;;
    esac
    echo -e "secs\tticks" > "$d/cpu.tsv"
    t0=$(date +%s.%N)
    while kill -0 "$tpid" 2>/dev/null; do
        t=$(cpu_ticks "$tpid") && echo -e "$(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN{printf "%.2f", a-b}')\t$t" >> "$d/cpu.tsv"
        sleep 1
    done
    wait "$tpid"; echo "tune $w: exit $?" >> "$d/tune.out"
    [ "$w" = frameloop ] && { kill "$fl"; wait "$fl" 2>/dev/null; }
    stop_load
    getconf CLK_TCK > "$d/clk_tck"
    "$BIN" report --data "$d/ml_data" --best "$w" > "$OUT/tuned/$w.flags" 2> "$d/best.err" \
        || : > "$OUT/tuned/$w.flags"   # nothing to pick: the defaults
    echo "tuned $w: $(cat "$OUT/tuned/$w.flags")"
done

# --- 2. the comparison: every scheduler in every cell, order shuffled per rep ---
# measure S WORKLOAD LOAD REP: one run; appends its line to runs.tsv.
measure() {
    local s=$1 w=$2 load=$3 rep=$4 status=ok o
    local dir="$OUT/logs/$w/$load/$s/$rep"
    case "$w" in
        glxgears)
            start_sched "$s" "$w" "$gx_pid" || status=no-attach
            o=$(ops)
            sleep 2    # the game settles on the new scheduler
            gx_log "$MEASURE" "$dir" ;;
        frameloop)
            start_frameloop "$dir"
            start_sched "$s" "$w" "$fl_pid" || status=no-attach
            o=$(ops)
            release_frameloop ;;
    esac
    [ -z "$sched_pid" ] || kill -0 "$sched_pid" 2>/dev/null || status=exited
    [ "$(ops)" = "$o" ] || status="ops-changed"
    stop_sched
    ls "$dir"/*.csv >/dev/null 2>&1 || status="$status,no-log"
    echo -e "$rep\t$w\t$load\t$s\t$o\t$status" | tee -a "$OUT/runs.tsv"
}
for w in $WORKLOADS; do
    for load in $LOADS; do
        # glxgears warms up (LLVM compiles its shaders) before the load
        # starts: under a full load in TCG that alone takes minutes.
        if [ "$w" = glxgears ]; then start_glxgears; gx_warm_up; fi
        start_load "$load"
        for rep in $(seq "$REPS"); do
            # Shuffled, reproducibly (the guest has no /dev/fd for <(...)).
            yes "$rep$w$load" | head -c 65536 > /tmp/seed
            for s in $(echo $SCHEDS | tr ' ' '\n' | shuf --random-source=/tmp/seed); do
                measure "$s" "$w" "$load" "$rep"
            done
        done
        if [ "$w" = glxgears ]; then kill "$gx_pid"; wait "$gx_pid" 2>/dev/null; fi
        stop_load
    done
done

# --- 3. the cost of a config change ------------------------------------------------
if [ "${SWITCH_GAP:-1}" = 1 ]; then
    bash "$here/switch-gap-guest.sh" "$BIN" 5 > "$OUT/switch-gap.txt" 2>&1
    cat "$OUT/switch-gap.txt"
fi
