#!/usr/bin/env bash
# Runs one vmwdt-vmm scenario on real KVM vCPUs and checks the events it prints.
#
# usage: vmm_test.sh CASE VMM KVM_PROBE PLUGIN [REPLAY]
# Exit status: 0 pass, 1 fail, 77 skip (KVM is not usable here).
#
# Every scenario uses --timeout 2 (window 2 s, a pet every second). The watchdog measures a
# hung vCPU by its thread's CPU time, which never runs ahead of host time but may fall behind
# it on a busy host, so the lower bounds on event times below are tight and the upper bounds
# generous.
set -u

# shellcheck source=tests/vmm/vmm_test_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/vmm_test_lib.sh"
replay=${5:-}

# run_vmm ARGS...: runs the VMM, shows its output, leaves the status in $status.
run_vmm() { run_vmm_to out err "$@"; }

# events WHAT: "time cpu" for each printed event line "[ time] vCPU cpu: WHAT".
events() { events_in out "$1"; }

# expect_one WHAT CPU: exactly one WHAT event, on CPU; prints its time, or why not and fails.
expect_one() { expect_one_in out "$@"; }

expect_no_event() { expect_no_event_in out "guest reported: .*"; }

# at_least A B: whether A >= B (decimal numbers).
at_least() {
    awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 >= b + 0) }'
}

# The arguments are checked before KVM is touched: this case needs no KVM.
case_usage() {
    local args
    for args in "--cpus 0 --seconds 1" "--cpus 2" "--cpus 2 --seconds 1 --hang 2@1" \
        "--cpus 2 --seconds 1 --hang 1@x" "--cpus 2 --seconds 1 --hang 1@1:maybe" \
        "--cpus 2 --seconds 1 --pause 1@1" "--cpus 2 --seconds 1 --clock sundial" \
        "--cpus 2 --seconds 1 --freq 0" "--cpus 2 --seconds 1 --timeout 0" \
        "--cpus 2 --seconds 1 --frequency 10" "--cpus 2 --seconds 1 extra" \
        "--cpus 2 --seconds 0x1" "--cpus 2 --seconds 1 --hang 1@0x1p-1" \
        "--cpus 2 --seconds 1 --pause 1@0.5+0x1"; do
        # shellcheck disable=SC2086
        run_vmm $args
        expect_status 2
        grep -q '^usage: vmwdt-vmm' "$work/err" || fail "no usage for: $args"
    done
    VMWDT_KVM_DEVICE="$work/no-such-device" run_vmm --cpus 1 --seconds 1
    expect_status 2
    grep -q 'KVM is not usable here' "$work/err" || fail "no clear message without KVM"
    VMWDT_KVM_DEVICE=/dev/null run_vmm --cpus 1 --seconds 1
    expect_status 2
    grep -q 'KVM is not usable here' "$work/err" || fail "no clear message for a non-KVM device"
}

# Four vCPUs pet for 20 s: no event, and every vCPU really enabled and petted its watchdog.
case_healthy() {
    run_vmm --cpus 4 --seconds 20 --timeout 2 --record "$work/trace.jsonl"
    expect_status 0
    expect_no_event
    local cpu pets
    for cpu in 0 1 2 3; do
        grep -q "\"cpu\": $cpu, \"reg\": \"STATUS\", \"value\": 1}" "$work/trace.jsonl" ||
            fail "vCPU $cpu never enabled its watchdog"
        pets=$(grep -c "\"cpu\": $cpu, \"reg\": \"LOAD_CNT\", \"value\": 20}" "$work/trace.jsonl")
        [ "$pets" -ge 15 ] || fail "vCPU $cpu petted $pets times in 20 s, expected about 20"
    done
}

# vCPU 2 hangs with interrupts off at 2 s: its interrupt (2 s of its time later), then a reset.
check_hang_irqs_off() {
    expect_status 36
    local irq reset
    irq=$(expect_one "stall interrupt" 2) || fail "$irq"
    reset=$(expect_one "reset requested" 2) || fail "$reset"
    at_least "$irq" 3.9 || fail "the interrupt at $irq s came before 2 s of vCPU 2's time"
    at_least 12 "$irq" || fail "the interrupt at $irq s came far too late"
    at_least "$reset" "$(awk -v t="$irq" 'BEGIN { print t + 1.9 }')" ||
        fail "the reset at $reset s came less than a window after the interrupt"
    [ -z "$(events "guest reported: .*")" ] || fail "a guest with interrupts off reported"
}

case_hang_irqs_off() {
    run_vmm --cpus 4 --seconds 20 --timeout 2 --hang 2@2:irqs-off
    check_hang_irqs_off
}

# vCPU 1 hangs with interrupts on: the guest's handler takes the interrupt and reports it.
case_hang_irqs_on() {
    run_vmm --cpus 2 --seconds 20 --timeout 2 --hang 1@1.5:irqs-on
    local irq report
    irq=$(expect_one "stall interrupt" 1) || fail "$irq"
    report=$(expect_one "guest reported: vCPU stall detector" 1) || fail "$report"
    at_least "$irq" 3.4 || fail "the interrupt at $irq s came before 2 s of vCPU 1's time"
    at_least "$report" "$irq" || fail "the guest reported before the interrupt"
    # The handler then stops the guest like panic() does, so the watchdog resets the VM.
    expect_status 36
    reset=$(expect_one "reset requested" 1) || fail "$reset"
}

# A pause longer than the timeout: the vCPU's time stands still, so nothing fires.
case_pause_auto() {
    run_vmm --cpus 2 --seconds 8 --timeout 2 --pause 1@1.2+3
    expect_status 0
    expect_no_event
    grep -q '\] vCPU 1: resumed$' "$work/out" || fail "vCPU 1 was not resumed"
}

# The same pause measured in host time: vCPU 1's window runs out while it is paused.
case_pause_monotonic() {
    run_vmm --cpus 2 --seconds 8 --timeout 2 --pause 1@1.2+2.5 --clock monotonic
    local irq
    irq=$(expect_one "stall interrupt" 1) || fail "$irq"
    at_least "$irq" 1.9 || fail "the interrupt at $irq s came before a whole window"
    at_least 3.7 "$irq" || fail "the interrupt at $irq s did not come during the pause"
}

# No vCPU thread can start: each would need a stack larger than the address space (glibc sizes
# thread stacks by RLIMIT_STACK). The run failed, so the status is 1, never 0.
case_thread_failure() {
    (ulimit -s 200000000000 2>/dev/null || exit 77
        exec "$vmm" --plugin "$plugin" --cpus 2 --seconds 5 --timeout 2) >"$work/out" 2>"$work/err"
    status=$?
    echo "--- vmwdt-vmm with vCPU threads that cannot start (exit $status)"
    cat "$work/out"
    sed 's/^/stderr: /' "$work/err"
    [ "$status" -ne 77 ] || exit 77
    expect_status 1
    grep -q 'cannot start vCPU 0' "$work/err" || fail "no message naming the vCPU"
    ! grep -q 'the run ended' "$work/out" || fail "a run whose vCPUs never started 'ended'"
}

# SIGTERM ends a recorded run early but cleanly: the summary is printed and the trace is
# complete (it ends with its end record and replays); then the VMM ends by that signal.
case_signal() {
    "$vmm" --plugin "$plugin" --cpus 2 --seconds 30 --timeout 2 --record "$work/trace.jsonl" \
        >"$work/out" 2>"$work/err" &
    local pid=$!
    sleep 3
    kill -TERM "$pid"
    wait "$pid"
    status=$?
    echo "--- vmwdt-vmm sent SIGTERM after 3 s (exit $status)"
    cat "$work/out"
    sed 's/^/stderr: /' "$work/err"
    expect_status 143
    grep -q 'vmm: stopped by signal 15' "$work/out" || fail "no note of the signal"
    grep -q '^\[[0-9.]*\] stats: vCPU 1:' "$work/out" || fail "no summary"
    tail -n 1 "$work/trace.jsonl" | grep -q '"op": "end"}$' || fail "the trace has no end record"
    if [ -n "$replay" ]; then
        "$replay" --plugin "$plugin" "$work/trace.jsonl" >"$work/replay" 2>&1 ||
            fail "the trace does not replay: $(cat "$work/replay")"
    fi
}

# Record a hang run, replay the trace: the same events on the same vCPU, within the run's
# slack (the CPU time the hung vCPU's thread was denied while in KVM_RUN, plus 0.3 s).
case_record_replay() {
    [ -n "$replay" ] || fail "no vmwdt-replay given"
    run_vmm --cpus 4 --seconds 20 --timeout 2 --hang 2@2:irqs-off --record "$work/trace.jsonl"
    check_hang_irqs_off
    "$replay" --plugin "$plugin" "$work/trace.jsonl" >"$work/replay" 2>"$work/replay.err"
    local rstatus=$?
    echo "--- vmwdt-replay (exit $rstatus)"
    cat "$work/replay"
    [ "$rstatus" -eq 0 ] || fail "vmwdt-replay exited $rstatus"
    local slack
    slack=$(sed -n 's/^\[[0-9.]*\] stats: vCPU 2: in KVM_RUN \([0-9.]*\) s, thread CPU \([0-9.]*\) s.*/\1 \2/p' \
        "$work/out" | awk '{ d = $1 - $2; if (d < 0) d = 0; print d + 0.3 }')
    [ -n "$slack" ] || fail "no stats line for vCPU 2"
    echo "slack: $slack s"
    local kind what real replayed
    for kind in irq reset; do
        what="stall interrupt"
        [ "$kind" = reset ] && what="reset requested"
        real=$(events "$what")
        replayed=$(sed -n "s/^{\"t\": \([0-9]*\), \"event\": \"$kind\", \"cpu\": \([0-9]*\)}\$/\1 \2/p" \
            "$work/replay" | awk '{ printf "%.3f %s\n", $1 / 1e9, $2 }')
        [ "$(printf '%s\n' "$replayed" | wc -l)" -eq 1 ] && [ -n "$replayed" ] ||
            fail "the replay gave '$replayed' for $kind, expected one event"
        [ "${replayed#* }" = "${real#* }" ] ||
            fail "$kind on vCPU ${replayed#* } in the replay, on vCPU ${real#* } in the run"
        awk -v a="${real%% *}" -v b="${replayed%% *}" -v s="$slack" \
            'BEGIN { d = a - b; exit !(d >= -0.3 && d <= s) }' ||
            fail "$kind at ${real%% *} s in the run, ${replayed%% *} s in the replay"
    done
}

case "$case_name" in
usage) case_usage ;;
healthy | hang-irqs-off | hang-irqs-on | pause-auto | pause-monotonic | record-replay | \
    thread-failure | signal)
    "$probe" || exit 77
    "case_${case_name//-/_}"
    ;;
*) fail "unknown case" ;;
esac
echo "PASS ($case_name)"
