#!/usr/bin/env bash
# Builds the Debian packages libvmwdt1, libvmwdt-dev and vmwdt-tools with CPack, from a release
# build of this tree made with Debian's build flags, and prints the paths of the .deb files it
# built, one a line, last.
#
#   scripts/package.sh [--build-dir DIR] [--out DIR] [--jobs N]
#
# DIR defaults to build-package/ in the source tree, OUT to DIR/debs. Needs dpkg-dev
# (dpkg-shlibdeps, dpkg-buildflags) and fakeroot-free CPack (it writes root-owned archives).
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
build="$src/build-package"
out=""
jobs=2
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) build=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "package.sh: unknown argument: $1" >&2; exit 2 ;;
  esac
done
out=${out:-$build/debs}
for tool in cmake cpack dpkg-shlibdeps dpkg-buildflags; do
  command -v "$tool" >/dev/null || { echo "package.sh: $tool is missing (scripts/deps.sh --tests)" >&2; exit 1; }
done

# Debian's hardening flags; the source path is mapped away, so the binaries do not name it.
export CFLAGS="$(cd "$src" && dpkg-buildflags --get CFLAGS) $(dpkg-buildflags --get CPPFLAGS)"
export LDFLAGS="$(dpkg-buildflags --get LDFLAGS)"
# The installed tools find the library by its SONAME in the system's directories: no RPATH.
cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
      -DVMWDT_BUILD_TESTS=OFF -DVMWDT_PACKAGE_DEB=ON -DCMAKE_SKIP_INSTALL_RPATH=ON \
      -DVMWDT_SANITIZE= >"$build.configure.log" 2>&1 ||
  { cat "$build.configure.log" >&2; exit 1; }
rm -f "$build.configure.log"
cmake --build "$build" -j "$jobs" >/dev/null
mkdir -p "$out"
rm -f "$out"/*.deb
(cd "$build" && cpack -G DEB -B "$out") >"$build.cpack.log" 2>&1 ||
  { cat "$build.cpack.log" >&2; exit 1; }
rm -f "$build.cpack.log"
rm -rf "$out/_CPack_Packages"
ls -1 "$out"/*.deb
