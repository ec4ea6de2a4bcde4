/*
 * The end-of-run statistics table of vmwdt-vmm (vmm_wdt_stats.h).
 */
#include "vmm_wdt_stats.h"

#include <errno.h>
#include <inttypes.h>

/* Prints one row; all figures come from one vmwdt_vcpu_stats call. */
static void vmm_wdt_stats_row(FILE *out, double seconds, const char *who,
                          const struct vmwdt_vcpu_stats *st)
{
    fprintf(out, "[%.3f] stats: %5s %10" PRIu64 " %8" PRIu64 " %10" PRIu64 " %6" PRIu64 "\n",
            seconds, who, st->pets, st->refused, st->interrupts, st->resets);
}

int vmm_wdt_stats_print(struct vmwdt_plugin *plugin, vmwdt *dev, uint32_t cpus, double seconds,
                        FILE *out)
{
    char err[512];
    int rc = vmwdt_plugin_check_fn(plugin, "vmwdt_vcpu_stats", err, sizeof err);
    if (rc < 0) {
        fprintf(out, "[%.3f] stats: no per-vCPU statistics: %s\n", seconds, err);
        return rc;
    }
    flockfile(out);
    fprintf(out, "[%.3f] stats: %5s %10s %8s %10s %6s\n", seconds, "vCPU", "pets", "refused",
            "interrupts", "resets");
    for (uint32_t cpu = 0; cpu <= cpus; cpu++) {
        /* The last row sums every vCPU, and counts refused accesses past the last one too. */
        uint32_t which = cpu < cpus ? cpu : VMWDT_ALL_CPUS;
        struct vmwdt_vcpu_stats st = {.size = sizeof st};
        char who[16];
        rc = vmwdt_plugin_vcpu_stats(plugin, dev, which, &st);
        if (rc < 0) {
            fprintf(out, "[%.3f] stats: vmwdt_vcpu_stats(%" PRIu32 ") failed: %s\n", seconds,
                    which, vmwdt_plugin_strerror(plugin, rc));
            break;
        }
        if (cpu < cpus)
            snprintf(who, sizeof who, "%" PRIu32, cpu);
        else
            snprintf(who, sizeof who, "all");
        vmm_wdt_stats_row(out, seconds, who, &st);
    }
    fflush(out);
    funlockfile(out);
    return rc < 0 ? rc : 0;
}
