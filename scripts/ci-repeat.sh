#!/usr/bin/env bash
# ci-repeat.sh [--runs N] [--load] [--logs DIR]: run .ci/run N times (default
# 3) in a row, each from a fresh clone of this repository's HEAD under /tmp
# (as CI checks out: a cold build, nothing from this working tree), and
# print each run's duration and result. --load keeps one core busy on the
# host the whole time (stress-ng --cpu 1), to show that the suite does not
# depend on an idle machine. Logs: DIR (default /var/tmp/scx-gamer-ci-repeat),
# one run-K.log per run and summary.txt. Exit status: 0 only if every run
# passed.
set -euo pipefail
runs=3
load=0
logs=/var/tmp/scx-gamer-ci-repeat
while [ $# -gt 0 ]; do
    case "$1" in
        --runs) runs=$2; shift 2 ;;
        --load) load=1; shift ;;
        --logs) logs=$2; shift 2 ;;
        -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
        *) echo "ci-repeat: unknown option '$1'" >&2; exit 2 ;;
    esac
done
repo=$(cd "$(dirname "$0")/.." && pwd)
head=$(git -C "$repo" rev-parse HEAD)
mkdir -p "$logs"

pids=()
run_pgid=""
# Stopped (Ctrl-C, kill): the load and the running clone's whole tree go
# too (.ci/run runs in a session of its own), not just this script.
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    [ -z "$run_pgid" ] || kill -- "-$run_pgid" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM
if [ "$load" = 1 ]; then
    command -v stress-ng >/dev/null || {
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends stress-ng
    }
    stress-ng --cpu 1 --quiet &
    pids+=($!)
fi

failed=0
for k in $(seq "$runs"); do
    clone=$(mktemp -d /tmp/scx-gamer-ci.XXXXXX)
    chmod 755 "$clone"   # as a checkout is; mktemp's 0700 keeps the player (nobody) out
    git clone -q "$repo" "$clone"
    git -C "$clone" checkout -q "$head"
    start=$(date +%s)
    setsid "$clone/.ci/run" > "$logs/run-$k.log" 2>&1 &
    run_pgid=$!
    if wait "$run_pgid"; then result=pass; else result="FAIL (status $?)"; failed=1; fi
    run_pgid=""
    secs=$(( $(date +%s) - start ))
    under=""
    [ "$load" = 0 ] || under=", host under stress-ng --cpu 1"
    line="run $k of $runs: $result in $((secs / 60)) min $((secs % 60)) s (commit ${head:0:7}$under)"
    echo "$line" | tee -a "$logs/summary.txt"
    grep -E '^test result:|^test .* FAILED|panicked' "$logs/run-$k.log" | sed 's/^/    /' | tee -a "$logs/summary.txt" || true
    rm -rf "$clone"
done
exit "$failed"
