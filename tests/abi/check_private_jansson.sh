#!/bin/sh
# Checks that the snapshot codec's private jansson can neither interpose on the host's jansson
# nor be interposed by it: the library neither exports nor imports a jansson symbol and needs no
# libjansson, and the codec's object keeps only its own functions global.
# Usage: check_private_jansson.sh <libvmwdt.so.1> <codec object>
set -eu

lib=$1
obj=$2
fail=0
pattern='^(json_|jsonp_|jansson_|hashtable_|strbuffer_|utf8_)'

found=$(nm -D "$lib" | awk '{ print $NF }' | sed 's/@.*//' | grep -E "$pattern" || true)
if [ -n "$found" ]; then
    echo "FAIL: the library's dynamic symbol table names jansson symbols:" $found >&2
    fail=1
fi
if readelf -d "$lib" | grep -q 'NEEDED.*libjansson'; then
    echo "FAIL: the library needs the shared libjansson" >&2
    fail=1
fi
globals=$(nm -g --defined-only "$obj" | awk '{ print $NF }' | grep -v '^wdt_snap_' || true)
if [ -n "$globals" ]; then
    echo "FAIL: the codec's object keeps other global symbols:" $globals >&2
    fail=1
fi
# The private copy is there, local: jansson's parser entry point is defined in the object.
if ! nm "$obj" | grep -qE ' [tT] json_loads$'; then
    echo "FAIL: the codec's object holds no jansson of its own" >&2
    fail=1
fi
if [ "$fail" -eq 0 ]; then
    echo "OK: no jansson symbol exported or imported; the codec's jansson is local to it"
fi
exit "$fail"
