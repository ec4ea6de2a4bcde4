#!/usr/bin/env bash
# Every test: installs what is missing, then builds and runs the suites three ways:
#   1. the normal build (RelWithDebInfo): every ctest, KVM tests skipped where /dev/kvm is unusable,
#      the Rust crate's cargo tests, the valgrind run;
#   2. ASan+UBSan: every C suite again but the KVM, Rust and benchmark ones;
#   3. TSan: the suites that run the library on several threads;
#   4. clang with libFuzzer: a short bounded fuzzing run of vmwdt_restore_json.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:${HOME:-/root}/.cargo/bin"
bash scripts/deps.sh --tests
jobs=$(nproc)

echo "== build: RelWithDebInfo"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs" >/dev/null
(cd build && ctest --output-on-failure -j"$jobs")

echo "== build: ASan+UBSan"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DVMWDT_SANITIZE=address >/dev/null
cmake --build build-asan -j"$jobs" >/dev/null
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j"$jobs" -E "^(vmm|rust|bench|valgrind)")

echo "== build: TSan"
cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DVMWDT_SANITIZE=thread -DVMWDT_BUILD_HOST_SHIM=OFF >/dev/null
cmake --build build-tsan -j"$jobs" >/dev/null
(cd build-tsan && TSAN_OPTIONS=halt_on_error=1 ctest --output-on-failure -j"$jobs" -R "^(core_|abi_rules|test_snapshot)")

if command -v clang >/dev/null 2>&1; then
  echo "== build: clang + libFuzzer"
  CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DVMWDT_BUILD_FUZZ=ON >/dev/null
  cmake --build build-fuzz -j"$jobs" >/dev/null
  (cd build-fuzz && ctest --output-on-failure -R fuzz)
else
  echo "== clang not found: fuzzing skipped"
fi
