#!/usr/bin/env bash
# Installs the build into a scratch prefix, then builds the README's C example against it twice,
# with find_package(vmwdt) and with pkg-config, and runs both.
set -euo pipefail
build=$1 src=$2 work=$3
rm -rf "$work"
cmake --install "$build" --prefix "$work/prefix" >/dev/null
lib=$(find "$work/prefix" -name 'libvmwdt.so.1' | head -n 1)
test -n "$lib" || { echo "libvmwdt.so.1 not installed"; exit 1; }
libdir=$(dirname "$lib")
for f in "$work/prefix/include/vmwdt.h" "$libdir/pkgconfig/vmwdt.pc" "$libdir/cmake/vmwdt/vmwdtConfig.cmake" \
         "$work/prefix/bin/vmwdt-replay" "$work/prefix/share/vmwdt/vmwdt.abi.json" \
         "$work/prefix/share/man/man3/vmwdt.3.gz" "$work/prefix/share/man/man1/vmwdt-replay.1.gz"; do
  test -e "$f" || { echo "not installed: ${f#$work/prefix/}"; exit 1; }
done

cmake -S "$src/tests/install/consumer" -B "$work/cmake" -DCMAKE_PREFIX_PATH="$work/prefix" \
      -DEXAMPLE="$src/tests/examples/host_example.c" >/dev/null
cmake --build "$work/cmake" >/dev/null
LD_LIBRARY_PATH="$libdir" "$work/cmake/consumer"
echo "find_package(vmwdt): built and ran"

export PKG_CONFIG_PATH="$libdir/pkgconfig"
cc -o "$work/pc-consumer" "$src/tests/examples/host_example.c" $(pkg-config --cflags --libs vmwdt)
LD_LIBRARY_PATH="$libdir" "$work/pc-consumer"
echo "pkg-config vmwdt: built and ran"
