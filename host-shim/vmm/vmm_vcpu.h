/*
 * The vCPU threads: one host thread per vCPU runs KVM_RUN, forwards every access to the
 * watchdog's range to the plugin and hands everything else to the guest's hooks
 * (struct vmm_guest_ops). The host stops a vCPU thread out of KVM_RUN by a "kick".
 */
#ifndef VMM_VCPU_H
#define VMM_VCPU_H

#include "vmm.h"

/* Installs the kick signal's handler; once, before any vCPU thread starts. 0 or -1. */
int vmm_vcpu_init(void);

/* Starts every vCPU's thread; -1 (and vm->failed set) when one cannot start. */
int vmm_vcpu_start_all(struct vmm *vm);

/*
 * Makes the vCPU's thread look at its (lock) fields again: wakes it where it waits and makes
 * it leave KVM_RUN. Call with vm->lock held, after changing a field.
 */
void vmm_vcpu_kick(struct vmm_vcpu *v);

/*
 * Stops every vCPU out of KVM_RUN and holds it there, and returns once every running vCPU
 * thread is parked (or the run is over): then the vCPUs' state and guest RAM stand still and
 * may be read or written from this thread. Each thread has KVM complete its last exit before
 * it parks, so the state KVM reports is whole. Call without vm->lock. vmm_vcpu_resume_all() lets
 * them run again.
 */
void vmm_vcpu_pause_all(struct vmm *vm);
void vmm_vcpu_resume_all(struct vmm *vm);

/* Ends the run for every vCPU thread and joins them. */
void vmm_vcpu_stop_all(struct vmm *vm);

/* A vCPU's thread hit an error the run cannot go on with: says so and ends the run. */
void vmm_vcpu_fail(struct vmm_vcpu *v, const char *what);

#endif /* VMM_VCPU_H */
