#!/bin/sh
# Builds a Release tree and runs every benchmark with real counts, then counts the instructions
# of one pet with callgrind (repeatable where wall-clock figures on a shared machine are not).
#
# Usage: scripts/bench.sh [build-dir]     (default: build-bench in the source tree)
# Environment: JOBS (parallel build jobs, default 2), CALLGRIND_PETS (default 20000),
#              SKIP_CALLGRIND=1 to leave out the callgrind table.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build-bench}
jobs=${JOBS:-2}
pets=${CALLGRIND_PETS:-20000}
benchmarks="bench_pet bench_footprint bench_timers bench_snapshot"

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DVMWDT_BUILD_TESTS=ON \
      -DVMWDT_SANITIZE= >/dev/null
# shellcheck disable=SC2086 # the list is meant to split into targets
cmake --build "$build" -j "$jobs" --target $benchmarks bench_stats_cost
bin=$build/tests/bench
with_stats=$build/plugin/libvmwdt.so.1
without_stats=$bin/libvmwdt_nostats.so

# Where and when: the figures mean little without the machine and its load.
echo "== machine"
echo "date:     $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "kernel:   $(uname -sr)"
echo "cpu:      $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1) x $(nproc)"
echo "commit:   $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo "load avg: $(cut -d' ' -f1-3 /proc/loadavg) (before)"

# CPU time of the whole machine and of this script's children, in clock ticks, to tell how
# busy other processes kept the machine while the benchmarks ran.
machine_ticks() { awk '/^cpu /{ print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }
own_ticks() { sed 's/.*) //' "/proc/$$/stat" | awk '{ print $12 + $13 + $14 + $15 }'; }
uptime_ticks() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%d\n", $1 * hz }' /proc/uptime; }

m0=$(machine_ticks); o0=$(own_ticks); u0=$(uptime_ticks)
for b in $benchmarks; do
    echo
    echo "== $b"
    "$bin/$b"
done
echo
echo "== bench_stats_cost (the ABI 1.1 counters: the library against the same sources without them)"
"$bin/bench_stats_cost" "$with_stats" "$without_stats"
# The replayer on a two-million-record trace, next to jansson's parse of the same lines.
cmake --build "$build" -j "$jobs" --target bench_replay vmwdt-replay vmwdt >/dev/null
echo
echo "== bench_replay"
"$bin/bench_replay" --replay "$build/host-shim/replay/vmwdt-replay" \
    --plugin "$build/plugin/libvmwdt.so.1"
m1=$(machine_ticks); o1=$(own_ticks); u1=$(uptime_ticks)

echo
echo "load avg: $(cut -d' ' -f1-3 /proc/loadavg) (after)"
echo "other processes kept $(awk -v m=$((m1 - m0)) -v o=$((o1 - o0)) -v u=$((u1 - u0)) \
    'BEGIN { printf "%.2f", (u > 0 ? (m - o) / u : 0) }') of $(nproc) CPUs busy on average during the run"

# Instructions per operation: callgrind counts only inside the named function, and the
# difference between a run of 2N and one of N operations removes one-time costs (lazy binding,
# first-touch set-up), so the figure is the steady-state instruction count of one call.
# Kernel work (the pread of a GUEST_TIME pet, the syscalls of crosvm's pet) is not counted.
collected() {
    valgrind --tool=callgrind --callgrind-out-file=/dev/null --collect-atstart=no \
        --toggle-collect="$1" "$bin/bench_pet" --callgrind "$2" "$3" "$4" 2>&1 |
        sed -n 's/.*Collected : \([0-9][0-9]*\).*/\1/p'
}

per_op() {
    one=$(collected "$1" "$2" "$3" "$pets")
    two=$(collected "$1" "$2" "$3" $((pets * 2)))
    if [ -z "$one" ] || [ -z "$two" ]; then
        echo "n/a"
    else
        echo $(((two - one) / pets))
    fi
}

if [ "${SKIP_CALLGRIND:-0}" != 1 ] && command -v valgrind >/dev/null 2>&1; then
    echo
    echo "== callgrind: user-space instructions per operation (steady state, $pets vs $((pets * 2)) ops)"
    printf '%-34s %14s\n' "operation" "instr/op"
    for clock in HOST MONOTONIC AUTO THREAD_CPU GUEST_TIME; do
        printf '%-34s %14s\n' "pet $clock (THREAD timers)" "$(per_op vmwdt_mmio_write "$clock" pet)"
    done
    for clock in MONOTONIC GUEST_TIME; do
        printf '%-34s %14s\n' "read CURRENT_CNT $clock" "$(per_op vmwdt_mmio_read "$clock" read)"
    done
    printf '%-34s %14s\n' "crosvm pet (baseline)" "$(per_op 'crosvm_pet*' crosvm pet)"
    # The same pet (HOST clock, EXTERNAL timers) in the library and in a build of the same
    # sources without the ABI 1.1 counters.
    stats_per_op() {
        one=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null --collect-atstart=no \
            --toggle-collect=vmwdt_mmio_write "$bin/bench_stats_cost" --callgrind "$1" "$pets" 2>&1 |
            sed -n 's/.*Collected : \([0-9][0-9]*\).*/\1/p')
        two=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null --collect-atstart=no \
            --toggle-collect=vmwdt_mmio_write "$bin/bench_stats_cost" --callgrind "$1" $((pets * 2)) 2>&1 |
            sed -n 's/.*Collected : \([0-9][0-9]*\).*/\1/p')
        if [ -z "$one" ] || [ -z "$two" ]; then echo "n/a"; else echo $(((two - one) / pets)); fi
    }
    printf '%-34s %14s\n' "pet HOST, with the 1.1 counters" "$(stats_per_op "$with_stats")"
    printf '%-34s %14s\n' "pet HOST, without them" "$(stats_per_op "$without_stats")"
fi
