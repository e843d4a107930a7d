#!/usr/bin/env bash
# Benchmark: block trials against the interleaved race on simulated games
# whose scenes change (examples/race_sim.rs): wrong-verdict rates (A/A, a
# true 5 % and 20 % gain) and the play time to a verdict.
#
#   bench/race.sh [SEEDS [SEGMENT_SECS...]]
#
# SEEDS games per case (default 200); the race with each segment length
# given (default 5 s).
#
# Drives the real race (src/tune/race.rs) and verdict (src/verdict/score.rs)
# code with synthetic frame times; no root, no VM, no game.
set -euo pipefail
cd "$(dirname "$0")/.."
export BPF_CLANG=${BPF_CLANG:-clang-19}
cargo build --locked --release --quiet --example race_sim
[ $# -gt 0 ] || set -- 200
target/release/examples/race_sim "$@"
