#!/usr/bin/env bash
# Run every test: unit tests on the host, and the VM tests that load the
# scheduler into a real sched_ext kernel (scripts/vm-run). Installs what it
# needs first (scripts/setup.sh), so it works on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export BPF_CLANG=${BPF_CLANG:-clang-19}
# VM tests boot one VM at a time (they take a lock); the rest run in parallel.
# --no-fail-fast: one failing test binary must not hide the others' results.
cargo test --locked --no-fail-fast "$@"
