/*
 * A short walk through the library's life cycle, run under valgrind by the valgrind_smoke test:
 * create, pets, reads, refused guest input, expiry in EXTERNAL mode, sleep and wake, snapshot
 * and restore into a fresh device, THREAD mode with a short window, a GUEST_TIME vCPU with its
 * thread named, destroy. It checks the events it expects, so that a run that leaks nothing but
 * does nothing fails too. Exit status: 0 on success, 1 on a failed check.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"

static int64_t vnow;
static int irqs, resets;
static _Atomic int logs; /* the worker threads log too */
static sem_t thread_irq;

static int64_t virt_now(void *opaque)
{
    return vnow;
}

static int64_t virt_guest_time(void *opaque, uint32_t cpu)
{
    return vnow;
}

static void on_irq(void *opaque, uint32_t cpu)
{
    irqs++;
}

static void on_reset(void *opaque, uint32_t cpu)
{
    resets++;
}

static void on_thread_irq(void *opaque, uint32_t cpu)
{
    sem_post(&thread_irq);
}

static void quiet_log(void *opaque, int level, const char *msg)
{
    /* Refused input is expected here; only count the messages. */
    logs++;
}

static int failures;

static void expect(int cond, const char *what)
{
    if (!cond) {
        fprintf(stderr, "check failed: %s\n", what);
        failures++;
    }
}

static vmwdt *make(uint32_t n, uint32_t clock, uint32_t timers, const struct vmwdt_host_ops *ops)
{
    struct vmwdt_config cfg = { .size = sizeof(cfg), .cpu_count = n, .clock = clock,
                                .action = VMWDT_ACTION_IRQ_THEN_RESET, .timers = timers };
    vmwdt *dev = NULL;

    bench_check(vmwdt_create(&cfg, ops, &dev), "vmwdt_create");
    return dev;
}

static const struct vmwdt_host_ops virt_ops = {
    .size = sizeof(struct vmwdt_host_ops), .raise_irq = on_irq, .request_reset = on_reset,
    .guest_time_ns = virt_guest_time, .now_ns = virt_now, .log = quiet_log
};

/* Refused accesses: each must fail and change nothing. */
static void bad_input(vmwdt *dev, uint32_t n)
{
    uint32_t v = 5;
    uint8_t b[8] = { 0 };

    expect(vmwdt_mmio_write(dev, 1, &v, 4) < 0, "unaligned write refused");
    expect(vmwdt_mmio_write(dev, (uint64_t)n * VMWDT_REG_STRIDE, &v, 4) < 0, "cpu == count");
    expect(vmwdt_mmio_write(dev, VMWDT_REG_CURRENT_CNT, &v, 4) < 0, "CURRENT_CNT read-only");
    expect(vmwdt_mmio_write(dev, 0, b, 8) < 0, "8-byte write refused");
    expect(vmwdt_mmio_read(dev, 2, b, 4) < 0, "unaligned read refused");
}

/* EXTERNAL mode in virtual time: pets keep vCPU 0 alive while vCPU 1 stalls. */
static void external_part(void)
{
    vmwdt *dev = make(4, VMWDT_CLOCK_HOST, VMWDT_TIMERS_EXTERNAL, &virt_ops);
    int64_t t;

    vnow = 0;
    bad_input(dev, 4);
    for (uint32_t cpu = 0; cpu < 4; cpu++)
        bench_enable(dev, cpu, 10, 20); /* 2 s windows */
    expect(bench_read(dev, 1, VMWDT_REG_STATUS) == 1, "STATUS reads enabled");
    for (t = 1000000000; t <= 6000000000; t += 1000000000) {
        vnow = t;
        vmwdt_run_due(dev, t);
        bench_write(dev, 0, VMWDT_REG_LOAD_CNT, 20);
        bench_write(dev, 2, VMWDT_REG_LOAD_CNT, 20);
        bench_write(dev, 3, VMWDT_REG_LOAD_CNT, 20);
    }
    /* vCPU 1 was last petted at 0: interrupt at 2 s, reset request at 4 s. */
    expect(irqs == 1 && resets == 1, "vCPU 1 raised its interrupt and then a reset");
    expect(bench_read(dev, 1, VMWDT_REG_CURRENT_CNT) == 0, "CURRENT_CNT 0 after expiry");
    bench_check(vmwdt_sleep(dev), "vmwdt_sleep");
    bench_check(vmwdt_wake(dev), "vmwdt_wake");
    vmwdt_destroy(dev);
}

/* Snapshot on a sleeping source, restore into a fresh device, wake, let it expire. */
static void snapshot_part(void)
{
    vmwdt *src = make(2, VMWDT_CLOCK_HOST, VMWDT_TIMERS_EXTERNAL, &virt_ops), *dst;
    char *json = NULL;

    vnow = 10000000000;
    bench_enable(src, 0, 10, 30);
    bench_enable(src, 1, 10, 30);
    bench_check(vmwdt_sleep(src), "vmwdt_sleep");
    bench_check(vmwdt_snapshot_json(src, &json), "vmwdt_snapshot_json");
    vmwdt_destroy(src);
    dst = make(2, VMWDT_CLOCK_HOST, VMWDT_TIMERS_EXTERNAL, &virt_ops);
    expect(vmwdt_restore_json(dst, "{\"format\": 7}") < 0, "a bad document is refused");
    bench_check(vmwdt_restore_json(dst, json), "vmwdt_restore_json");
    vmwdt_free(json);
    bench_check(vmwdt_wake(dst), "vmwdt_wake");
    irqs = resets = 0;
    vnow += 3000000000;
    vmwdt_run_due(dst, vnow);
    expect(irqs == 2, "both restored vCPUs expire after their 3 s budget");
    vmwdt_destroy(dst);
}

/* THREAD mode: the worker raises the interrupt of a 20 ms window; a GUEST_TIME vCPU is petted. */
static void thread_part(void)
{
    struct vmwdt_host_ops ops = { .size = sizeof(ops), .raise_irq = on_thread_irq,
                                  .log = quiet_log };
    vmwdt *dev = make(2, VMWDT_CLOCK_MONOTONIC, VMWDT_TIMERS_THREAD, &ops);
    vmwdt *gt = make(1, VMWDT_CLOCK_GUEST_TIME, VMWDT_TIMERS_THREAD, &ops);
    struct timespec ts;

    sem_init(&thread_irq, 0, 0);
    bench_enable(dev, 0, 1000, 20);
    bench_enable(dev, 1, 1, 3600);
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 30; /* valgrind is slow, and the machine may be busy */
    expect(sem_timedwait(&thread_irq, &ts) == 0, "THREAD mode raised the interrupt");
    bench_check(vmwdt_set_vcpu_thread(gt, 0, getpid(), bench_gettid()), "set_vcpu_thread");
    bench_enable(gt, 0, 10, 80);
    bench_write(gt, 0, VMWDT_REG_LOAD_CNT, 80);
    expect(bench_read(gt, 0, VMWDT_REG_CURRENT_CNT) > 0, "GUEST_TIME vCPU counting");
    vmwdt_destroy(gt);
    vmwdt_destroy(dev);
    sem_destroy(&thread_irq);
}

int main(void)
{
    external_part();
    snapshot_part();
    thread_part();
    printf("valgrind_scenario: %s (%d library messages)\n", failures ? "FAILED" : "ok", logs);
    return failures ? 1 : 0;
}
