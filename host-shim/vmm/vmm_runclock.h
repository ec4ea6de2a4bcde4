/*
 * The guest clocks of a --record trace when the VMM cannot see a vCPU halt. With the in-kernel
 * irqchip a halted vCPU waits inside KVM_RUN, so its thread's CPU time (the AUTO and
 * THREAD_CPU clocks) stops while the VMM still sees it "in KVM_RUN". A sampler thread records
 * instead, period by period, as much running time as each vCPU thread used CPU time.
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

/* Stops sampling; call before the vCPU threads are joined (their clocks end with them). */
void vmm_runclock_stop(struct vmm_runclock *rc);

/*
 * After the vCPU threads ended (their stats taken), records the CPU time they used since the
 * last sample, then frees the sampler; call before the trace is closed.
 */
void vmm_runclock_finish(struct vmm_runclock *rc);

#endif /* VMM_RUNCLOCK_H */
