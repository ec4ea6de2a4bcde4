/*
 * The fault tests' host (fault_host.h): virtual time, counted events and log lines, and the
 * device helpers every case uses.
 */
#define _GNU_SOURCE
#include "fault_host.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fault_wrap.h"

/* The host: virtual time for EXTERNAL devices, counted events and log lines. */
int64_t vnow = 1000 * MS;
atomic_int irqs[CPUS], resets[CPUS], logs;
atomic_int worker_logs;
int failures;
long faults_survived;

static int64_t now_ns(void *o)
{
    (void)o;
    return vnow;
}

static int64_t guest_ns(void *o, uint32_t cpu)
{
    (void)o;
    (void)cpu;
    return vnow;
}

void raise_irq(void *o, uint32_t cpu)
{
    (void)o;
    atomic_fetch_add(&irqs[cpu], 1);
}

void request_reset(void *o, uint32_t cpu)
{
    (void)o;
    atomic_fetch_add(&resets[cpu], 1);
}

void log_line(void *o, int level, const char *msg)
{
    (void)o;
    (void)level;
    atomic_fetch_add(&logs, 1);
    if (strstr(msg, "worker thread") != NULL)
        atomic_fetch_add(&worker_logs, 1);
}

vmwdt *create(uint32_t clock, uint32_t timers, bool virtual_time, int *rc_out)
{
    struct vmwdt_config cfg = { .size = sizeof(cfg), .cpu_count = CPUS, .clock = clock,
                                .action = VMWDT_ACTION_IRQ_THEN_RESET, .timers = timers };
    struct vmwdt_host_ops ops = { .size = sizeof(ops), .raise_irq = raise_irq,
                                  .request_reset = request_reset, .log = log_line };
    if (virtual_time) {
        ops.now_ns = now_ns;
        ops.guest_time_ns = guest_ns;
    }
    vmwdt *dev = NULL;
    int rc = vmwdt_create(&cfg, &ops, &dev);
    if (rc_out)
        *rc_out = rc;
    return rc == 0 ? dev : NULL;
}

vmwdt *external(void)
{
    int rc;
    vmwdt *dev = create(VMWDT_CLOCK_HOST, VMWDT_TIMERS_EXTERNAL, true, &rc);
    CHECK(dev != NULL, "create without faults returned %d", rc);
    return dev;
}

int put(vmwdt *dev, uint32_t cpu, uint32_t reg, uint32_t val)
{
    return vmwdt_mmio_write(dev, (uint64_t)cpu * VMWDT_REG_STRIDE + reg, &val, 4);
}

uint32_t get(vmwdt *dev, uint32_t cpu, uint32_t reg)
{
    uint32_t v = 0;
    CHECK(vmwdt_mmio_read(dev, (uint64_t)cpu * VMWDT_REG_STRIDE + reg, &v, 4) == 0, "read");
    return v;
}

/* The snapshot as a string of our own, or NULL. */
char *snap(vmwdt *dev)
{
    char *s = NULL;
    if (vmwdt_snapshot_json(dev, &s) != 0)
        return NULL;
    /* Copied with malloc(): the wrappers count what strdup() would allocate unseen. */
    size_t n = strlen(s) + 1;
    char *copy = malloc(n);
    if (copy != NULL)
        memcpy(copy, s, n);
    vmwdt_free(s);
    return copy;
}

bool same_state(vmwdt *dev, const char *before)
{
    char *after = snap(dev);
    bool same = after != NULL && before != NULL && strcmp(after, before) == 0;
    free(after);
    return same;
}

/* A device with some state: vCPU 0 counting a 100 ms window, vCPU 2 at f = 10, LOAD_CNT 30. */
void set_state(vmwdt *dev)
{
    put(dev, 0, VMWDT_REG_CLOCK_FREQ_HZ, 1000);
    put(dev, 0, VMWDT_REG_LOAD_CNT, 100);
    put(dev, 0, VMWDT_REG_STATUS, 1);
    put(dev, 2, VMWDT_REG_CLOCK_FREQ_HZ, 10);
    put(dev, 2, VMWDT_REG_LOAD_CNT, 30);
    put(dev, 2, VMWDT_REG_STATUS, 1);
}

/*
 * An EXTERNAL device in virtual time still watches: vCPU 1, enabled for a 10 ms window,
 * raises its interrupt when the 10 ms have passed.
 */
void check_works(vmwdt *dev, const char *when)
{
    int before = atomic_load(&irqs[1]);
    CHECK(put(dev, 1, VMWDT_REG_CLOCK_FREQ_HZ, 1000) == 0, "%s", when);
    CHECK(put(dev, 1, VMWDT_REG_LOAD_CNT, 10) == 0, "%s", when);
    CHECK(put(dev, 1, VMWDT_REG_STATUS, 1) == 0, "%s", when);
    CHECK(vmwdt_next_deadline_ns(dev) <= vnow + 10 * MS, "%s: deadline", when);
    vnow += 10 * MS;
    CHECK(vmwdt_run_due(dev, vnow) >= 1, "%s: run_due fired nothing", when);
    CHECK(atomic_load(&irqs[1]) == before + 1, "%s: no interrupt", when);
    CHECK(put(dev, 1, VMWDT_REG_STATUS, 0) == 0, "%s", when);
}

void check_no_leak(long baseline, const char *when)
{
    long live = fault_live_allocations();
    CHECK(live == baseline, "%s: %ld allocations leaked", when, live - baseline);
}

char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *buf = calloc(1, 1 << 16);
    size_t n = buf ? fread(buf, 1, (1 << 16) - 1, f) : 0;
    (void)n;
    fclose(f);
    return buf;
}

void wait_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
    nanosleep(&ts, NULL);
}

