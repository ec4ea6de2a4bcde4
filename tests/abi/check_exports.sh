#!/bin/sh
# Checks the dynamic symbol table of the built library against the public header:
# exactly the functions that abi/vmwdt.h declares with VMWDT_EXPORT are defined, each at
# version VMWDT_1.0 as the default version, and the SONAME is libvmwdt.so.1.
# Usage: check_exports.sh <libvmwdt.so.1> <vmwdt.h>
set -eu

lib=$1
header=$2
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The declared functions: "VMWDT_EXPORT <type> [*]vmwdt_name(".
sed -n 's/^VMWDT_EXPORT[^(]*[ *]\(vmwdt_[a-z0-9_]*\)(.*/\1/p' "$header" | sort >"$tmp/declared"
count=$(wc -l <"$tmp/declared")
if [ "$count" -ne 14 ]; then
    echo "FAIL: the header declares $count exported functions, expected 14" >&2
    fail=1
fi

# The defined dynamic symbols. The linker records the version node itself as an absolute
# symbol named after it; that is the version definition, not an export.
nm -D --defined-only "$lib" | awk '!($2 == "A" && $3 == "VMWDT_1.0") { print $3 }' \
    | sort >"$tmp/defined"

sed 's/$/@@VMWDT_1.0/' "$tmp/declared" >"$tmp/expected"
if ! cmp -s "$tmp/expected" "$tmp/defined"; then
    echo "FAIL: exported symbols differ from the header (- expected, + exported):" >&2
    diff -u "$tmp/expected" "$tmp/defined" | sed -n '/^[-+][^-+]/p' >&2
    fail=1
fi

# Exactly one version node is defined.
versions=$(nm -D --defined-only "$lib" | awk '$2 == "A" { print $3 }')
if [ "$versions" != "VMWDT_1.0" ]; then
    echo "FAIL: version nodes defined: '$versions', expected VMWDT_1.0 only" >&2
    fail=1
fi

soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p')
if [ "$soname" != "libvmwdt.so.1" ]; then
    echo "FAIL: SONAME is '$soname', expected libvmwdt.so.1" >&2
    fail=1
fi

if [ "$fail" -eq 0 ]; then
    echo "OK: $count symbols, all @@VMWDT_1.0, SONAME $soname"
fi
exit "$fail"
