/*
 * Everything at once, for ThreadSanitizer (the tsan preset runs every core_ suite): 16 threads
 * pet, read and toggle their own vCPUs, some of them stalling long enough for the worker to
 * fire, while another thread loops sleep, snapshot, wake, restore, wake and set_vcpu_thread, and
 * callbacks call back into the API. It ends in destroy, after which no callback may run. Once
 * with host time (MONOTONIC) and once with the vCPU threads' CPU time (THREAD_CPU), whose
 * readings race with the thread being named again.
 */
#define _GNU_SOURCE
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "vmwdt.h"
#include "vmwdt_test.h"

#define VCPUS 16
#define RUN_MS 1500

struct stress {
    vmwdt *dev;
    atomic_bool stop;       /* vCPU threads end */
    atomic_bool stop_life;  /* the lifecycle thread ends, first: it names vCPU threads */
    atomic_bool destroyed;
    atomic_int after_destroy;
    atomic_int irqs, resets, callback_reads;
    atomic_int tid[VCPUS];
    atomic_int errors;
    const char *_Atomic what; /* the call that failed first */
    uint64_t lifecycles;
};

struct vcpu_arg {
    struct stress *st;
    uint32_t cpu;
};

static void failed(struct stress *st, const char *what)
{
    const char *none = NULL;

    atomic_fetch_add(&st->errors, 1);
    atomic_compare_exchange_strong(&st->what, &none, what);
}

static void on_event(struct stress *st, uint32_t cpu, atomic_int *count)
{
    uint8_t b[4];

    if (atomic_load(&st->destroyed))
        atomic_fetch_add(&st->after_destroy, 1);
    atomic_fetch_add(count, 1);
    /* A callback may call any function but destroy. */
    if (vmwdt_mmio_read(st->dev, (uint64_t)cpu * VMWDT_REG_STRIDE + VMWDT_REG_STATUS, b, 4) == 0)
        atomic_fetch_add(&st->callback_reads, 1);
}

static void on_irq(void *opaque, uint32_t cpu)
{
    struct stress *st = opaque;

    on_event(st, cpu, &st->irqs);
}

static void on_reset(void *opaque, uint32_t cpu)
{
    struct stress *st = opaque;

    on_event(st, cpu, &st->resets);
}

static void quiet(void *opaque, int level, const char *msg)
{
    (void)opaque;
    (void)level;
    (void)msg;
}

/*
 * A guest write. A restore may bring back a CLOCK_FREQ_HZ of 0 from a snapshot taken before
 * this vCPU started, which refuses pets and enables: the guest then writes its frequency again.
 */
static void wr(struct stress *st, uint32_t cpu, uint32_t reg, uint32_t val)
{
    uint8_t b[4] = {val & 0xff, (val >> 8) & 0xff, (val >> 16) & 0xff, val >> 24};
    uint8_t f[4] = {1000 & 0xff, 1000 >> 8, 0, 0};
    uint64_t base = (uint64_t)cpu * VMWDT_REG_STRIDE;

    if (vmwdt_mmio_write(st->dev, base + reg, b, 4) == 0)
        return;
    if (vmwdt_mmio_write(st->dev, base + VMWDT_REG_CLOCK_FREQ_HZ, f, 4) != 0 ||
        vmwdt_mmio_write(st->dev, base + reg, b, 4) != 0)
        failed(st, "mmio_write");
}

static uint32_t rd(struct stress *st, uint32_t cpu, uint32_t reg)
{
    uint8_t b[4];

    if (vmwdt_mmio_read(st->dev, (uint64_t)cpu * VMWDT_REG_STRIDE + reg, b, 4) != 0)
        failed(st, "mmio_read");
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

/* Spins for ms milliseconds of host time: the thread's CPU clock runs meanwhile. */
static void spin_ms(int64_t ms)
{
    int64_t end = mono_ns() + ms * MS;

    while (mono_ns() < end)
        ;
}

static void *vcpu_main(void *varg)
{
    struct vcpu_arg *a = varg;
    struct stress *st = a->st;
    uint32_t cpu = a->cpu;
    unsigned seed = cpu * 7919u + 1;

    atomic_store(&st->tid[cpu], (int)test_gettid());
    /* The Linux driver's start: 1000 Hz, a window of 2 to 9 ms. */
    wr(st, cpu, VMWDT_REG_CLOCK_FREQ_HZ, 1000);
    wr(st, cpu, VMWDT_REG_LOAD_CNT, 2 + cpu % 8);
    wr(st, cpu, VMWDT_REG_STATUS, 1);
    while (!atomic_load(&st->stop)) {
        int r = rand_r(&seed) % 100;
        if (r < 60) {
            wr(st, cpu, VMWDT_REG_LOAD_CNT, 2 + cpu % 8);
        } else if (r < 80) {
            rd(st, cpu, VMWDT_REG_STATUS);
            rd(st, cpu, VMWDT_REG_CURRENT_CNT);
        } else if (r < 88) {
            wr(st, cpu, VMWDT_REG_STATUS, 0);
            wr(st, cpu, VMWDT_REG_STATUS, 1);
        } else if (r < 90) {
            /* A stall: long enough for the window to end in either clock. */
            spin_ms(12);
        } else {
            /* An idle guest: the other threads, the worker's among them, get the cores. */
            sleep_ms(2);
        }
    }
    return NULL;
}

static void *lifecycle_main(void *varg)
{
    struct stress *st = varg;
    unsigned seed = 12345;

    while (!atomic_load(&st->stop_life)) {
        char *doc = NULL;
        uint32_t cpu = (uint32_t)(rand_r(&seed) % VCPUS);
        int tid = atomic_load(&st->tid[cpu]);

        if (vmwdt_sleep(st->dev) != 0)
            failed(st, "sleep");
        if (vmwdt_snapshot_json(st->dev, &doc) != 0)
            failed(st, "snapshot");
        if (vmwdt_wake(st->dev) != 0)
            failed(st, "wake");
        sleep_ms(1);
        if (doc != NULL && vmwdt_restore_json(st->dev, doc) != 0)
            failed(st, "restore");
        vmwdt_free(doc);
        if (vmwdt_wake(st->dev) != 0)
            failed(st, "wake");
        if (tid > 0 && vmwdt_set_vcpu_thread(st->dev, cpu, getpid(), tid) != 0)
            failed(st, "set_vcpu_thread");
        st->lifecycles++;
    }
    return NULL;
}

static void stress(enum vmwdt_clock clock)
{
    struct stress *st = calloc(1, sizeof(*st));
    struct vcpu_arg args[VCPUS];
    pthread_t th[VCPUS], life;
    struct vmwdt_config cfg = {
        .size = sizeof(cfg), .cpu_count = VCPUS, .clock = clock,
        .action = VMWDT_ACTION_IRQ_THEN_RESET, .timers = VMWDT_TIMERS_THREAD,
    };
    struct vmwdt_host_ops ops = {
        .size = sizeof(ops), .opaque = st, .raise_irq = on_irq, .request_reset = on_reset,
        .log = quiet,
    };

    ck_assert_ptr_nonnull(st);
    ck_assert_int_eq(vmwdt_create(&cfg, &ops, &st->dev), 0);
    for (uint32_t i = 0; i < VCPUS; i++) {
        args[i] = (struct vcpu_arg){st, i};
        ck_assert_int_eq(pthread_create(&th[i], NULL, vcpu_main, &args[i]), 0);
    }
    ck_assert_int_eq(pthread_create(&life, NULL, lifecycle_main, st), 0);
    sleep_ms(RUN_MS);
    atomic_store(&st->stop_life, true);
    pthread_join(life, NULL);
    atomic_store(&st->stop, true);
    for (uint32_t i = 0; i < VCPUS; i++)
        pthread_join(th[i], NULL);
    /* Destroy while the worker may still be firing at stalled vCPUs. */
    vmwdt_destroy(st->dev);
    atomic_store(&st->destroyed, true);
    sleep_ms(20);
    printf("clock %d: %d interrupts, %d resets, %d reads from callbacks, %llu lifecycle "
           "rounds\n", clock, atomic_load(&st->irqs), atomic_load(&st->resets),
           atomic_load(&st->callback_reads), (unsigned long long)st->lifecycles);
    ck_assert_msg(atomic_load(&st->errors) == 0, "%d calls failed, first %s",
                  atomic_load(&st->errors), atomic_load(&st->what));
    ck_assert_int_eq(atomic_load(&st->after_destroy), 0);
    ck_assert_int_gt(atomic_load(&st->irqs), 0);
    ck_assert_int_gt(st->lifecycles, 5);
    free(st);
}

START_TEST(stress_monotonic)
{
    stress(VMWDT_CLOCK_MONOTONIC);
}
END_TEST

START_TEST(stress_thread_cpu)
{
    stress(VMWDT_CLOCK_THREAD_CPU);
}
END_TEST

static Suite *stress_suite(void)
{
    Suite *s = suite_create("core_stress");
    TCase *tc = tcase_create("stress");

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, stress_monotonic);
    tcase_add_test(tc, stress_thread_cpu);
    suite_add_tcase(s, tc);
    return s;
}

VMWDT_SUITE_MAIN(stress_suite)
