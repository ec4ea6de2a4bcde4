/*
 * The Linux guest (--kernel): a bzImage booted at its 64-bit entry on an in-kernel irqchip,
 * with a 16550 console, a device tree naming the watchdog, and the stall interrupt delivered
 * as an NMI after the host has printed where the vCPU stalled.
 */
#ifndef VMM_LINUX_H
#define VMM_LINUX_H

#include <stddef.h>

#include "vmm.h"

/*
 * 64 MiB hold the small guest kernel and its initramfs many times over, and a kernel's boot
 * work grows with its RAM (struct pages, the free lists), which counts where KVM emulates the
 * guest kernel (PVM).
 */
#define VMM_LINUX_RAM_SIZE (64ULL << 20)
#define VMM_LINUX_WDT_BASE 0xfe000000ULL /* outside RAM, below the LAPIC and IOAPIC pages */
#define VMM_LINUX_WDT_SIZE 0x1000ULL
/* The start of the line by which the guest's init says it is up (host-shim/vmm/guest/init). */
#define VMM_LINUX_READY "vmwdt-guest: ready"

/* The VM's devices and memory for this guest, before the vCPUs exist. 0 or -1. */
int vmm_linux_create(struct vmm *vm, char *err, size_t errlen);

/* After the vCPUs exist: the kernel, its initramfs, command line and device tree, and the
 * boot vCPU's registers. The others wait for the guest's INIT and SIPI. 0 or -1. */
int vmm_linux_boot(struct vmm *vm, char *err, size_t errlen);

/* The guest's command line as booted (after vmm_linux_boot), for the start of the run. */
const char *vmm_linux_cmdline(const struct vmm *vm);

/* Hands out the console's last line and frees what vmm_linux_create made. */
void vmm_linux_close(struct vmm *vm);

#endif /* VMM_LINUX_H */
