#!/usr/bin/env bash
# The Debian packages as a user gets them: scripts/package.sh builds them; they are unpacked with
# dpkg-deb -x into a scratch root (nothing is installed on this machine); their dependencies and
# files are checked; the README's C example is built against that root with pkg-config and with
# CMake and run on the unpacked library; the unpacked vmwdt-replay replays a trace; the
# unpacked manual pages render without warnings; lintian reports no error.
#   check_packages.sh SRC WORK
set -euo pipefail
src=$1 work=$2
fail() { echo "FAIL: $*" >&2; exit 1; }
command -v dpkg-deb >/dev/null && command -v dpkg-shlibdeps >/dev/null ||
  { echo "dpkg-deb or dpkg-shlibdeps missing: not a Debian system"; exit 77; }
rm -rf "$work/root" "$work/consumer" "$work/pc-consumer"
mkdir -p "$work/root"

out=$("$src/scripts/package.sh" --build-dir "$work/build" --out "$work/debs")
mapfile -t debs < <(printf '%s\n' "$out" | tail -n 3)
[ ${#debs[@]} -eq 3 ] || fail "package.sh did not end with three .deb paths:\n$out"
declare -A deb
for d in "${debs[@]}"; do
  [[ "$d" == *.deb && -f "$d" ]] || fail "package.sh printed '$d', not a .deb file"
  deb[$(dpkg-deb -f "$d" Package)]=$d
done
for p in libvmwdt1 libvmwdt-dev vmwdt-tools; do
  [ -n "${deb[$p]:-}" ] || fail "no package $p among: ${debs[*]}"
done
version=$(dpkg-deb -f "${deb[libvmwdt1]}" Version)
echo "packages ${version}: ${debs[*]}"

# Dependencies: the shlibs of what each binary links, and the library for the others.
depends() { dpkg-deb -f "${deb[$1]}" Depends; }
expect_dep() {
  depends "$1" | tr ',' '\n' | grep -Eq "^ *$2( |\$)" || fail "$1 does not depend on $2: $(depends "$1")"
}
expect_dep libvmwdt1 libc6
# The library links its own private jansson (see README, Reliability): it must not pull in the
# shared one, whose allocation-failure defect the private copy exists to avoid.
if depends libvmwdt1 | tr ',' '\n' | grep -Eq "^ *libjansson"; then
  fail "libvmwdt1 depends on the shared jansson: $(depends libvmwdt1)"
fi
expect_dep libvmwdt-dev "libvmwdt1 \(= $version\)"
expect_dep vmwdt-tools "libvmwdt1 \(>= $version\)"
expect_dep vmwdt-tools libffi8
expect_dep vmwdt-tools libjansson4
dpkg-deb -I "${deb[libvmwdt1]}" shlibs | grep -q "^libvmwdt 1 libvmwdt1 " ||
  fail "libvmwdt1 has no shlibs entry for libvmwdt.so.1"
echo "dependencies: $(depends vmwdt-tools)"

for d in "${debs[@]}"; do dpkg-deb -x "$d" "$work/root"; done
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)
libdir="$work/root/usr/lib/$multiarch"
for f in usr/include/vmwdt.h "usr/lib/$multiarch/libvmwdt.so.1" "usr/lib/$multiarch/libvmwdt.so" \
         "usr/lib/$multiarch/pkgconfig/vmwdt.pc" "usr/lib/$multiarch/cmake/vmwdt/vmwdtConfig.cmake" \
         usr/share/vmwdt/vmwdt.abi.json usr/bin/vmwdt-replay usr/bin/vmwdt-vmm \
         usr/share/man/man3/vmwdt.3.gz usr/share/man/man1/vmwdt-replay.1.gz \
         usr/share/man/man1/vmwdt-vmm.1.gz; do
  [ -e "$work/root/$f" ] || fail "not in the packages: /$f"
done

# The README's example, with pkg-config against the scratch root.
export PKG_CONFIG_PATH="$libdir/pkgconfig"
[ "$(pkg-config --modversion vmwdt)" = "$version" ] || fail "vmwdt.pc gives version $(pkg-config --modversion vmwdt)"
cc -o "$work/pc-consumer" "$src/tests/examples/host_example.c" $(pkg-config --cflags --libs vmwdt)
LD_LIBRARY_PATH="$libdir" ldd "$work/pc-consumer" | grep -q "libvmwdt.so.1 => $libdir/" ||
  fail "the example does not load the unpacked library"
LD_LIBRARY_PATH="$libdir" "$work/pc-consumer"
echo "pkg-config vmwdt: built and ran"

# The same with CMake's find_package(vmwdt).
cmake -S "$src/tests/install/consumer" -B "$work/consumer" -DCMAKE_PREFIX_PATH="$work/root/usr" \
      -DEXAMPLE="$src/tests/examples/host_example.c" >/dev/null
cmake --build "$work/consumer" >/dev/null
LD_LIBRARY_PATH="$libdir" "$work/consumer/consumer"
echo "find_package(vmwdt): built and ran"

# The unpacked replayer, on the unpacked library, through the 1.1 action op.
VMWDT_PLUGIN="$libdir/libvmwdt.so.1" "$work/root/usr/bin/vmwdt-replay" \
  "$src/tests/traces/action-change.jsonl" 2>/dev/null | tail -n 1 | grep -q '"summary": "pass"' ||
  fail "the unpacked vmwdt-replay did not pass tests/traces/action-change.jsonl"
echo "vmwdt-replay: replayed a trace"

for page in man3/vmwdt.3.gz man1/vmwdt-replay.1.gz man1/vmwdt-vmm.1.gz; do
  warnings=$(MANWIDTH=80 man --warnings -l "$work/root/usr/share/man/$page" 2>&1 >/dev/null)
  [ -z "$warnings" ] || fail "man -l $page warns:\n$warnings"
done
echo "manual pages: rendered without warnings"

command -v lintian >/dev/null || fail "lintian is missing (scripts/deps.sh --tests)"
report=$(lintian "${debs[@]}" 2>/dev/null || true)
printf '%s\n' "$report"
if printf '%s\n' "$report" | grep -q '^E:'; then
  fail "lintian reports errors"
fi
echo "lintian: no errors"
