/*
 * The end-of-run figures of each vCPU thread: its time in KVM_RUN, its CPU time and the
 * kernel's accounting of it in /proc.
 */
#ifndef VMM_STATS_H
#define VMM_STATS_H

#include "vmm.h"

/* Takes the calling vCPU thread's figures into v->stats; called by that thread as it ends. */
void vmm_stats_collect(struct vmm_vcpu *v);

/* Prints one "[s.mmm] stats: vCPU n: ..." line per vCPU whose figures were taken. */
void vmm_stats_print(const struct vmm *vm);

#endif /* VMM_STATS_H */
