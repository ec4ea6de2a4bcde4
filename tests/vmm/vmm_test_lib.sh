# shellcheck shell=bash disable=SC2154,SC2034
# Helpers shared by the vmwdt-vmm scenario scripts (vmm_test.sh, vmm_linux_test.sh,
# migrate_test.sh), sourced by each before anything else. It reads the four arguments they all
# begin with (CASE VMM KVM_PROBE PLUGIN; the script reads the rest) and makes the work
# directory $work, removed when the script exits.
# The scripts share one copy of these so that a fix to how events are read or checked
# reaches every scenario at once.

case_name=$1
vmm=$2
probe=$3
plugin=$4

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fail() {
    echo "FAIL ($case_name): $*"
    exit 1
}

expect_status() {
    [ "$status" -eq "$1" ] || fail "exit status $status, expected $1"
}

# run_vmm_to OUT ERR ARGS...: runs the VMM into $work/OUT and $work/ERR, shows what it printed,
# leaves the status in $status.
run_vmm_to() {
    local out=$1 err=$2
    shift 2
    "$vmm" --plugin "$plugin" "$@" >"$work/$out" 2>"$work/$err"
    status=$?
    echo "--- vmwdt-vmm $* (exit $status)"
    cat "$work/$out"
    sed 's/^/stderr: /' "$work/$err"
}

# events_in OUT WHAT: "time cpu" for each event line "[ time] vCPU cpu: WHAT" in $work/OUT.
events_in() {
    sed -n "s/^\[ *\([0-9.]*\)\] vCPU \([0-9]*\): $2\$/\1 \2/p" "$work/$1"
}

# expect_one_in OUT WHAT CPU: exactly one WHAT event in $work/OUT, on CPU; prints its time, or
# why not and fails.
expect_one_in() {
    local lines
    lines=$(events_in "$1" "$2")
    if [ -z "$lines" ]; then
        echo "no '$2' event"
    elif [ "$(printf '%s\n' "$lines" | wc -l)" -ne 1 ]; then
        echo "more than one '$2' event: $(printf '%s' "$lines" | tr '\n' ';')"
    elif [ "${lines#* }" != "$3" ]; then
        echo "'$2' on vCPU ${lines#* }, expected vCPU $3"
    else
        printf '%s\n' "${lines%% *}"
        return 0
    fi
    return 1
}

# expect_no_event_in OUT GUEST: no stall interrupt, no reset request and no GUEST line (the
# guest's own report of a stall, which differs between guests) in $work/OUT.
expect_no_event_in() {
    local what
    for what in "stall interrupt" "reset requested" "$2"; do
        [ -z "$(events_in "$1" "$what")" ] || fail "unexpected event: $what"
    done
}
