#!/usr/bin/env bash
# The guest half of scripts/bench.sh: runs inside the VM test bed (as root,
# sched_ext kernel) and writes everything into $OUT for the host to tabulate.
#
# Environment (set by scripts/bench.sh):
#   BIN      scx_gamer binary           FRAMELOOP  the frame-loop program
#   PEERS    folder with bin/scx_bpfland and bin/scx_lavd
#   OUT      results folder (shared read-write with the host)
#   REPS     repetitions of the whole matrix
#   WARMUP   seconds a load runs before frames count (the game itself is
#            warm: one copy per workload runs through all its runs)
#   MEASURE  seconds of frames measured per run
#   TUNE_SECS  trial length of the tuning run that picks "gamer-tuned"
#   WORKLOADS  which of "glxgears frameloop" to run
#   LOADS      which of "idle cpu burst" (default all three)
#   SWITCH_GAP 0 skips the switch-gap measurement
#   SCHEDS     which schedulers (default all five; without gamer-tuned
#              there is no tuning run)
#   VARIANTS   "NAME=BINARY ...": other scx_gamer builds, run with their
#              defaults under NAME (policy experiments; NAMEs go in SCHEDS)
#
# Layout of $OUT:
#   logs/<workload>/*.csv   the game's MangoHud-form frame logs (and summaries)
#   costs.tsv       per run, what its measured span cost (see costs())
#   runs.tsv        one line per run: rep workload load scheduler ops status
#                   log (the run's frame log, relative to $OUT; - if none)
#   tune/<workload>/ the tuner's store, output and its CPU samples
#   tuned/<workload>.flags   the config tune picked, as scx_gamer flags
#   switch-gap.txt  in-process switch vs process restart
#   vm.txt          kernel, vCPUs
#   game-<workload>.err  the game's stderr
set -uo pipefail
[ -z "${TRACE:-}" ] || { exec 2>"$OUT/trace.txt"; PS4='+ ${EPOCHREALTIME} '; set -x; }

# This shell runs at nice -20: under a full load in TCG a normal-priority
# shell waits seconds for a CPU at every step (a 6-s run took 40 s). It
# sleeps while frames are measured, and everything it measures (games,
# loads, schedulers, the tuner) runs at nice 0 through `${normal[@]}`.
renice -n -20 $$ >/dev/null
# (An array, not a function: `f cmd &` would make $! the pid of a subshell.)
normal=(nice -n 20)
# A sleep without a fork: a read with a timeout on a fifo nobody writes.
rm -f /tmp/tick; mkfifo /tmp/tick; exec {tick}<>/tmp/tick
nap() { read -r -t "$1" -u "$tick" _; }

export LP_NUM_THREADS=${LP_NUM_THREADS:-2} MANGOHUD_LOG_LEVEL=off DISPLAY=:7
here=$(cd "$(dirname "$0")" && pwd)
ncpu=$(nproc)
mkdir -p "$OUT/logs" "$OUT/tune" "$OUT/tuned"
echo -e "kernel\t$(uname -r)\nvcpus\t$ncpu" > "$OUT/vm.txt"
: > "$OUT/runs.tsv"

Xvfb :7 -screen 0 320x240x24 -nolisten tcp >/dev/null 2>&1 &
for _ in $(seq 100); do [ -e /tmp/.X11-unix/X7 ] && break; sleep 0.1; done

# (Builtins where a fork is avoidable: a fork takes seconds under the load.)
# ops: the attached sched_ext scheduler's name into $ops (- if none).
read_ops() { ops=-; { read -r ops < /sys/kernel/sched_ext/root/ops; } 2>/dev/null; }
wait_state() { # STATE SECS
    local i s
    for ((i = 0; i < $2 * 20; i++)); do
        read -r s < /sys/kernel/sched_ext/state
        [ "$s" = "$1" ] && return 0
        nap 0.05
    done
    return 1
}

# --- background loads ------------------------------------------------------------
# idle:  none: the game alone, as most people play.
# cpu:   one busy loop per vCPU (stress-ng), always on.
# burst: the job pattern of a parallel build: vCPU-count short CPU-bound jobs
#        (new processes) start together, run 0.3 s, exit; again after 0.5 s.
#        (Real compiler jobs are too slow to start under TCG for the budget.)
# Each load runs in a session (and process group) of its own, led by $load_pid,
# so stopping it is one signal to the group: no pkill (a fork and a /proc scan
# take seconds here). Every fork counts: in the TCG guest, with its vCPUs
# sharing one host thread, a fork and exec took 1-4 s even with the load
# stopped, 8 of the 15 s a 5-s run took.
load_pid=""
start_load() {
    case "$1" in
        idle) load_pid="" ;;
        # (--temp-path: stress-ng aborts at once when its temp folder, by
        # default the working directory, is not writable, and here that is
        # the repo, shared read-only. Until 2026-12-01 every "cpu" run was
        # measured without its load because of this; load_died catches it.)
        cpu) "${normal[@]}" setsid stress-ng --cpu "$ncpu" --temp-path /tmp --quiet >/dev/null 2>>"$OUT/load-cpu.err" & load_pid=$! ;;
        burst)
            # (timeout puts each job in a group of its own: they end by themselves)
            "${normal[@]}" setsid bash -c '
                while :; do
                    for ((i = 0; i < $1; i++)); do timeout 0.3 sh -c "while :; do :; done" burst-job & done
                    wait
                    sleep 0.5
                done' burst "$ncpu" >/dev/null 2>>"$OUT/load-burst.err" &
            load_pid=$! ;;
    esac
}
# load_died: true when the load started last is no longer running (so the
# run in progress was not measured under it).
load_died() { [ -n "$load_pid" ] && ! kill -0 "$load_pid" 2>/dev/null; }
stop_load() {
    [ -n "$load_pid" ] || return 0
    kill -TERM -- "-$load_pid" 2>/dev/null; wait "$load_pid" 2>/dev/null
    load_pid=""
}

# --- games ---------------------------------------------------------------------------
# One warm copy of the game per workload runs through all its runs (glxgears
# compiles its shaders with LLVM for a long while under TCG); the games are
# stopped (SIGSTOP) while another one is measured, so every scheduler
# attaches once per repetition for all of them (scx_lavd takes a minute to
# load here). Each run is one log, started and stopped as a player would:
# over MangoHud's control socket for glxgears (MangoHud 0.6.8 writes the log
# when logging stops), by SIGUSR1 for the frame-loop program (its
# --log-on-sigusr1).
declare -A pids
game="" game_pid="" game_dir=""
use_game() { game=$1; game_pid=${pids[$1]}; game_dir=/tmp/game-logs/$1; }
# The frame-loop game: 60 fps, a render thread and vCPU-1 workers doing a
# fixed amount of work per frame.
fl_game=("$FRAMELOOP" --fps 60 --work-us 3000 --threads $((ncpu - 1)) --exe frameloop)
start_game() { # WORKLOAD: started, warm, $game (running)
    game=$1 game_dir=/tmp/game-logs/$1
    rm -rf "$game_dir"; mkdir -p "$game_dir" "$OUT/logs/$game"; chown nobody "$game_dir"
    # nice, setpriv, env and the game exec in turn: $! is the game's pid (which
    # also names MangoHud's control socket).
    case "$1" in
        glxgears)
            "${normal[@]}" setpriv --reuid=65534 --regid=65534 --clear-groups env MANGOHUD_CONFIG="output_folder=$game_dir,log_interval=0,control=mangohud-%p,no_display" \
                mangohud glxgears -geometry 160x160 >/dev/null 2>"$OUT/game-$1.err" &
            game_pid=$!
            pids[$1]=$game_pid
            warm_up ;;
        frameloop)
            # (MangoHud's environment: attach finds the log folder there)
            "${normal[@]}" setpriv --reuid=65534 --regid=65534 --clear-groups env MANGOHUD=1 MANGOHUD_CONFIG="output_folder=$game_dir,log_interval=0" \
                "${fl_game[@]}" --log-on-sigusr1 --seconds 86400 >/dev/null 2>"$OUT/game-$1.err" &
            game_pid=$!
            pids[$1]=$game_pid
            # Ready when it catches SIGUSR1 (10): before, the signal kills it.
            local i
            for ((i = 0; i < 300; i++)); do catches "$game_pid" frameloop 10 && break; nap 0.2; done ;;
    esac
}
# catches PID NAME SIGNO: PID runs NAME and has a handler for signal SIGNO
# (SigCgt of its status). The name matters: between fork and exec the pid
# is a copy of this shell, which catches almost everything.
catches() {
    local line name=""
    while read -r line; do
        [[ $line == Name:* ]] && name=${line##*[[:space:]]}
        [[ $line == SigCgt:* && $name == "$2" ]] && (( 16#${line##*[[:space:]]} >> ($3 - 1) & 1 )) && return 0
    done < "/proc/$1/status"
    return 1
}
pause_game() { kill -STOP "$game_pid"; }
resume_game() { kill -CONT "$game_pid"; }
stop_games() { local p; for p in "${pids[@]}"; do kill "$p"; kill -CONT "$p"; wait "$p"; done 2>/dev/null; }
toggle_log() { # 1 | 0
    case "$game" in
        glxgears) printf ':logging=%s;' "$1" | socat -t 0.5 - "ABSTRACT-CONNECT:mangohud-$game_pid" >/dev/null 2>&1 ;;
        frameloop) kill -USR1 "$game_pid" ;;
    esac
}
# The summary file comes last: it tells a log is complete.
summaries() { local f; nsum=0; for f in "$game_dir"/*_summary.csv; do [ -e "$f" ] && nsum=$((nsum + 1)); done; }
# log_frames SECS [LOAD]: log SECS seconds of frames, under LOAD if given
# (started WARMUP s before, stopped as soon as logging stops). The new log's
# path goes into $log ("" if none). Logs stay in $game_dir (moving each one
# would cost forks) until keep_logs. $loadless: 1 if LOAD was not running
# any more when logging stopped.
declare -A seen
log_frames() {
    local n i f
    for f in "$game_dir"/*.csv; do seen[$f]=1; done
    summaries; n=$nsum
    if [ -n "${2:-}" ]; then start_load "$2"; nap "$WARMUP"; fi
    toggle_log 1
    snap; snap0=$snap
    nap "$1"
    snap; snap1=$snap
    toggle_log 0
    loadless=0; ! load_died || loadless=1
    stop_load
    for ((i = 0; i < 120; i++)); do
        summaries; [ "$nsum" -gt "$n" ] && break
        nap 0.25
    done
    # The log: the new csv that is not a summary.
    log=""
    for f in "$game_dir"/*.csv; do [[ -e $f && -z ${seen[$f]:-} && $f != *_summary.csv ]] && log=$f; done
}
# snap: what the measured span cost, as counters read before and after it
# (builtins only), into $snap: the game's threads' time on a CPU, their time
# runnable but waiting for one (schedstat's run_delay), their timeslices
# and their moves to another CPU (sched's se.nr_migrations);
# the scheduler process's CPU ticks (0: the kernel's own); the guest's idle
# ticks (all CPUs) and context switches.
snap() {
    local f a k v run=0 wait=0 slices=0 migr=0 ticks=0 idle=0 ctxt=0
    for f in /proc/"$game_pid"/task/*/schedstat; do
        read -r -a a < "$f" 2>/dev/null || continue
        run=$((run + a[0])) wait=$((wait + a[1])) slices=$((slices + a[2]))
        while read -r k _ v; do [ "$k" = se.nr_migrations ] && migr=$((migr + v)) && break; done < "${f%stat}"
    done
    # (fields 14 and 15: utime, stime; a comm with spaces would shift them: ours have none)
    if [ -n "$sched_pid" ] && read -r -a a < "/proc/$sched_pid/stat" 2>/dev/null; then ticks=$((a[13] + a[14])); fi
    while read -r -a a; do
        case ${a[0]:-} in cpu) idle=$((a[4] + a[5])) ;; ctxt) ctxt=${a[1]} ;; esac
    done < /proc/stat
    snap="$run $wait $slices $ticks $idle $ctxt ${EPOCHREALTIME/./} $migr"
}
# keep_logs: the game's logs into $OUT/logs/<game>/ (one mv for many runs).
keep_logs() { mv "$game_dir"/*.csv "$OUT/logs/$game/" 2>/dev/null; seen=(); }
# glxgears' warm-up: 3-s probes until two in a row agree on the number of
# frames within 15 %. (Counted with builtins: piping `scx_gamer report
# --json` through python took 40 s a probe here.)
warm_up() {
    local prev=0 n i lines
    for i in $(seq 20); do
        log_frames 3
        n=0
        # (MangoHud 0.6.8: a system line and its header, then the frame header)
        [ -z "$log" ] || { mapfile -t lines < "$log"; n=$(( ${#lines[@]} > 3 ? ${#lines[@]} - 3 : 0 )); }
        rm -f "$game_dir"/*.csv
        echo "glxgears warm-up probe $i: $n frames in 3 s"
        [ "$n" -gt 0 ] && [ "$prev" -gt 0 ] && [ $((n * 100)) -ge $((prev * 85)) ] && [ $((n * 100)) -le $((prev * 115)) ] && return 0
        prev=$n
    done
}

# --- schedulers ---------------------------------------------------------------------
# start_sched NAME [WORKLOAD]: attach NAME (gamer-tuned: WORKLOAD's pick),
# the scx_gamer builds told every game's pid. $status: ok or no-attach;
# $o: the sched_ext ops attached.
sched_pid=""
start_sched() {
    local gp=() p
    for p in "${pids[@]}"; do gp+=(--game-pid "$p"); done
    sched_pid="" status=ok
    case "$1" in
        eevdf) ;;
        gamer) "${normal[@]}" "$BIN" run "${gp[@]}" >/dev/null 2>&1 & sched_pid=$! ;;
        gamer-tuned)
            # shellcheck disable=SC2046 # the flags are words
            "${normal[@]}" "$BIN" run $(cat "$OUT/tuned/$2.flags") "${gp[@]}" >/dev/null 2>&1 & sched_pid=$! ;;
        bpfland) "${normal[@]}" "$PEERS/bin/scx_bpfland" >/dev/null 2>&1 & sched_pid=$! ;;
        lavd) "${normal[@]}" "$PEERS/bin/scx_lavd" >/dev/null 2>&1 & sched_pid=$! ;;
        *)  # another scx_gamer build, with its defaults (VARIANTS)
            local v
            for v in ${VARIANTS:-}; do
                [ "${v%%=*}" = "$1" ] && { "${normal[@]}" "${v#*=}" run "${gp[@]}" >/dev/null 2>&1 & sched_pid=$!; }
            done
            [ -n "$sched_pid" ] || echo "no scheduler named $1" >&2 ;;
    esac
    if [ "$1" != eevdf ] && ! { [ -n "$sched_pid" ] && wait_state enabled 120; }; then status=no-attach; fi
    read_ops; o=$ops
}
stop_sched() {
    [ -n "$sched_pid" ] || return 0
    kill -INT "$sched_pid" 2>/dev/null; wait "$sched_pid" 2>/dev/null
    wait_state disabled 30
    sched_pid=""
}

# --- 1. the tuner picks "gamer-tuned" for the warm game (under the cpu load) ----
# `scx_gamer attach` as a player would run it: glxgears through MangoHud's
# control socket, the frame-loop game through its streamed log (logging on
# for the whole tune). The tuner's CPU use is sampled once a second from
# /proc/<pid>/stat (utime+stime) with shell builtins only: a sampler that
# forks date/awk every second costs more than the tuner under TCG.
LOADS=${LOADS:-idle cpu burst}
SCHEDS=${SCHEDS:-eevdf gamer gamer-tuned bpfland lavd}
tune_game() { # WORKLOAD
    local w=$1 d="$OUT/tune/$1" tpid f t0 now
    mkdir -p "$d"
    start_load cpu
    [ "$w" = frameloop ] && toggle_log 1
    "${normal[@]}" "$BIN" attach --pid "$game_pid" --trials trials/default.toml --measure blocks --trial-secs "$TUNE_SECS" \
        --warmup-secs 1 --repeats 1 --seed 1 --data "$d/ml_data" > "$d/tune.out" 2>&1 &
    tpid=$!
    echo -e "secs\tticks" > "$d/cpu.tsv"
    t0=${EPOCHREALTIME/./}
    while [ -e "/proc/$tpid/stat" ]; do
        read -r -a f < "/proc/$tpid/stat" 2>/dev/null || break
        now=${EPOCHREALTIME/./}
        # (fields 14 and 15; a comm with spaces would shift them: ours has none)
        printf '%d.%02d\t%d\n' $(( (now - t0) / 1000000 )) $(( (now - t0) / 10000 % 100 )) $(( f[13] + f[14] )) >> "$d/cpu.tsv"
        nap 1
    done
    wait "$tpid"; echo "tune $w: exit $?" >> "$d/tune.out"
    [ "$w" = frameloop ] && toggle_log 0
    ! load_died || echo "tune $w: the cpu load died during the tune (see load-cpu.err)" | tee -a "$d/tune.out" "$OUT/errors.txt"
    stop_load
    sleep 1; rm -f "$game_dir"/*.csv
    getconf CLK_TCK > "$d/clk_tck"
    "$BIN" report --data "$d/ml_data" --best "$w" > "$OUT/tuned/$w.flags" 2> "$d/best.err" \
        || : > "$OUT/tuned/$w.flags"   # nothing to pick: the defaults
    echo "tuned $w: $(cat "$OUT/tuned/$w.flags")"
}

# --- 2. the comparison: every scheduler in every cell, order shuffled per rep ---
# Per repetition the schedulers in a shuffled order; each attaches once (with
# the machine quiet: attaching under a full load is slow in TCG) for all the
# games (gamer-tuned once per game: its config is the game's pick) and is
# measured on every game under every load, both in shuffled orders.
# runs.tsv gets a line per run.
shuffle() { # SEED WORDS...: the words into ${order[@]}, in an order fixed by SEED
    local i j t
    order=("${@:2}"); RANDOM=$1
    for ((i = ${#order[@]} - 1; i > 0; i--)); do
        j=$((RANDOM % (i + 1))); t=${order[i]}; order[i]=${order[j]}; order[j]=$t
    done
}
# measure SCHED WORKLOAD REP SEED: WORKLOAD's runs under every load.
measure() {
    local s=$1 w=$2 rep=$3 load st f line
    use_game "$w"; resume_game
    shuffle "$4" $LOADS
    for load in "${order[@]}"; do
        log_frames "$MEASURE" "$load"
        [ -z "$sched_pid" ] || kill -0 "$sched_pid" 2>/dev/null || status=exited
        read_ops; [ "$ops" = "$o" ] || status="ops-changed"
        st=$status; f=logs/$w/${log##*/}
        [ -n "$log" ] || { st="$status,no-log"; f=-; }
        [ "$loadless" = 0 ] || st="$st,load-died"
        printf -v line '%s\t%s\t%s\t%s\t%s\t%s\t%s' "$rep" "$w" "$load" "$s" "$o" "$st" "$f"
        echo "$line" >> "$OUT/runs.tsv"; echo "$line"
        costs "$rep" "$w" "$load" "$s"
    done
    pause_game
}

# costs REP WORKLOAD LOAD SCHED: a line of costs.tsv for the span just
# measured (snap0 to snap1): per second of it, the game's CPU ms and wait
# ms, its timeslices, the scheduler process's CPU ms, the guest's idle
# share (all CPUs, %), context switches, and the game's migrations.
echo -e "rep\tworkload\tload\tscheduler\tgame_cpu_ms_s\tgame_wait_ms_s\tgame_slices_s\tsched_cpu_ms_s\tguest_idle_pct\tctxt_s\tgame_migrations_s" > "$OUT/costs.tsv"
costs() {
    local b e us hz=100  # (USER_HZ: the tick of /proc/stat, always 100 on Linux)
    read -r -a b <<< "$snap0"; read -r -a e <<< "$snap1"
    us=$((e[6] - b[6])); [ "$us" -gt 0 ] || return 0
    printf '%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n' "$@" \
        $(( (e[0] - b[0]) / us )) $(( (e[1] - b[1]) / us )) $(( (e[2] - b[2]) * 1000000 / us )) \
        $(( (e[3] - b[3]) * 1000 * 1000000 / hz / us )) $(( (e[4] - b[4]) * 100 * 1000000 / hz / us / ncpu )) \
        $(( (e[5] - b[5]) * 1000000 / us )) $(( (e[7] - b[7]) * 1000000 / us )) >> "$OUT/costs.tsv"
}

# Every game started, warm and tuned in turn; then paused.
games=()
for w in $WORKLOADS; do
    start_game "$w"
    if ! kill -0 "$game_pid" 2>/dev/null; then
        echo "$w: the game is not running (see game-$w.err); no runs" | tee -a "$OUT/errors.txt"
        unset "pids[$w]"
        continue
    fi
    games+=("$w")
    case " $SCHEDS " in *" gamer-tuned "*) tune_game "$w" ;; esac
    pause_game
done
for rep in $(seq "$REPS"); do
    [ ${#games[@]} -gt 0 ] || break
    shuffle $((rep * 100)) $SCHEDS; scheds=("${order[@]}")
    for si in "${!scheds[@]}"; do
        s=${scheds[si]}
        shuffle $((rep * 100 + si)) "${games[@]}"; ws=("${order[@]}")
        [ "$s" = gamer-tuned ] || start_sched "$s"
        for wi in "${!ws[@]}"; do
            w=${ws[wi]}
            [ "$s" != gamer-tuned ] || start_sched "$s" "$w"
            measure "$s" "$w" "$rep" $((rep * 1000 + si * 10 + wi))
            [ "$s" != gamer-tuned ] || stop_sched
        done
        stop_sched
    done
    for w in "${games[@]}"; do use_game "$w"; keep_logs; done
done
stop_games

# --- 3. the cost of a config change ------------------------------------------------
if [ "${SWITCH_GAP:-1}" = 1 ]; then
    bash "$here/switch-gap-guest.sh" "$BIN" 5 > "$OUT/switch-gap.txt" 2>&1
    cat "$OUT/switch-gap.txt"
fi
