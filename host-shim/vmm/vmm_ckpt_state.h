/*
 * What a checkpoint needs of KVM beyond the vCPU and VM state that vmm_state.h reads and
 * writes: a vCPU whose last exit is complete before it parks, its guest TSC, and the TSC
 * frequency of a destination.
 */
#ifndef VMM_CKPT_STATE_H
#define VMM_CKPT_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "vmm.h"

/*
 * On the vCPU's own thread, before it parks: has KVM complete what the last exit left to it
 * (an MMIO or port read whose value goes into a register on the next KVM_RUN) without running
 * guest code, so that the state read while parked is whole. Its own thread, because KVM_RUN
 * from another thread makes KVM wait for an RCU grace period to move the vCPU. Returns -1
 * when done, 0 when completing it brought a new exit in v->run (the rest of a string I/O),
 * which the caller handles and then calls this again.
 */
int vmm_ckpt_settle(struct vmm_vcpu *v);

/* The guest TSC of a parked vCPU now (IA32_TSC through KVM_GET_MSRS); 0 when unreadable. */
uint64_t vmm_ckpt_read_tsc(struct vmm_vcpu *v);

/*
 * Gives every vCPU the checkpoint's guest TSC frequency where this host's differs
 * (KVM_SET_TSC_KHZ). 0, or -1 with a message when KVM cannot.
 */
int vmm_ckpt_set_tsc_khz(struct vmm *vm, uint32_t khz, char *err, size_t errlen);

#endif /* VMM_CKPT_STATE_H */
