#!/usr/bin/env bash
# Runs one checkpoint or migration scenario of vmwdt-vmm on real KVM vCPUs and checks what it
# prints, the checkpoint it writes and the trace it records.
#
# usage: migrate_test.sh CASE VMM KVM_PROBE PLUGIN SECTIONS [REPLAY]
# Exit status: 0 pass, 1 fail, 77 skip (KVM is not usable here).
#
# The watchdog measures a hung vCPU by its thread's CPU time, which never runs ahead of host
# time but falls behind it on a busy host. So each lower bound below is tight (150 ms) and
# each upper bound adds the CPU time that vCPU's thread was denied while in KVM_RUN, as the
# run's "stats:" lines report it.
set -u

# shellcheck source=tests/vmm/vmm_test_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/vmm_test_lib.sh"
sections=$5
replay=${6:-}

# run_vmm OUT ARGS...: runs the VMM into $work/OUT(.err), shows it, leaves the status in $status.
run_vmm() {
    local out=$1
    shift
    run_vmm_to "$out" "$out.err" "$@"
}

# note_time OUT REGEX: the time of the first "vmm:" line matching REGEX.
note_time() {
    sed -n "s/^\[ *\([0-9.]*\)\] vmm: .*$2.*/\1/p" "$work/$1" | head -n 1
}

# check EXPR...: an awk condition on the numbers given as name=value before it.
check() {
    local expr=$1
    shift
    local args=()
    for kv in "$@"; do args+=(-v "$kv"); done
    awk "${args[@]}" "BEGIN { exit !($expr) }"
}

expect_no_event() { expect_no_event_in "$1" "guest reported: .*"; }

# cpu_time OUT CPU N / denied OUT CPU N: the Nth "stats:" line of CPU (1 first, $ last): its
# thread CPU time, or its time in KVM_RUN less that (never negative).
stats_field() {
    sed -n "s/^\[[0-9.]*\] stats: vCPU $2: in KVM_RUN \([0-9.]*\) s, thread CPU \([0-9.]*\) s.*/\1 \2/p" \
        "$work/$1" | sed -n "$3p"
}
cpu_time() { stats_field "$@" | awk '{ print $2 }'; }
denied() { stats_field "$@" | awk '{ d = $1 - $2; print (d < 0 ? 0 : d) }'; }

# The stall that survives the move: vCPU 1 hangs with interrupts off at 3 s, timeout 4 s. Its
# last pet came at 2 s and it halted until 3 s, so at 5 s it has spent about 2 s of its own
# time and has about 2 s left. After the move: the interrupt after what was left, the reset a
# window later, exit 36, both on vCPU 1 only.
#
# check_stall OUT T0 BUDGET: the destination's output OUT; T0 its time of the move.
check_stall() {
    local out=$1 t0=$2 budget=$3 irq reset slack
    expect_status 36
    irq=$(expect_one_in "$out" "stall interrupt" 1) || fail "$irq"
    reset=$(expect_one_in "$out" "reset requested" 1) || fail "$reset"
    slack=$(denied "$out" 1 '$')
    echo "move at $t0 s, budget left $budget s, interrupt at $irq s, reset at $reset s," \
        "destination slack $slack s"
    check 'irq - t0 >= b - 0.15 && irq - t0 <= b + 0.15 + s' irq="$irq" t0="$t0" b="$budget" \
        s="$slack" || fail "the interrupt came $irq - $t0 s after the move, not $budget s"
    check 'r - i >= 3.85 && r - i <= 4.15 + s' r="$reset" i="$irq" s="$slack" ||
        fail "the reset came $reset - $irq s after the interrupt, not one 4 s window"
}

# The budget the source left vCPU 1 (4 s less its thread's CPU time, nearly all spent
# spinning), checked against the 2 s it has on an idle host.
source_budget() {
    local out=$1 used slack
    used=$(cpu_time "$out" 1 1)
    slack=$(denied "$out" 1 1)
    [ -n "$used" ] || fail "no stats line for the source's vCPU 1"
    check 'u >= 2 - 0.15 - s && u <= 2 + 0.15' u="$used" s="$slack" ||
        fail "the source's vCPU 1 spent $used s before the move, expected 2 s (slack $slack)"
    awk -v u="$used" 'BEGIN { printf "%.3f\n", 4 - u }'
}

case_stall_restore() {
    run_vmm src --cpus 2 --seconds 20 --timeout 4 --hang 1@3 --save-at 5 --save "$work/vm.ckpt"
    expect_status 0
    grep -q 'vmm: checkpoint of 2 vCPUs written to .*downtime [0-9.]* ms' "$work/src" ||
        fail "no checkpoint line with its downtime"
    expect_no_event src
    local budget doc
    budget=$(source_budget src)
    # The plugin's document is carried as is: vCPU 1's exact budget is in it.
    doc=$(grep -ao '"next_expiration_interval_ns": [0-9]*' "$work/vm.ckpt" | sed -n '2s/.*: //p')
    echo "budget: $budget s by the source's CPU time, $doc ns in the document"
    check 'd / 1e9 >= b - 0.15 && d / 1e9 <= b + 0.15' d="$doc" b="$budget" ||
        fail "the document's budget $doc ns is not the $budget s vCPU 1 had left"
    run_vmm dst --restore "$work/vm.ckpt" --seconds 60
    grep -q 'vmm: restored .*downtime [0-9.]* ms' "$work/dst" || fail "no downtime line"
    check_stall dst 0 "$(awk -v d="$doc" 'BEGIN { print d / 1e9 }')"
}

case_stall_migrate() {
    run_vmm out --cpus 2 --seconds 60 --timeout 4 --hang 1@3 --migrate-at 5
    grep -q 'vmm: migrated: downtime [0-9.]* ms .*of which the plugin [0-9.]* ms' "$work/out" ||
        fail "no downtime line with the plugin's part"
    local src_pid dst_pid t0
    dst_pid=$(sed -n 's/.*vmm: pid \([0-9]*\) carries the run of pid \([0-9]*\) on$/\1/p' "$work/out")
    src_pid=$(sed -n 's/.*vmm: pid \([0-9]*\) carries the run of pid \([0-9]*\) on$/\2/p' "$work/out")
    [ -n "$dst_pid" ] && [ "$dst_pid" != "$src_pid" ] || fail "no destination pid"
    t0=$(note_time out 'migrated: downtime')
    check_stall out "$t0" "$(source_budget out)"
}

# Four healthy vCPUs checkpointed at 5 s and restored for 20 s: no event, and the restored
# trace shows each vCPU's pets going on at the driver's cadence (timeout/2 = 1 s), across the
# restore too: the guest's TSC-timed deadlines neither bunch up nor stretch.
case_healthy() {
    run_vmm src --cpus 4 --seconds 30 --timeout 2 --save-at 5 --save "$work/vm.ckpt" \
        --record "$work/src.jsonl"
    expect_status 0
    run_vmm dst --restore "$work/vm.ckpt" --seconds 20 --record "$work/dst.jsonl"
    expect_status 0
    expect_no_event dst
    [ "$(grep -c '"op": "restore", "fresh": true' "$work/dst.jsonl")" -eq 1 ] ||
        fail "the restored trace has no fresh restore record"
    local cpu summary
    for cpu in 0 1 2 3; do
        summary=$(awk -v cpu="$cpu" '
            /"op": "restore"/ { restored = 1 }
            index($0, "\"cpu\": " cpu ", \"reg\": \"LOAD_CNT\", \"value\": 20}") {
                t = substr($0, 7) + 0
                if (n) { g = (t - last) / 1e9; if (g < min || n == 1) min = g; if (g > max) max = g }
                last = t; n++; after += restored
            }
            END { printf "%d %d %.3f %.3f\n", n, after, min, max }' "$work/dst.jsonl")
        echo "vCPU $cpu: pets, pets after the restore, shortest and longest gap: $summary"
        read -r n after min max <<<"$summary"
        [ "$after" -ge 16 ] || fail "vCPU $cpu petted $after times in 20 s after the restore"
        check 'min >= 0.9 && max <= 1.9' min="$min" max="$max" ||
            fail "vCPU $cpu's pets are not 1 s apart (gaps $min..$max s)"
    done
    if [ -n "$replay" ]; then
        "$replay" --plugin "$plugin" "$work/dst.jsonl" >"$work/replay" 2>&1 ||
            fail "the restored trace does not replay: $(cat "$work/replay")"
        ! grep -q '"event"' "$work/replay" || fail "the replay has events: $(cat "$work/replay")"
    fi
}

# A → B → C, then vCPU 1 hangs at 6 s (timeout 2): interrupt one window later, reset one more.
case_twice() {
    run_vmm out --cpus 2 --seconds 60 --timeout 2 --migrate-at 2 --migrate-at 4 --hang 1@6
    expect_status 36
    local pids
    pids=$(sed -n 's/.*vmm: pid \([0-9]*\) carries the run of pid \([0-9]*\) on$/\1 \2/p' \
        "$work/out" | tr '\n' ' ')
    [ "$(echo "$pids" | wc -w)" -eq 4 ] || fail "expected two migrations, got: $pids"
    local irq reset slack
    irq=$(expect_one_in out "stall interrupt" 1) || fail "$irq"
    reset=$(expect_one_in out "reset requested" 1) || fail "$reset"
    slack=$(denied out 1 '$')
    echo "interrupt at $irq s, reset at $reset s, slack $slack s"
    check 'i >= 6 + 2 - 0.15 && i <= 6 + 2 + 0.15 + s' i="$irq" s="$slack" ||
        fail "the interrupt at $irq s is not one window after the hang"
    check 'r - i >= 1.85 && r - i <= 2.15 + s' r="$reset" i="$irq" s="$slack" ||
        fail "the reset at $reset s is not one window after the interrupt"
}

# expect_refused NAME WHAT ARGS...: the VMM refuses the checkpoint: exit 2, a message naming
# WHAT on stderr, and nothing on stdout (nothing was restored, nothing ran).
expect_refused() {
    local name=$1 what=$2
    shift 2
    run_vmm "$name" "$@"
    expect_status 2
    grep -q "refused: .*$what" "$work/$name.err" || fail "$name: no message naming '$what'"
    [ ! -s "$work/$name" ] || fail "$name: something ran"
}

case_bad_input() {
    run_vmm src --cpus 2 --seconds 10 --timeout 2 --save-at 1 --save "$work/vm.ckpt"
    expect_status 0
    local size name off len
    size=$(stat -c %s "$work/vm.ckpt")
    head -c $((size / 2)) "$work/vm.ckpt" >"$work/cut.ckpt"
    expect_refused truncated "truncated in section 'memory'" --restore "$work/cut.ckpt" \
        --seconds 1
    head -c $((size - 3)) "$work/vm.ckpt" >"$work/cut.ckpt"
    expect_refused truncated-end "truncated in section 'end'" --restore "$work/cut.ckpt" \
        --seconds 1
    "$sections" "$work/vm.ckpt" >"$work/sections" || fail "cannot list the sections"
    [ "$(wc -l <"$work/sections")" -eq 9 ] || fail "expected 9 parts: $(cat "$work/sections")"
    while IFS=$'\t' read -r name off len; do
        cp "$work/vm.ckpt" "$work/bad.ckpt"
        # One byte in the middle of the part, flipped.
        printf "\\x$(printf %02x $(( $(od -An -tu1 -j $((off + len / 2)) -N1 "$work/vm.ckpt") ^ 1 )))" |
            dd of="$work/bad.ckpt" bs=1 seek=$((off + len / 2)) conv=notrunc status=none
        local what="section '$name': checksum"
        [ "$name" = header ] && what="header: checksum"
        expect_refused "flipped-${name// /-}" "$what" --restore "$work/bad.ckpt" --seconds 1
    done <"$work/sections"
    cp "$work/vm.ckpt" "$work/v2.ckpt"
    printf '\x02' | dd of="$work/v2.ckpt" bs=1 seek=8 conv=notrunc status=none
    expect_refused version "format version 2" --restore "$work/v2.ckpt" --seconds 1
    expect_refused cpus "for 2 vCPUs" --restore "$work/vm.ckpt" --cpus 4 --seconds 1
    # A Linux guest's checkpoint is not supported: refused up front, before any KVM work.
    run_vmm kernel --cpus 2 --seconds 1 --kernel "$work/bzImage" --migrate-at 0.5
    expect_status 2
    grep -q -- '--kernel: checkpoints and migration cover the built-in guest only' \
        "$work/kernel.err" || fail "no clear refusal of --kernel with --migrate-at"
    # A destination that refuses the stream (a byte of vCPU 1's state flipped on the way):
    # the source says so and runs its VM to the end of its run.
    off=$(awk -F'\t' '$1 == "vCPU 1" { print $2 + 100 }' "$work/sections")
    VMWDT_MIGRATE_CORRUPT=$off run_vmm refused --cpus 2 --seconds 5 --timeout 2 --migrate-at 2
    expect_status 0
    grep -q "refused: section 'vCPU 1': checksum" "$work/refused.err" ||
        fail "the destination did not name the section"
    grep -q 'vmm: migration failed: the destination (pid [0-9]*, exit 2) refused the checkpoint; the VM resumes here' \
        "$work/refused" || fail "the source did not say it resumes"
    check 't >= 4.9' t="$(note_time refused 'the run ended')" || fail "the run did not go on to 5 s"
    expect_no_event refused
}

# vCPU 1 hangs at 2 s, the VM moves at 3 s, with --record: the destination appends to the
# source's trace, and vmwdt-replay of it gives the run's events, each on the same vCPU, no
# later than the run's and no earlier than the CPU time the thread was denied allows.
case_record_replay() {
    [ -n "$replay" ] || fail "no vmwdt-replay given"
    run_vmm out --cpus 2 --seconds 60 --timeout 2 --hang 1@2 --migrate-at 3 \
        --record "$work/trace.jsonl"
    expect_status 36
    [ "$(grep -c '"op": "restore", "fresh": true' "$work/trace.jsonl")" -eq 1 ] ||
        fail "the trace has no fresh restore"
    "$replay" --plugin "$plugin" "$work/trace.jsonl" >"$work/replay" 2>"$work/replay.err"
    local rstatus=$?
    echo "--- vmwdt-replay (exit $rstatus)"
    cat "$work/replay"
    [ "$rstatus" -eq 0 ] || fail "vmwdt-replay exited $rstatus"
    local slack kind what real replayed
    slack=$(sed -n 's/^\[[0-9.]*\] stats: vCPU 1: in KVM_RUN \([0-9.]*\) s, thread CPU \([0-9.]*\) s.*/\1 \2/p' \
        "$work/out" | awk '{ d = $1 - $2; if (d > 0) s += d } END { print s + 0.3 }')
    for kind in irq reset; do
        what="stall interrupt"
        [ "$kind" = reset ] && what="reset requested"
        real=$(events_in out "$what")
        replayed=$(sed -n "s/^{\"t\": \([0-9]*\), \"event\": \"$kind\", \"cpu\": \([0-9]*\)}\$/\1 \2/p" \
            "$work/replay" | awk '{ printf "%.3f %s\n", $1 / 1e9, $2 }')
        [ "$(printf '%s\n' "$replayed" | wc -l)" -eq 1 ] && [ -n "$replayed" ] ||
            fail "the replay gave '$replayed' for $kind, expected one event"
        [ "${replayed#* }" = "${real#* }" ] ||
            fail "$kind on vCPU ${replayed#* } in the replay, on vCPU ${real#* } in the run"
        check 'a - b >= -0.3 && a - b <= s' a="${real%% *}" b="${replayed%% *}" s="$slack" ||
            fail "$kind at ${real%% *} s in the run, ${replayed%% *} s in the replay (slack $slack)"
    done
}

# SIGTERM to the source after the move (it only waits): the destination gets it and ends the
# run cleanly, its trace complete; the source then ends by the same signal, as one run would.
case_signal() {
    "$vmm" --plugin "$plugin" --cpus 2 --seconds 30 --timeout 2 --migrate-at 1 \
        --record "$work/trace.jsonl" >"$work/out" 2>"$work/out.err" &
    local pid=$!
    sleep 3
    kill -TERM "$pid"
    wait "$pid"
    status=$?
    echo "--- vmwdt-vmm --migrate-at 1, SIGTERM to the source at 3 s (exit $status)"
    cat "$work/out"
    expect_status 143
    grep -q 'vmm: stopped by signal 15' "$work/out" || fail "the destination did not stop"
    tail -n 1 "$work/trace.jsonl" | grep -q '"op": "end"}$' || fail "the trace has no end record"
}

"$probe" || exit 77
case "$case_name" in
stall-restore | stall-migrate | healthy | twice | bad-input | record-replay | signal)
    "case_${case_name//-/_}"
    ;;
*) fail "unknown case" ;;
esac
echo "PASS ($case_name)"
