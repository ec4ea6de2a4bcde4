#!/bin/sh
# Runs abidiff of the built library against a committed baseline, with the public header as the
# only source of public types, and checks what it reports.
#   check_abidiff.sh ABIDIFF BASELINE LIBRARY HEADERS_DIR same
#       nothing changed: exit status 0.
#   check_abidiff.sh ABIDIFF BASELINE LIBRARY HEADERS_DIR added NAME@@NODE...
#       a compatible minor release: no function or variable removed or changed, and exactly the
#       named functions added (abidiff's status is then 4, "ABI change", without bit 8,
#       "incompatible change").
set -u
abidiff=$1 baseline=$2 lib=$3 headers=$4 mode=$5
shift 5
out=$("$abidiff" --headers-dir1 "$headers" --headers-dir2 "$headers" "$baseline" "$lib" 2>&1)
rc=$?
printf '%s\n' "$out"
fail() { echo "FAIL: $*" >&2; exit 1; }
[ $((rc & 1)) -eq 0 ] || fail "abidiff could not compare the two (status $rc)"
[ $((rc & 8)) -eq 0 ] || fail "abidiff reports an incompatible change (status $rc)"
if [ "$mode" = same ]; then
    [ "$rc" -eq 0 ] || fail "abidiff reports a change against $baseline (status $rc)"
    echo "OK: no change against $(basename "$baseline")"
    exit 0
fi
[ "$rc" -eq 4 ] || fail "abidiff reports no change (status $rc); expected added functions"
printf '%s\n' "$out" | grep -q "Functions changes summary: 0 Removed, 0 Changed.*, $# Added functions" ||
    fail "expected 0 removed, 0 changed and $# added functions"
printf '%s\n' "$out" | grep -q "Variables changes summary: 0 Removed, 0 Changed, 0 Added" ||
    fail "variables changed"
for sym in "$@"; do
    printf '%s\n' "$out" | grep -q "^  \[A\] .*{$sym}\$" || fail "$sym is not reported as added"
done
# Nothing but added functions: every line that marks a change is an [A] line.
if printf '%s\n' "$out" | grep -E '^ *\[[DC]\]|has some indirect sub-type changes|size changed'; then
    fail "a change that is not an added function"
fi
echo "OK: against $(basename "$baseline"), only added: $*"
