/*
 * A vCPU's KVM state and the VM's clock state, read into and written from the checkpoint's
 * records (vmm_ckpt_format.h). Call the others only while the vCPU's thread is parked (which
 * settles it first, vmm_vcpu.c) or not started.
 */
#ifndef VMM_VCPU_STATE_H
#define VMM_VCPU_STATE_H

#include <stddef.h>

#include "vmm.h"
#include "vmm_ckpt_format.h"

/*
 * On the vCPU's own thread, before it parks: has KVM complete what the last exit left to it
 * (an MMIO or port read whose value goes into a register on the next KVM_RUN) without running
 * guest code, so that the state read while parked is whole. Its own thread, because KVM_RUN
 * from another thread makes KVM wait for an RCU grace period to move the vCPU. Returns -1
 * when done, 0 when completing it brought a new exit in v->run (the rest of a string I/O),
 * which the caller handles and then calls this again.
 */
int vmm_vcpu_state_settle(struct vmm_vcpu *v);

/* Reads everything KVM needs to resume the vCPU exactly. 0 or -1 with a message. */
int vmm_vcpu_state_save(struct vmm *vm, struct vmm_vcpu *v, struct vmm_ckpt_vcpu *out,
                        char *err, size_t errlen);

/*
 * Writes it back into a vCPU that has not run. The TSC is written last, to the value it had
 * when saved, so the guest's RDTSC neither goes back nor leaps by the downtime.
 */
int vmm_vcpu_state_restore(struct vmm_vcpu *v, const struct vmm_ckpt_vcpu *in, char *err,
                           size_t errlen);

/* The guest TSC of a vCPU now (IA32_TSC through KVM_GET_MSRS); 0 when it cannot be read. */
uint64_t vmm_vcpu_state_tsc(struct vmm_vcpu *v);

/* The VM's TSC frequency and kvmclock. */
void vmm_vm_clock_save(struct vmm *vm, struct vmm_ckpt_clock *out);

/*
 * Gives every vCPU the checkpoint's TSC frequency (KVM_SET_TSC_KHZ where it differs from this
 * host's) and the kvmclock. 0, or -1 with a message when the frequency cannot be matched.
 */
int vmm_vm_clock_restore(struct vmm *vm, const struct vmm_ckpt_clock *in, char *err,
                         size_t errlen);

#endif /* VMM_VCPU_STATE_H */
