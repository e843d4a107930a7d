#!/usr/bin/env bash
# Benchmark: MangoHud log ingest throughput vs `wc -l` on the same file.
#
#   bench/ingest.sh [SIZE_MB]     (default 512)
#
# Writes a per-frame log in the MangoHud 0.8 form (float ms frame times, 16
# columns) of about SIZE_MB, warms the page cache, then times
# `scx_gamer report --log` (parse + statistics) and `wc -l`, 5 runs each
# (taken in turn, so both see the same load), and prints the best of each,
# their ratio and the load average (other jobs on the machine slow both).
set -euo pipefail
cd "$(dirname "$0")/.."
size_mb=${1:-512}
export BPF_CLANG=${BPF_CLANG:-clang-19}
cargo build --locked --release --quiet
bin=$PWD/target/release/scx_gamer
dir=${BENCH_DIR:-/var/tmp/scx-gamer-bench}
mkdir -p "$dir"
log=$dir/bench_${size_mb}MB.csv
if [ ! -s "$log" ]; then
    rows=$(( size_mb * 1024 * 1024 / 78 ))
    awk -v rows="$rows" 'BEGIN {
        print "v1"; print "v0.8.2"
        print "os,cpu,gpu,ram,kernel,driver,cpuscheduler"; print "bench,cpu,,0,6.1,,"
        print "fps,frametime,cpu_load,cpu_power,gpu_load,cpu_temp,gpu_temp,gpu_core_clock,gpu_mem_clock,gpu_vram_used,gpu_power,ram_used,swap_used,process_rss,cpu_mhz,elapsed"
        srand(1); t = 0
        for (i = 0; i < rows; i++) {
            ft = 6 + 6 * rand(); if (rand() < 0.01) ft *= 4
            t += ft * 1e6
            printf "%.4f,%.3f,37.5,12.1,88,61,54,1800,7000,3.1,150,9.8,0.1,2.3,4200,%d\n", 1000/ft, ft, t
        }
    }' > "$log"
fi
bytes=$(stat -c %s "$log")
cat "$log" > /dev/null   # page cache
"$bin" report --log "$log" > /dev/null   # fails the script if the report does
ms() { local s=$(date +%s%N); "$@" > /dev/null; local e=$(date +%s%N); echo $(( (e - s) / 1000000 )); }
t_report=; t_wc=
for _ in 1 2 3 4 5; do
    r=$(ms "$bin" report --log "$log"); w=$(ms wc -l "$log")
    if [ -z "$t_report" ] || [ "$r" -lt "$t_report" ]; then t_report=$r; fi
    if [ -z "$t_wc" ] || [ "$w" -lt "$t_wc" ]; then t_wc=$w; fi
done
awk -v b="$bytes" -v r="$t_report" -v w="$t_wc" -v load="$(cut -d' ' -f1-3 /proc/loadavg)" -v cpus="$(nproc)" 'BEGIN {
    printf "file: %.0f MB, %s\n", b / 1048576, ARGV[1]
    printf "scx_gamer report --log: %6d ms  %7.1f MB/s\n", r, b / 1048576 / (r / 1000)
    printf "wc -l:                  %6d ms  %7.1f MB/s\n", w, b / 1048576 / (w / 1000)
    printf "ratio (report / wc -l speed): %.2f\n", w / r
    printf "load average: %s (%d CPUs)\n", load, cpus
}' "$log"
