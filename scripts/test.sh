#!/usr/bin/env bash
# Run every test: rustfmt and clippy, unit tests on the host, and the VM
# tests that load the scheduler into a real sched_ext kernel (scripts/vm-run).
# Installs what it needs first (scripts/setup.sh), so it works on a fresh
# machine.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export BPF_CLANG=${BPF_CLANG:-clang-19}
# Style and lints first: a formatting slip or a clippy warning fails the run
# before the long tests start.
cargo fmt --check
cargo clippy --locked --all-targets -- -D warnings
# The VM tests are one test binary (tests/vm/): it boots one VM per core
# and runs all their scenarios in them (tests/support/mod.rs).
# --no-fail-fast: one failing test binary must not hide the others' results.
rc=0
cargo test --locked --no-fail-fast "$@" || rc=$?
# The scheduler's VM tests once more on the oldest sched_ext kernel the
# archive offers (the run above used the newest): the range the README
# claims is the range tested. Only with no test filter given.
if [ $# -eq 0 ]; then
    oldest=${SCX_GAMER_CACHE:-/var/cache/scx_gamer}/kernel-oldest
    echo "test.sh: the scheduler's VM tests (vm sched::) on the oldest kernel, $(cat "$oldest/version")"
    # (Not the harness's own test of a hung scenario: it tests no kernel;
    # nor the input delay's, which needs the evdev module the archive has
    # for 7.2 and later only.)
    SCX_GAMER_VM_KERNEL=$oldest cargo test --locked --test vm -- sched:: --skip a_hung_scenario \
        --skip real_key_presses_open_the_input_window_on_every_path || rc=$?
fi
exit $rc
