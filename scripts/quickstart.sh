#!/usr/bin/env bash
# The main demo: installs what is missing, builds everything, builds the Linux guest (once; it
# is cached), then boots it on four KVM vCPUs with the upstream vcpu_stall_detector driver.
# At 5 s the guest hard-locks CPU 2 (LKDTM, interrupts off); the watchdog's interrupt comes as
# an NMI on vCPU 2, the host prints where that vCPU hung, the guest panics with its backtrace,
# and the watchdog's reset ends the run with status 36, as crosvm.
#
# Without a usable /dev/kvm it says so and replays a recorded trace instead. On a KVM that
# cannot run an unmodified Linux (PVM) it says so and runs the built-in real-mode guest live.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cmake --preset default >/dev/null
cmake --build --preset default -j"$(nproc)" >/dev/null

vmm=build/host-shim/vmm/vmwdt-vmm
replay=build/host-shim/replay/vmwdt-replay
probe=build/tests/vmm/vmm_kvm_probe

replay_trace() {
  local trace=tests/traces/linux-hardlockup.jsonl
  if [ ! -f "$trace" ]; then
    trace=tests/traces/vmm-recorded-hang.jsonl
    echo "== (no recorded Linux run is bundled: this trace is of the built-in guest, vCPU 2 hung at 3 s)"
  fi
  "$replay" "$trace"
}

expect_reset() {
  case $1 in
    36) echo "== vmwdt-vmm exited with status 36: the watchdog reset the VM" ;;
    2)  echo "== vmwdt-vmm could not use KVM (status 2): replaying a recorded trace instead"
        replay_trace ;;
    *)  echo "== vmwdt-vmm exited with status $1, not the expected reset (36)"; exit 1 ;;
  esac
}

if ! "$probe"; then
  echo "== /dev/kvm is not usable here: replaying a recorded trace of the demo instead"
  replay_trace
  exit 0
fi

if [ -d /sys/module/kvm_pvm ]; then
  echo "== this KVM is PVM (kvm_pvm): an unmodified Linux guest boots there but its user space cannot make system calls"
  echo "== running the built-in real-mode guest instead: 4 vCPUs, vCPU 2 hangs with interrupts off at 3 s"
  set +e
  "$vmm" --cpus 4 --seconds 30 --freq 10 --timeout 4 --hang 2@3:irqs-off
  rc=$?
  set -e
  expect_reset "$rc"
  exit 0
fi

echo "== building the Linux guest (the first build takes a few minutes; then it is cached)"
guest=$(bash scripts/linux-guest.sh)
kernel=$(printf '%s\n' "$guest" | sed -n 's/^KERNEL=//p')
initrd=$(printf '%s\n' "$guest" | sed -n 's/^INITRD=//p')

echo "== vmwdt-vmm: Linux on 4 vCPUs, 10 Hz, 4 s timeout; the guest hard-locks CPU 2 at 5 s"
set +e
"$vmm" --cpus 4 --seconds 40 --freq 10 --timeout 4 --hang 2@5 --kernel "$kernel" --initrd "$initrd"
rc=$?
set -e
expect_reset "$rc"
