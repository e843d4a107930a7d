#!/usr/bin/env bash
# scx_gamer vs the kernel's EEVDF, scx_bpfland and scx_lavd, in the VM test
# bed, on two game-like workloads under two background loads; writes the
# tables into BENCHMARKS.md.
#
#   scripts/bench.sh [--reps N] [--measure SECS] [--vcpus N]
#                    [--workloads "glxgears frameloop"] [--loads "idle cpu burst"]
#                    [--scheds "eevdf gamer gamer-tuned bpfland lavd"]
#                    [--variant NAME=BINARY]... [--no-write]
#
# --variant adds another scx_gamer build (run with its defaults) under NAME,
# for policy experiments: e.g. --scheds "eevdf bpfland gamer" --variant
# old=/var/tmp/scx_gamer-old (not under /tmp: the VM has its own). Without
# gamer-tuned in --scheds there is no tune.
#
# 1. Setup (cached): scripts/setup.sh, stress-ng, and the peers built from
#    their published crates with `cargo install --locked` at 1.1.4 into
#    $SCX_GAMER_CACHE/peers (never into the repo).
# 2. In one VM boot (bench/compare-guest.sh): per workload one warm copy of
#    the game, and a short `scx_gamer attach` under the cpu load picks its
#    "gamer-tuned"; then per repetition every scheduler, in a shuffled
#    order, attaches once and is measured on every game (the others are
#    stopped) under every load (both shuffled too). Last, the config-switch
#    gap.
# 3. On the host: `bench_tables` turns the logs into the tables, which
#    replace the generated part of BENCHMARKS.md (unless --no-write).
#
# TCG emulation: timings are relative to each other, never to hardware.
set -euo pipefail
cd "$(dirname "$0")/.."

reps=3
measure=8
vcpus=4
write=1
workloads="glxgears frameloop"
loads="idle cpu burst"
all_scheds="eevdf gamer gamer-tuned bpfland lavd"
scheds=$all_scheds
variants=""
while [ $# -gt 0 ]; do
    case "$1" in
        --reps) reps=$2; shift 2 ;;
        --measure) measure=$2; shift 2 ;;
        --vcpus) vcpus=$2; shift 2 ;;
        --workloads) workloads=$2; shift 2 ;;
        --loads) loads=$2; shift 2 ;;
        --scheds) scheds=$2; shift 2 ;;
        --variant)
            [[ "$2" =~ ^[a-zA-Z0-9_-]+=.+ ]] && [ -x "${2#*=}" ] \
                || { echo "bench.sh: --variant wants NAME=BINARY (an executable), not '$2'" >&2; exit 2; }
            variants="$variants ${2%%=*}=$(realpath "${2#*=}")"; shift 2 ;;
        --no-write) write=0; shift ;;
        -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
        *) echo "bench.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
    esac
done
for w in $workloads; do
    case "$w" in glxgears|frameloop) ;; *) echo "bench.sh: unknown workload '$w' (glxgears, frameloop)" >&2; exit 2 ;; esac
done
for l in $loads; do
    case "$l" in idle|cpu|burst) ;; *) echo "bench.sh: unknown load '$l' (idle, cpu, burst)" >&2; exit 2 ;; esac
done
given_scheds=$scheds
for v in $variants; do scheds="$scheds ${v%%=*}"; done
for s in $scheds; do
    case "$s" in eevdf|gamer|gamer-tuned|bpfland|lavd) ;; *) [[ " $variants" == *" $s="* ]] || { echo "bench.sh: unknown scheduler '$s' (eevdf, gamer, gamer-tuned, bpfland, lavd, or a --variant)" >&2; exit 2; } ;; esac
done
for v in "$reps" "$measure" "$vcpus"; do
    [[ "$v" =~ ^[1-9][0-9]*$ ]] || { echo "bench.sh: '$v' is not a positive whole number" >&2; exit 2; }
done
started=$SECONDS

# --- 1. setup -----------------------------------------------------------------------
. scripts/vm-job.sh        # setup.sh, release build, $bin
command -v stress-ng >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends stress-ng
peers=${SCX_GAMER_CACHE:-/var/cache/scx_gamer}/peers
peer_version=1.1.4
for p in scx_bpfland scx_lavd; do
    if ! "$peers/bin/$p" --version 2>/dev/null | grep -q "$peer_version"; then
        echo "bench.sh: building $p $peer_version (once; cached in $peers)"
        BPF_CLANG=clang-19 cargo install --quiet --locked --root "$peers" "$p@$peer_version"
    fi
done
cargo build --locked --release --quiet --bin frameloop --example bench_tables

# --- 2. the VM run ---------------------------------------------------------------------
out=/var/tmp/scx-gamer-bench/$(date +%Y%m%d-%H%M%S)
mkdir -p "$out"
echo "bench.sh: results in $out"
export BIN=$bin FRAMELOOP=$PWD/target/release/frameloop PEERS=$peers OUT=$out
export REPS=$reps WARMUP=1 MEASURE=$measure TUNE_SECS=5 WORKLOADS=$workloads LOADS=$loads SCHEDS=$scheds VARIANTS=$variants
vm_started=$SECONDS
# The CPU model the figures in BENCHMARKS.md were measured on (vm-run's
# default is a faster one for the tests).
SCX_GAMER_VM_CPU=${SCX_GAMER_VM_CPU:-max} scripts/vm-run --smp "$vcpus" --mem 4096 --timeout $((900 + reps * 900)) --share "$out" \
    --env BIN --env FRAMELOOP --env PEERS --env OUT --env REPS --env WARMUP \
    --env MEASURE --env TUNE_SECS --env WORKLOADS --env LOADS --env SCHEDS --env VARIANTS \
    -- bash bench/compare-guest.sh
vm_secs=$((SECONDS - vm_started))

# --- 3. tables ---------------------------------------------------------------------------
cmd="scripts/bench.sh --reps $reps --measure $measure --vcpus $vcpus --workloads \"$workloads\" --loads \"$loads\""
[ "$given_scheds" = "$all_scheds" ] || cmd="$cmd --scheds \"$given_scheds\""
for v in $variants; do cmd="$cmd --variant $v"; done
target/release/examples/bench_tables "$out" --command "$cmd" --measure-secs "$measure" --vm-secs "$vm_secs" > "$out/tables.md"
cat "$out/tables.md"
if [ "$write" = 1 ]; then
    target/release/examples/bench_tables --splice BENCHMARKS.md "$out/tables.md"
    echo "bench.sh: BENCHMARKS.md updated"
fi
echo "bench.sh: done in $(( (SECONDS - started) / 60 )) min $(( (SECONDS - started) % 60 )) s"
