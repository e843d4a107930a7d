#!/usr/bin/env bash
# Benchmark: the cost of changing scheduler config, in the TCG VM test bed.
#
#   bench/switch-gap.sh [ROUNDS]
#
# A) in-process (what the tuner does): `scx_gamer cycle` preloads the next
#    config while the current one is attached; reports load time, detach time
#    and the gap (old detached -> new enabled) of every switch.
# B) process restart (the old shell-script workflow): SIGINT the running
#    `scx_gamer run`, start a new one with the next config; the gap is the
#    time from sched_ext "disabled" (old gone) to "enabled" (new attached).
# TCG timings are relative: compare A with B, not with real hardware.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
. scripts/vm-job.sh
# The CPU model of the figures in BENCHMARKS.md (see scripts/vm-run).
SCX_GAMER_VM_CPU=${SCX_GAMER_VM_CPU:-max} scripts/vm-run --timeout 900 -- bash bench/switch-gap-guest.sh "$bin" "$rounds"
