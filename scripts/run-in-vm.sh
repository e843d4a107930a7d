#!/usr/bin/env bash
# The main job on a machine without a sched_ext kernel: boot the VM test bed
# and run `scx_gamer run` there on a game-like load (a render loop of CPU
# bursts and sleeps, plus CPU hogs in the background), printing its stats
# every second, then stop it with SIGINT.
#
#   scripts/run-in-vm.sh [SECONDS] [-- scx_gamer run flags...]
#
# On a machine with a sched_ext kernel, run the scheduler directly instead:
#   sudo scx_gamer run --game-pid "$(pidof game)" --stats 1
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
[ $# -gt 0 ] && shift
[ "${1:-}" = "--" ] && shift
. scripts/vm-job.sh
cat > "$script" <<GUEST
game() { while :; do i=0; while [ \$i -lt 300 ]; do i=\$((i+1)); done; sleep 0.004; done; }
game & GAME=\$!
HOGS=""; for _ in \$(seq \$(( \$(nproc) + 1 ))); do ( while :; do :; done ) & HOGS="\$HOGS \$!"; done
echo "game-like load: pid \$GAME, \$(( \$(nproc) + 1 )) CPU hogs on \$(nproc) CPUs, kernel \$(uname -r)"
$bin run --game-pid \$GAME --stats 1 $(printf '%q ' "$@") &
SCHED=\$!
sleep $secs
echo "sched_ext: \$(cat /sys/kernel/sched_ext/state), ops: \$(cat /sys/kernel/sched_ext/root/ops 2>/dev/null)"
kill -INT \$SCHED; wait \$SCHED; rc=\$?
kill \$HOGS \$GAME
exit \$rc
GUEST
scripts/vm-run --timeout $((secs + 120)) -- bash "$script"
