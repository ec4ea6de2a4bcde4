/*
 * The built-in real-mode guest (vmm_guest.S), used without --kernel: every vCPU pets its
 * watchdog like the Linux driver does, halting in between, and takes the stall interrupt as
 * vector VMM_STALL_VECTOR. It has no interrupt controller: the host injects the interrupt.
 */
#ifndef VMM_REALMODE_H
#define VMM_REALMODE_H

#include <stddef.h>

#include "vmm.h"

/* The VM's memory for this guest: 1 MiB of RAM with a hole for the two devices. 0 or -1. */
int vmm_realmode_create(struct vmm *vm, char *err, size_t errlen);

/* After the vCPUs exist: the guest code, its parameters and every vCPU's registers. */
int vmm_realmode_boot(struct vmm *vm, char *err, size_t errlen);

#endif /* VMM_REALMODE_H */
