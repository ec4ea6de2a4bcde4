#!/bin/sh
# Checks the dynamic symbol table of the built library against the public header and the ABI
# manifest: exactly the functions that abi/vmwdt.h declares with VMWDT_EXPORT are defined, each
# as the default version at the node the manifest gives it (14 at VMWDT_1.0, 2 at VMWDT_1.1),
# exactly those two version nodes are defined, and the SONAME is libvmwdt.so.1.
# Usage: check_exports.sh <libvmwdt.so.1> <vmwdt.h> <vmwdt.abi.json>
set -eu

lib=$1
header=$2
manifest=$3
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The declared functions: "VMWDT_EXPORT <type> [*]vmwdt_name(".
sed -n 's/^VMWDT_EXPORT[^(]*[ *]\(vmwdt_[a-z0-9_]*\)(.*/\1/p' "$header" | sort >"$tmp/declared"
count=$(wc -l <"$tmp/declared")
if [ "$count" -ne 16 ]; then
    echo "FAIL: the header declares $count exported functions, expected 16" >&2
    fail=1
fi

# Each function's node, as the manifest says: {"name": "vmwdt_x", "version": "VMWDT_1.m", ...
sed -n 's/.*{"name": "\(vmwdt_[a-z0-9_]*\)", "version": "\(VMWDT_[0-9.]*\)".*/\1@@\2/p' \
    "$manifest" | sort >"$tmp/expected"
if ! sed 's/@@.*//' "$tmp/expected" | cmp -s - "$tmp/declared"; then
    echo "FAIL: the manifest's functions differ from the header's" >&2
    fail=1
fi
for node in VMWDT_1.0:14 VMWDT_1.1:2; do
    n=$(grep -c "@@${node%:*}\$" "$tmp/expected" || true)
    if [ "$n" -ne "${node#*:}" ]; then
        echo "FAIL: the manifest puts $n functions at ${node%:*}, expected ${node#*:}" >&2
        fail=1
    fi
done

# The defined dynamic symbols. The linker records each version node as an absolute symbol named
# after it; that is the version definition, not an export.
nm -D --defined-only "$lib" | awk '$2 != "A" { print $3 }' | sort >"$tmp/defined"
if ! cmp -s "$tmp/expected" "$tmp/defined"; then
    echo "FAIL: exported symbols differ from the manifest (- expected, + exported):" >&2
    diff -u "$tmp/expected" "$tmp/defined" | sed -n '/^[-+][^-+]/p' >&2
    fail=1
fi

versions=$(nm -D --defined-only "$lib" | awk '$2 == "A" { print $3 }' | sort | tr '\n' ' ')
if [ "$versions" != "VMWDT_1.0 VMWDT_1.1 " ]; then
    echo "FAIL: version nodes defined: '$versions', expected VMWDT_1.0 and VMWDT_1.1" >&2
    fail=1
fi

# VMWDT_1.1 inherits VMWDT_1.0: its version definition names VMWDT_1.0 as its parent.
if ! readelf -V "$lib" | grep -A1 'Name: VMWDT_1.1' | grep -q 'Parent 1: VMWDT_1.0'; then
    echo "FAIL: version node VMWDT_1.1 does not inherit VMWDT_1.0" >&2
    fail=1
fi

soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p')
if [ "$soname" != "libvmwdt.so.1" ]; then
    echo "FAIL: SONAME is '$soname', expected libvmwdt.so.1" >&2
    fail=1
fi

if [ "$fail" -eq 0 ]; then
    echo "OK: $count symbols, 14 @@VMWDT_1.0 and 2 @@VMWDT_1.1 (inheriting VMWDT_1.0), SONAME $soname"
fi
exit "$fail"
