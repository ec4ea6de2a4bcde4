#!/usr/bin/env bash
# Every test: installs what is missing, then builds and runs the suites four ways, each a CMake
# preset (CMakePresets.json):
#   default  RelWithDebInfo: every ctest, KVM tests skipped where /dev/kvm is unusable, the Rust
#            crate's cargo tests, the valgrind run, the install check;
#   asan     ASan+UBSan: every C suite again but the KVM, Rust and benchmark ones;
#   tsan     TSan: the suites that run the library on several threads;
#   fuzz     clang with libFuzzer: short bounded fuzzing runs of vmwdt_restore_json, the MMIO
#            path against the reference model, and the replayer's trace parser.
# Before them it builds the Linux guest of vmwdt-vmm (scripts/linux-guest.sh, cached outside the
# clone): the Linux ctests boot it, and skip where it or a usable /dev/kvm is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:${HOME:-/root}/.cargo/bin"
bash scripts/deps.sh --tests
if guest=$(bash scripts/linux-guest.sh); then
  export VMWDT_GUEST_KERNEL="$(printf '%s\n' "$guest" | sed -n 's/^KERNEL=//p')"
  export VMWDT_GUEST_INITRD="$(printf '%s\n' "$guest" | sed -n 's/^INITRD=//p')"
else
  echo "== the Linux guest could not be built: its tests will be skipped"
fi
jobs=$(nproc)

run_preset() {
  echo "== preset: $1"
  cmake --preset "$1" >/dev/null
  cmake --build --preset "$1" -j"$jobs" >/dev/null
  ctest --preset "$1" -j"$jobs"
}

run_preset default
ASAN_OPTIONS=detect_leaks=1 run_preset asan
TSAN_OPTIONS=halt_on_error=1 run_preset tsan
if command -v clang >/dev/null 2>&1; then
  run_preset fuzz
else
  echo "== clang not found: fuzzing skipped"
fi
