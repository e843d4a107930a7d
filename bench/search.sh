#!/usr/bin/env bash
# Benchmark: trials the tuner's search strategies need to reach the best
# config, against grid search, on simulated games (examples/search_sim.rs).
#
#   bench/search.sh [SEEDS]     (default 200 landscapes per family)
#
# Drives the real search code (src/tune/search/) with synthetic p99
# landscapes, lognormal trial noise and a drifting frame rate, through the
# runner's block protocol (each batch + one baseline, scores relative to
# it). Prints a Markdown table per noise level; no root, no VM, no game.
set -euo pipefail
cd "$(dirname "$0")/.."
seeds=${1:-200}
export BPF_CLANG=${BPF_CLANG:-clang-19}
cargo build --locked --release --quiet --example search_sim
target/release/examples/search_sim "$seeds"
