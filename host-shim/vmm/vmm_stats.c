/*
 * The end-of-run figures of each vCPU thread. On a host that does not account guest time,
 * /proc shows a vCPU spinning in guest code as system time: these lines make that visible.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vmm_output.h"
#include "vmm_stats.h"

/* The thread's CPU time and its /proc accounting (utime, stime, guest_time), for the summary. */
void vmm_stats_collect(struct vmm_vcpu *v)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) == 0)
        v->stats.thread_cpu_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)v->stats.tid);
    FILE *f = fopen(path, "re");
    if (!f)
        return;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* The command name may hold spaces and parentheses: fields count from the last ')'. */
    char *p = strrchr(buf, ')');
    if (!p)
        return;
    long long field[44] = {0};
    int k = 3;
    char *save = NULL;
    for (char *tok = strtok_r(p + 1, " ", &save); tok && k < 44;
         tok = strtok_r(NULL, " ", &save), k++)
        field[k] = strtoll(tok, NULL, 10);
    if (k < 44)
        return;
    v->stats.utime_ticks = field[14];
    v->stats.stime_ticks = field[15];
    v->stats.guest_ticks = field[43];
    v->stats.valid = true;
}

void vmm_stats_print(const struct vmm *vm)
{
    long hz = sysconf(_SC_CLK_TCK);
    if (hz <= 0)
        hz = 100;
    for (uint32_t i = 0; i < vm->opt.cpus; i++) {
        const struct vmm_vcpu *v = &vm->vcpus[i];
        if (!v->stats.valid)
            continue;
        vmm_print(stdout, "stats", "vCPU %u: in KVM_RUN %.3f s, thread CPU %.3f s "
                  "(/proc user %.2f s, system %.2f s, guest_time %.2f s)",
                  i, (double)v->stats.in_run_ns / VMM_NS_PER_S,
                  (double)v->stats.thread_cpu_ns / VMM_NS_PER_S,
                  (double)v->stats.utime_ticks / hz, (double)v->stats.stime_ticks / hz,
                  (double)v->stats.guest_ticks / hz);
        if (v->stats.emulated_int3 || v->stats.emulated_ud2)
            vmm_print(stdout, "stats", "vCPU %u: exceptions raised for KVM's emulator: INT3 %llu, "
                      "UD2 %llu", i, (unsigned long long)v->stats.emulated_int3,
                      (unsigned long long)v->stats.emulated_ud2);
    }
}
