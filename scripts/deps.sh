#!/usr/bin/env bash
# Installs the Debian packages the build and the tests need, when any is missing.
# Runs apt-get only as root; otherwise it names what is missing and carries on.
set -euo pipefail

need=(cmake make gcc pkg-config libjansson-dev libffi-dev check libfdt-dev)
if [ "${1:-}" = "--tests" ]; then
  # Fuzzing (clang's libFuzzer runtime), memory checking, ELF inspection, the ABI baselines.
  need+=(clang libclang-rt-14-dev valgrind binutils abigail-tools)
  # Debian packages (scripts/package.sh), their lint, and rendering the manual pages.
  need+=(dpkg-dev lintian fakeroot man-db groff-base)
fi

missing=()
for pkg in "${need[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
# The Rust crate's tests need cargo; a rustup installation counts.
if [ "${1:-}" = "--tests" ] && ! command -v cargo >/dev/null 2>&1 && [ ! -x "${HOME:-/root}/.cargo/bin/cargo" ]; then
  missing+=(cargo)
fi

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "deps: missing packages (install them as root): ${missing[*]}" >&2
  exit 0
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq </dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null >/dev/null
