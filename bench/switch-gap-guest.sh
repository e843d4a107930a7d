#!/usr/bin/env bash
# The guest half of bench/switch-gap.sh (also run by scripts/bench.sh):
#   switch-gap-guest.sh SCX_GAMER_BINARY ROUNDS
# Runs as root in the VM test bed; prints one summary line per figure.
set -eu
bin=$1
rounds=${2:-5}
slices="500 1000 2000 4000 8000 16000"
configs=""; n=0
for s in $slices; do n=$((n+1)); [ $n -gt $((rounds + 1)) ] && break; configs="$configs --config slice_us=$s"; done
echo "== A: in-process switch ($rounds switches)"
$bin cycle --hold-secs 1 $configs 2>/dev/null > /tmp/a.json
python3 - /tmp/a.json <<'PY'
import json, sys, statistics as st
rs = [json.loads(l) for l in open(sys.argv[1])]
load = [r["load_ms"] for r in rs]; gaps = [r["gap_ms"] for r in rs if r["gap_ms"] is not None]
det = [r["detach_ms"] for r in rs if r["gap_ms"] is not None]
print(f"A load_ms   median {st.median(load):8.1f}  min {min(load):8.1f}  max {max(load):8.1f}  (n={len(load)})")
print(f"A detach_ms median {st.median(det):8.1f}  min {min(det):8.1f}  max {max(det):8.1f}  (n={len(det)})")
print(f"A gap_ms    median {st.median(gaps):8.1f}  min {min(gaps):8.1f}  max {max(gaps):8.1f}  (n={len(gaps)})")
PY
echo "== B: process restart ($rounds switches)"
now() { date +%s%N; }
wait_state() { while [ "$(cat /sys/kernel/sched_ext/state)" != "$1" ]; do sleep 0.0005; done; }
$bin run --slice-us 500 2>/dev/null & P=$!
wait_state enabled
: > /tmp/b.txt
for i in $(seq $rounds); do
  kill -INT $P; wait_state disabled; t0=$(now); wait $P
  $bin run --slice-us $((1000 * i)) 2>/dev/null & P=$!
  wait_state enabled; t1=$(now)
  echo $(( (t1 - t0) / 1000 )) >> /tmp/b.txt
done
kill -INT $P; wait $P
python3 - /tmp/b.txt <<'PY'
import sys, statistics as st
g = [int(l)/1000 for l in open(sys.argv[1])]
print(f"B gap_ms    median {st.median(g):8.1f}  min {min(g):8.1f}  max {max(g):8.1f}  (n={len(g)})")
PY
