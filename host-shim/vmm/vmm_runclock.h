/*
 * The guest clocks of a --record trace when the VMM cannot see a vCPU halt. With the in-kernel
 * irqchip a halted vCPU waits inside KVM_RUN, so its thread's CPU time (the AUTO and
 * THREAD_CPU clocks) stops while the VMM still sees it "in KVM_RUN". A sampler thread records
 * instead whether each vCPU thread used CPU time over each short period.
 */
#ifndef VMM_RUNCLOCK_H
#define VMM_RUNCLOCK_H

#include "vmm.h"

struct vmm_runclock;

/*
 * Starts sampling the vCPU threads (started already) into vm->trace; NULL when there is
 * nothing to sample (no trace, or the MONOTONIC clock) or the thread cannot start.
 */
struct vmm_runclock *vmm_runclock_start(struct vmm *vm);

/* Stops the sampler; call before the vCPU threads are joined. */
void vmm_runclock_stop(struct vmm_runclock *rc);

#endif /* VMM_RUNCLOCK_H */
