#!/usr/bin/env bash
# Benchmark: the tuner's own CPU time beside the game's, in the TCG VM test
# bed, for one or more scx_gamer builds.
#
#   bench/tuner-cpu.sh [--budget-mins M] [--vcpus N] [--attach-args "ARGS"] [--perf] NAME=BINARY...
#
# Per build, in one VM boot: the frame-loop game (60 fps, 3 ms of work per
# frame, a render thread and vCPU-1 workers) logging through MangoHud's
# environment, and `BINARY attach --measure interleaved --budget-mins M`
# with trials/default.toml, as a player runs it. Prints, per build, the
# attach process's CPU time (user + system, its own and its threads', from
# the shell's `times` once it has exited: no sampler runs beside it), the
# game's over the same span, their ratio, the number of segments and of
# scheduler loads, and the share the report computes from the trials.
# ARGS go to every attach (e.g. "--guard-secs 0" for
# examples/switch_disturbance.rs). --perf samples the attach with perf
# (cpu-clock, 100 Hz, DWARF call graphs) and keeps its report per thread,
# per function, per function with all it calls and the callers of the
# heaviest (perf-threads.txt, perf.txt, perf-inclusive.txt,
# perf-callers.txt; the guest reads the call graphs for minutes, so the
# VM's timeout grows): a profile, not a measurement (the CPU figures then
# include perf's own). Each build's store is kept in the
# results folder, /var/tmp/scx-gamer-bench/tuner-cpu-<time>/NAME.
# BINARY must not be under /tmp (the VM has its own); build each one into a
# target folder of its own (e.g. a git worktree of the old commit).
set -euo pipefail
cd "$(dirname "$0")/.."
budget=3 vcpus=4 attach_args="" perf=0
while [ $# -gt 0 ]; do
    case "$1" in
        --budget-mins) budget=$2; shift 2 ;;
        --vcpus) vcpus=$2; shift 2 ;;
        --attach-args) attach_args=$2; shift 2 ;;
        --perf) perf=1; shift ;;
        -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
        *=*) [ -x "${1#*=}" ] || { echo "tuner-cpu.sh: ${1#*=} is not an executable" >&2; exit 2; }; break ;;
        *) echo "tuner-cpu.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
[ $# -gt 0 ] || { echo "tuner-cpu.sh: name at least one build, NAME=BINARY" >&2; exit 2; }
scripts/setup.sh > /dev/null
BPF_CLANG=${BPF_CLANG:-clang-19} cargo build --locked --release --quiet --bin frameloop
export FRAMELOOP=${CARGO_TARGET_DIR:-$PWD/target}/release/frameloop ATTACH_ARGS=$attach_args PERF=$perf
export OUT=/var/tmp/scx-gamer-bench/tuner-cpu-$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT"
echo "tuner-cpu.sh: results in $OUT"
# The CPU model of the figures in BENCHMARKS.md (see scripts/vm-run).
SCX_GAMER_VM_CPU=${SCX_GAMER_VM_CPU:-max} scripts/vm-run --smp "$vcpus" --mem 4096 --timeout $((600 + ${budget%.*} * 120 * $# + perf * 1800 * $#)) \
    --share "$OUT" --env FRAMELOOP --env ATTACH_ARGS --env PERF --env OUT -- bash bench/tuner-cpu-guest.sh "$budget" "$@" | tee "$OUT/table.tsv"
