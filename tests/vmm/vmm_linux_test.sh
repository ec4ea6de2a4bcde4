#!/usr/bin/env bash
# Runs one vmwdt-vmm scenario with the Linux guest (--kernel) and checks what it prints.
#
# usage: vmm_linux_test.sh CASE VMM KVM_PROBE PLUGIN REPLAY [KERNEL INITRD]
# The guest comes from $VMWDT_GUEST_KERNEL and $VMWDT_GUEST_INITRD, else from the last two
# arguments (the CMake cache variables of the same names); scripts/linux-guest.sh builds it.
# The case "synthetic" takes instead the stand-in kernel synthetic_kernel.S and its symbol map
# as KERNEL and INITRD: it needs KVM only.
# Exit status: 0 pass, 1 fail, 77 skip (KVM unusable here, no guest kernel, or a KVM that
# cannot run an unmodified Linux kernel).
#
# Every scenario uses --timeout 4 (a pet every 2 s). Scenario times count from the guest's
# ready line, for the VMM (--seconds, --pause) and the guest's init (--hang, --offline) alike;
# the VMM prints when that was ("vmm: guest ready after X s"). The vmlinux beside the kernel,
# when there is one, is booted instead of the bzImage: the same kernel without the
# decompressor, which a KVM that emulates the guest kernel (PVM) runs for minutes.
set -u

# shellcheck source=tests/vmm/vmm_test_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/vmm_test_lib.sh"
replay=$5
kernel=${VMWDT_GUEST_KERNEL:-${6:-}}
initrd=${VMWDT_GUEST_INITRD:-${7:-}}
if [ "$case_name" != synthetic ] && [ -n "$kernel" ] && [ -r "$(dirname "$kernel")/vmlinux" ]; then
    kernel=$(dirname "$kernel")/vmlinux
fi

skip() {
    echo "SKIP ($case_name): $*"
    exit 77
}

# run_vmm ARGS...: runs the VMM with the guest, shows its output, leaves the status in $status.
run_vmm() { run_vmm_to out err --kernel "$kernel" --initrd "$initrd" "$@"; }

# events WHAT: "time cpu" for each printed line "[ time] vCPU cpu: WHAT".
events() { events_in out "$1"; }

# since_ready TIME: TIME (seconds since the start of the run) counted from the guest's ready
# line instead, as the scenario's times are.
since_ready() {
    local ready
    ready=$(sed -n 's/^\[ *\([0-9.]*\)\] vmm: guest ready after .*/\1/p' "$work/out" | head -n 1)
    [ -n "$ready" ] || fail "the VMM did not note the guest's ready line"
    awk -v t="$1" -v r="$ready" 'BEGIN { printf "%.3f\n", t - r }'
}

# guest_line REGEX: whether the guest's console printed a line matching REGEX.
guest_line() {
    grep -Eq "^\[ *[0-9.]*\] guest: .*$1" "$work/out"
}

# le A B: whether A <= B (decimal numbers).
le() {
    awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 <= b + 0) }'
}

# The guest came up: every CPU online and the upstream driver bound to the device tree node.
expect_ready() {
    guest_line "vmwdt-guest: ready, $1 CPUs online" || fail "no 'ready, $1 CPUs online' line"
    guest_line "vmwdt-guest: vcpu_stall_detector bound" || fail "the driver did not bind"
}

expect_no_event() { expect_no_event_in out "stalled at .*"; }

# expect_one WHAT CPU: exactly one WHAT event, on CPU; prints its time, or why not and fails.
expect_one() { expect_one_in out "$@"; }

# The arguments are checked before KVM is touched: this case needs neither KVM nor a kernel.
case_usage() {
    local args
    for args in "--cpus 2 --seconds 1 --kernel k --hang 1@1:irqs-on" \
        "--cpus 2 --seconds 1 --offline 1@1" "--cpus 2 --seconds 1 --initrd x" \
        "--cpus 2 --seconds 1 --append x" "--cpus 2 --seconds 1 --system-map x" \
        "--cpus 2 --seconds 1 --kernel k --offline 2@1" \
        "--cpus 2 --seconds 1 --kernel k --offline 1@x"; do
        # shellcheck disable=SC2086
        "$vmm" --plugin "$plugin" $args >"$work/out" 2>"$work/err"
        status=$?
        echo "--- vmwdt-vmm $args (exit $status)"
        sed 's/^/stderr: /' "$work/err" | head -n 2
        expect_status 2
        grep -q '^usage: vmwdt-vmm' "$work/err" || fail "no usage for: $args"
    done
    "$vmm" --plugin "$plugin" --cpus 2 --seconds 1 --kernel k --hang 1@1:irqs-on 2>"$work/err"
    grep -q 'interrupts off only' "$work/err" || fail "the refusal of irqs-on does not say why"
}

# A kernel file that is not a kernel is refused with a message naming it (status 1).
case_bad_kernel() {
    printf 'not a kernel' >"$work/bogus"
    "$vmm" --plugin "$plugin" --cpus 1 --seconds 1 --kernel "$work/bogus" >"$work/out" 2>"$work/err"
    status=$?
    sed 's/^/stderr: /' "$work/err"
    expect_status 1
    grep -q "$work/bogus" "$work/err" || fail "the message does not name the file"
}

# Four vCPUs, 30 s, healthy: every vCPU enables its watchdog once, nothing fires.
case_healthy() {
    run_vmm --cpus 4 --seconds 30 --timeout 4
    expect_status 0
    expect_ready 4
    local cpu
    for cpu in 0 1 2 3; do
        expect_one "watchdog enabled" "$cpu" >/dev/null || fail "vCPU $cpu: $(expect_one "watchdog enabled" "$cpu")"
    done
    [ "$(events "watchdog enabled" | wc -l)" -eq 4 ] || fail "not exactly four 'watchdog enabled'"
    expect_no_event
}

# vCPU 2 hard-locks at 5 s: an NMI on vCPU 2 only, the host names the lkdtm function, the guest
# panics with that CPU's backtrace, then vCPU 2's reset and status 36.
check_hardlockup() {
    expect_status 36
    expect_ready 4
    guest_line "vmwdt-guest: hard lockup on CPU 2" || fail "the guest did not hang CPU 2"
    local irq where reset
    irq=$(expect_one "stall interrupt" 2) || fail "$irq"
    where=$(events "stalled at RIP 0x[0-9a-f]* (lkdtm_[A-Za-z_]*+0x[0-9a-f]*)")
    [ "${where#* }" = 2 ] || fail "no 'vCPU 2: stalled at RIP ... (lkdtm_...)' line: '$where'"
    le "$irq" "${where%% *}" || fail "the RIP report came before the interrupt line"
    guest_line "Kernel panic - not syncing: .*NMI" || fail "no NMI panic on the console"
    guest_line "lkdtm_HARDLOCKUP" || fail "the console backtrace does not show lkdtm_HARDLOCKUP"
    reset=$(expect_one "reset requested" 2) || fail "$reset"
    le "$irq" "$reset" || fail "the reset came before the interrupt"
}

# The interrupt came one window (4 s) of vCPU 2's running time after its last pet in the
# trace, within 100 ms: the window counts the time the trace records vCPU 2's clock running.
check_window() {
    local irq=$1 trace=$2 measured
    measured=$(awk -v irq="$irq" '
        function field(name,   m) {
            if (match($0, "\"" name "\": [^,}]*")) { m = substr($0, RSTART, RLENGTH); sub(/^[^:]*: /, "", m); return m }
            return ""
        }
        BEGIN { running = 1; pet = -1 }
        /"op": "write"/ && field("cpu") == 2 && field("reg") == "\"LOAD_CNT\"" {
            t = field("t") / 1e9; if (t <= irq) { pet = t; sum = 0; since = t } }
        /"op": "guest"/ && field("cpu") == 2 {
            t = field("t") / 1e9; if (t > irq) next
            if (pet >= 0 && running) sum += t - since
            since = t; running = (field("running") == "true") }
        END { if (pet < 0) { print "none"; exit } if (running) sum += irq - since; printf "%.3f %.3f\n", pet, sum }
    ' "$trace")
    [ "$measured" != none ] || fail "the trace shows no pet of vCPU 2"
    echo "last pet of vCPU 2 at ${measured% *} s, its running time from there to the interrupt: ${measured#* } s"
    awk -v s="${measured#* }" 'BEGIN { exit !(s >= 3.9 && s <= 4.1) }' ||
        fail "the interrupt came ${measured#* } s of running time after the last pet, not 4 s"
}

case_hardlockup() {
    run_vmm --cpus 4 --seconds 40 --timeout 4 --hang 2@5 --record "$work/trace.jsonl"
    check_hardlockup
    check_window "$(expect_one "stall interrupt" 2)" "$work/trace.jsonl"
}

# vCPU 1 goes offline at 5 s: its watchdog is disabled, nothing fires.
case_offline() {
    run_vmm --cpus 2 --seconds 20 --timeout 4 --offline 1@5
    expect_status 0
    expect_ready 2
    guest_line "vmwdt-guest: CPU 1 offline" || fail "the guest did not take CPU 1 offline"
    local off
    off=$(expect_one "watchdog disabled" 1) || fail "$off"
    off=$(since_ready "$off")
    le 4.9 "$off" || fail "vCPU 1's watchdog was disabled $off s after the ready line, before 5 s"
    expect_no_event
}

# The host keeps vCPU 1 out of KVM_RUN for 12 s, three windows: its clock stands still.
case_pause_auto() {
    run_vmm --cpus 2 --seconds 20 --timeout 4 --pause 1@5+12
    expect_status 0
    expect_ready 2
    grep -q '\] vCPU 1: resumed$' "$work/out" || fail "vCPU 1 was not resumed"
    expect_no_event
}

# The same pause in host time: vCPU 1's window runs out during the pause.
case_pause_monotonic() {
    run_vmm --cpus 2 --seconds 20 --timeout 4 --pause 1@5+12 --clock monotonic
    expect_ready 2
    local irq
    irq=$(expect_one "stall interrupt" 1) || fail "$irq"
    irq=$(since_ready "$irq")
    le 5 "$irq" && le "$irq" 17 || fail "the interrupt $irq s after the ready line did not come during the pause"
}

# Record the hard-lockup run and replay it: the same events on the same vCPUs, each within
# 0.3 s (the replay counts the trace's sampled running time, the run the thread's CPU time).
case_record_replay() {
    [ -n "$replay" ] || fail "no vmwdt-replay given"
    run_vmm --cpus 4 --seconds 40 --timeout 4 --hang 2@5 --record "$work/trace.jsonl"
    check_hardlockup
    compare_replay "$work/trace.jsonl" 0.3
}

# compare_replay TRACE TOLERANCE: vmwdt-replay of TRACE gives the run's interrupts and resets,
# on the same vCPUs in the same order, each within TOLERANCE seconds.
compare_replay() {
    [ -n "$replay" ] || fail "no vmwdt-replay given"
    "$replay" --plugin "$plugin" "$1" >"$work/replay" 2>"$work/replay.err"
    local rstatus=$?
    echo "--- vmwdt-replay (exit $rstatus)"
    cat "$work/replay"
    [ "$rstatus" -eq 0 ] || fail "vmwdt-replay exited $rstatus"
    local real replayed
    real=$( (events "stall interrupt" | sed 's/$/ irq/'; events "reset requested" | sed 's/$/ reset/') |
        sort -n)
    replayed=$(sed -n 's/^{"t": \([0-9]*\), "event": "\([a-z]*\)", "cpu": \([0-9]*\)}$/\1 \3 \2/p' \
        "$work/replay" | awk '{ printf "%.3f %s %s\n", $1 / 1e9, $2, $3 }')
    [ "$(printf '%s\n' "$real" | awk '{ print $2, $3 }')" = \
      "$(printf '%s\n' "$replayed" | awk '{ print $2, $3 }')" ] ||
        fail "the replay's events differ: run '$real', replay '$replayed'"
    paste -d ' ' <(printf '%s\n' "$real") <(printf '%s\n' "$replayed") |
        awk -v tol="$2" '{ d = $1 - $4; if (d < -tol || d > tol) exit 1 }' ||
        fail "an event is more than $2 s away from the run's: run '$real', replay '$replayed'"
}

# The --kernel path on a stand-in kernel (synthetic_kernel.S, an ELF vmlinux): 64-bit entry,
# console lines, CPU 1 started by the guest through the in-kernel LAPIC, the watchdog at
# 0xfe000000, the stall NMI after the RIP report named from the symbol map, the guest's NMI
# handler, then the reset; the recorded trace replays to the same events within 0.1 s (its
# clocks are the vCPU threads' sampled CPU time).
case_synthetic() {
    local map=$initrd
    "$vmm" --plugin "$plugin" --cpus 2 --seconds 20 --timeout 1 --kernel "$kernel" \
        --system-map "$map" --record "$work/trace.jsonl" >"$work/out" 2>"$work/err"
    status=$?
    echo "--- vmwdt-vmm --cpus 2 --seconds 20 --timeout 1 --kernel $kernel (exit $status)"
    cat "$work/out"
    sed 's/^/stderr: /' "$work/err"
    expect_status 36
    guest_line "synthetic: up" || fail "no console line from the guest"
    guest_line "synthetic: #BP after the INT3" || fail "the guest's INT3 did not reach its #BP handler with the RIP after it"
    guest_line "synthetic: #UD at the UD2" || fail "the guest's UD2 did not reach its #UD handler with its RIP"
    # Where KVM emulates the guest's kernel (PVM), its emulator gives the INT3 up and the VMM
    # raises the #BP (on hardware KVM the CPU executes it and the VMM sees nothing).
    if [ -d /sys/module/kvm_pvm ]; then
        grep -q "vCPU 0: exceptions raised for KVM's emulator: INT3 1," "$work/out" ||
            fail "the VMM did not raise the #BP of the INT3 that KVM's emulator gave up"
    fi
    guest_line "synthetic: CPU 1 up" || fail "CPU 1 did not start (INIT, SIPI)"
    local on irq where nmi reset stuck
    stuck=$(awk '$3 == "stuck_here" { sub(/^0*/, "", $1); print "0x" $1 }' "$map")
    [ -n "$stuck" ] || fail "no stuck_here in $map"
    on=$(expect_one "watchdog enabled" 0) || fail "$on"
    irq=$(expect_one "stall interrupt" 0) || fail "$irq"
    where=$(events "stalled at RIP $stuck (stuck_here+0x0)")
    [ "${where#* }" = 0 ] || fail "no 'vCPU 0: stalled at RIP $stuck (stuck_here+0x0)' line"
    nmi=$(sed -n 's/^\[\([0-9.]*\)\] guest: synthetic: NMI$/\1/p' "$work/out")
    [ -n "$nmi" ] || fail "the guest's NMI handler did not run"
    reset=$(expect_one "reset requested" 0) || fail "$reset"
    le "$(awk -v t="$on" 'BEGIN { print t + 0.95 }')" "$irq" ||
        fail "the interrupt at $irq s came before a 1 s window after the enable at $on s"
    le "$irq" "${where%% *}" && le "${where%% *}" "$nmi" && le "$nmi" "$reset" ||
        fail "out of order: interrupt $irq, RIP report ${where%% *}, NMI $nmi, reset $reset"
    [ "$(events "stall interrupt" | wc -l)" -eq 1 ] || fail "more than one interrupt"
    compare_replay "$work/trace.jsonl" 0.1
}

case "$case_name" in
usage) case_usage ;;
synthetic)
    "$probe" || exit 77
    kernel=${6:-} initrd=${7:-}
    case_synthetic
    ;;
bad-kernel)
    "$probe" || exit 77
    case_bad_kernel
    ;;
healthy | hardlockup | offline | pause-auto | pause-monotonic | record-replay)
    "$probe" || exit 77
    [ -n "$kernel" ] && [ -r "$kernel" ] && [ -n "$initrd" ] && [ -r "$initrd" ] ||
        skip "no guest kernel (run scripts/linux-guest.sh; set VMWDT_GUEST_KERNEL and VMWDT_GUEST_INITRD)"
    # PVM (kvm_pvm) runs only PVM-enabled guest kernels natively; it emulates the supervisor
    # code of any other. With the VMM's help an unmodified kernel boots there (in about two
    # minutes), but its user space cannot enter the kernel: SYSCALL goes to the kernel's entry
    # point still in user mode, and INT 0x80 raises #UD, so the init dies at its first system
    # call (README, "What does not work yet").
    if [ -d /sys/module/kvm_pvm ] && [ "${VMWDT_LINUX_TESTS:-}" != force ]; then
        skip "this KVM is PVM (kvm_pvm), whose unmodified Linux guests cannot make system calls"
    fi
    "case_${case_name//-/_}"
    ;;
*) fail "unknown case" ;;
esac
echo "PASS ($case_name)"
