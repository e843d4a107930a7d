#!/usr/bin/env bash
# The guest half of bench/tuner-cpu.sh (see there):
#   bench/tuner-cpu-guest.sh BUDGET_MINS NAME=BINARY...
set -euo pipefail
budget=$1; shift
ncpu=$(nproc)
hz=$(getconf CLK_TCK)
ticks() { local a; read -r -a a < "/proc/$1/stat"; echo $((a[13] + a[14])); }
# "1m2.500s" → 62.5
secs() { local m=${1%%m*} s=${1#*m}; awk -v m="$m" -v s="${s%s}" 'BEGIN { print m * 60 + s }'; }
printf 'build\ttuner_cpu_s\tgame_cpu_s\ttuner/game\tsegments\tloads\treport_share\n'
for v in "$@"; do
    name=${v%%=*} bin=${v#*=} d=/tmp/tuner-cpu-$name
    mkdir -p "$d"
    MANGOHUD=1 MANGOHUD_CONFIG=output_folder=$d,log_interval=0 "$FRAMELOOP" --fps 60 --work-us 3000 --threads $((ncpu - 1)) \
        --seconds 86400 --output-folder "$d" --exe fl-game > /dev/null 2>&1 &
    game=$!
    sleep 5
    g0=$(ticks "$game")
    # With PERF=1 the attach runs under a sampling profiler (its CPU time
    # then includes perf's own).
    profile=()
    [ "${PERF:-0}" = 1 ] && profile=(perf record -q -e cpu-clock -F 100 --call-graph dwarf,8192 -o "$d/perf.data" --)
    # (a subshell: `times` prints its children's CPU time, the attach's)
    # shellcheck disable=SC2086 # (ATTACH_ARGS: words)
    ( "${profile[@]}" "$bin" attach --pid "$game" --trials trials/default.toml --measure interleaved --budget-mins "$budget" --seed 1 \
        --data "$d/ml_data" ${ATTACH_ARGS:-} > "$d/attach.out" 2>&1 || echo "attach exit $?" >> "$d/attach.out"; times > "$d/times" )
    g1=$(ticks "$game")
    kill "$game"; wait "$game" 2>/dev/null || true
    read -r user sys <<< "$(sed -n 2p "$d/times")"
    tuner=$(awk -v u="$(secs "$user")" -v s="$(secs "$sys")" 'BEGIN { print u + s }')
    gamecpu=$(awk -v a="$g0" -v b="$g1" -v hz="$hz" 'BEGIN { print (b - a) / hz }')
    segments=$(grep -c 'INFO.*trial [0-9]* \[' "$d/attach.out" || true)
    loads=$(grep -o '"load_ms":[0-9]' "$d"/ml_data/*.json | wc -l)
    share=$("$bin" report --data "$d/ml_data" --json 2>/dev/null | grep -o '"tuner_cpu_share":[0-9.e-]*' | head -1 | cut -d: -f2)
    printf '%s\t%.2f\t%.2f\t%.4f\t%s\t%s\t%s\n' "$name" "$tuner" "$gamecpu" "$(awk -v t="$tuner" -v g="$gamecpu" 'BEGIN { print t / g }')" "$segments" "$loads" "${share:--}"
    grep -E 'WARN|ERROR|attach exit' "$d/attach.out" | head -5 >&2 || true
    mkdir -p "$OUT/$name"; cp -r "$d/ml_data" "$d/attach.out" "$d/times" "$OUT/$name/"
    if [ "${PERF:-0}" = 1 ]; then
        # Per thread (comm), then per function, the guest's kernel symbols
        # resolved here.
        perf report -q -i "$d/perf.data" --stdio --no-children --sort comm,dso,sym --percent-limit 0.3 -g none > "$OUT/$name/perf.txt" 2>&1 || true
        perf report -q -i "$d/perf.data" --stdio --no-children --sort comm -g none > "$OUT/$name/perf-threads.txt" 2>&1 || true
        # Inclusive: each function with everything it calls (the tuner's
        # own steps: a load, a /proc scan, a log read, the ranking).
        perf report -q -i "$d/perf.data" --stdio --children --sort sym --percent-limit 1 -g none > "$OUT/$name/perf-inclusive.txt" 2>&1 || true
        # Who calls the heaviest functions (callers, 2 % of the samples and up).
        perf report -q -i "$d/perf.data" --stdio --no-children --sort sym --percent-limit 2 -g caller,0.5,callee > "$OUT/$name/perf-callers.txt" 2>&1 || true
    fi
done
