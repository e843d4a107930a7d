#!/usr/bin/env bash
# The main job on a machine without a sched_ext kernel: boot the VM test bed
# and run a real tune there — MangoHud 0.6.8 on glxgears under Xvfb (Mesa's
# software renderer) as the game, run as `nobody` as sudo would run it as
# the player — with a short trial list, measured as tune measures by default
# (interleaved: rounds of short segments, every contender once per round),
# for a play-time budget, then print the ranking.
#
#   scripts/run-in-vm.sh [BUDGET_MINS] [-- more scx_gamer tune flags...]
#
# TCG emulation makes the VM slow: figures are only comparable with each
# other. On a machine with a sched_ext kernel, tune a real game instead:
#   sudo scx_gamer tune -- mangohud ./game
set -euo pipefail
cd "$(dirname "$0")/.."
mins=${1:-2}
[ $# -gt 0 ] && shift
[ "${1:-}" = "--" ] && shift
extra=""
[ $# -gt 0 ] && extra=$(printf '%q ' "$@")
. scripts/vm-job.sh
cat > "$script" <<GUEST
export LP_NUM_THREADS=0 MANGOHUD_LOG_LEVEL=off DISPLAY=:7 SUDO_UID=65534 SUDO_GID=65534
Xvfb :7 -screen 0 320x240x24 -nolisten tcp >/dev/null 2>&1 &
for _ in \$(seq 100); do [ -e /tmp/.X11-unix/X7 ] && break; sleep 0.1; done
echo "kernel \$(uname -r), \$(nproc) CPUs (TCG: timings are relative only)"
$bin tune --trials trials/ci.toml --budget-mins $mins --data /tmp/ml_data $extra \
    -- mangohud glxgears -geometry 64x64 2>&1 | grep --line-buffered -v '^log versioning\|FPS\$'
rc=\${PIPESTATUS[0]}
echo; echo "best config as flags: \$($bin report --data /tmp/ml_data --best glxgears 2>&1)"
exit \$rc
GUEST
# The budget, the start (settling, the last round) and the boot.
scripts/vm-run --timeout "$(awk -v m="$mins" 'BEGIN { printf "%d", m * 60 + 400 }')" -- bash "$script"
