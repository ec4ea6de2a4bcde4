/*
 * vmwdt-vmm's clock and output lines: one place that formats the time prefix, so that the
 * vCPU threads, the plugin's callbacks and the serial console all print the same way. The
 * prefix is exactly "[SECONDS.mmm] " (DESIGN.md section 8), unpadded.
 */
#define _GNU_SOURCE
#include <time.h>

#include "vmm_output.h"

static int64_t start_ns;

int64_t vmm_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * VMM_NS_PER_S + ts.tv_nsec;
}

void vmm_output_set_start(int64_t ns)
{
    __atomic_store_n(&start_ns, ns, __ATOMIC_RELEASE);
}

int64_t vmm_output_start(void)
{
    return __atomic_load_n(&start_ns, __ATOMIC_ACQUIRE);
}

int64_t vmm_elapsed_ns(void)
{
    return vmm_now_ns() - vmm_output_start();
}

void vmm_vprint(FILE *f, const char *who, const char *fmt, va_list ap)
{
    double t = (double)vmm_elapsed_ns() / VMM_NS_PER_S;
    flockfile(f);
    fprintf(f, "[%.3f] %s: ", t, who);
    vfprintf(f, fmt, ap);
    fputc('\n', f);
    fflush(f);
    funlockfile(f);
}

void vmm_print(FILE *f, const char *who, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmm_vprint(f, who, fmt, ap);
    va_end(ap);
}

void vmm_event(uint32_t cpu, const char *fmt, ...)
{
    char who[24];
    snprintf(who, sizeof(who), "vCPU %u", cpu);
    va_list ap;
    va_start(ap, fmt);
    vmm_vprint(stdout, who, fmt, ap);
    va_end(ap);
}

void vmm_note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmm_vprint(stdout, "vmm", fmt, ap);
    va_end(ap);
}
