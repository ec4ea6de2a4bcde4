/*
 * vmwdt-vmm's per-vCPU statistics table, printed at the end of each run: for each vCPU the
 * accepted pets, the refused guest accesses, the stall interrupts and the reset requests that
 * the plugin counted (vmwdt_vcpu_stats, ABI 1.1), then their sums. A plugin of ABI 1.0 has no
 * statistics: one line says so instead.
 */
#ifndef VMM_WDT_STATS_H
#define VMM_WDT_STATS_H

#include <stdint.h>
#include <stdio.h>

#include "vmwdt_loader.h"

/*
 * Prints the table to out, each line starting with "[SECONDS.mmm] " for the given seconds since
 * the start of the run, as every line of the VMM's output does. Returns 0, or -ENOSYS when the
 * plugin is of ABI 1.0 (the line saying so is printed), or the plugin's negative errno.
 */
int vmm_wdt_stats_print(struct vmwdt_plugin *plugin, vmwdt *dev, uint32_t cpus, double seconds,
                    FILE *out);

#endif /* VMM_WDT_STATS_H */
