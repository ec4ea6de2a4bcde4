#!/usr/bin/env bash
# Installs the Debian packages the build and the tests need, when any is missing.
# Runs apt-get only as root; otherwise it names what is missing and carries on.
set -euo pipefail

need=(cmake make gcc pkg-config libjansson-dev libffi-dev check libfdt-dev dpkg-dev)
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

export DEBIAN_FRONTEND=noninteractive
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "deps: missing packages (install them as root): ${missing[*]}" >&2
  else
    echo "deps: installing ${missing[*]}"
    apt-get -o DPkg::Lock::Timeout=600 update -qq </dev/null
    apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" </dev/null >/dev/null
  fi
fi

# The snapshot codec links a private copy of jansson, built from Debian's source package (the
# project carries no upstream code). It is unpacked once per version into a cache outside the
# source tree: $VMWDT_CACHE_DIR, by default ~/.cache/vmwdt, as jansson-<version>/src.
jansson_source() {
  local cache="${VMWDT_CACHE_DIR:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/vmwdt}"
  local version
  version=$(apt-cache showsrc jansson 2>/dev/null | sed -n 's/^Version: //p' | sort -V | tail -1 || true)
  if [ -z "$version" ] && [ "$(id -u)" -eq 0 ]; then
    # Source indexes are missing: add deb-src for every suite the deb entries name.
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
      [ -e "$f" ] || continue
      grep -q '^Types:.*deb-src' "$f" && continue
      grep -q '^Types: *deb *$' "$f" || continue
      sed 's/^Types: *deb *$/Types: deb-src/' "$f" > "/etc/apt/sources.list.d/vmwdt-src-$(basename "$f")"
    done
    apt-get -o DPkg::Lock::Timeout=600 update -qq </dev/null
    version=$(apt-cache showsrc jansson 2>/dev/null | sed -n 's/^Version: //p' | sort -V | tail -1 || true)
  fi
  if [ -z "$version" ]; then
    echo "deps: no deb-src entry for jansson: the private jansson cannot be fetched" >&2
    return 0
  fi
  local dir="$cache/jansson-$version"
  if [ -f "$dir/src/src/load.c" ]; then
    return 0
  fi
  echo "deps: fetching Debian's jansson $version source into $dir"
  rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
  (cd "$dir.tmp" && apt-get source -qq "jansson=$version" </dev/null >/dev/null 2>&1) || {
    echo "deps: apt-get source jansson=$version failed" >&2
    rm -rf "$dir.tmp"
    return 0
  }
  local unpacked
  unpacked=$(find "$dir.tmp" -mindepth 1 -maxdepth 1 -type d -name 'jansson-*' | head -1)
  mkdir -p "$dir" && rm -rf "$dir/src" && mv "$unpacked" "$dir/src"
  rm -rf "$dir.tmp"
}
jansson_source
