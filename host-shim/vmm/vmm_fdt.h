/*
 * The device tree that the Linux guest gets through setup_data (SETUP_DTB): its CPUs and the
 * watchdog node of the binding qemu,vcpu-stall-detector. Built with libfdt.
 */
#ifndef VMM_FDT_H
#define VMM_FDT_H

#include <stddef.h>
#include <stdint.h>

struct vmm_fdt_params {
    uint32_t cpus;       /* cpu@N nodes, reg = N = the vCPU's APIC ID */
    uint64_t wdt_base;   /* the watchdog's guest-physical range */
    uint64_t wdt_size;
    uint32_t freq;       /* clock-frequency */
    uint32_t timeout;    /* timeout-sec */
};

/* Writes the flattened tree into buf; its size, or -1 with a message when it does not fit. */
int vmm_fdt_build(const struct vmm_fdt_params *p, void *buf, size_t size, char *err,
                  size_t errlen);

#endif /* VMM_FDT_H */
