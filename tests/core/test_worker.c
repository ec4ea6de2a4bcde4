/*
 * The worker thread of THREAD timers as the host process sees it: one thread per device, named
 * "vmwdt-worker" (what ps, top and gdb show), alive from vmwdt_create (or, when it cannot start
 * there, from the call that retries it: core_recovery) to vmwdt_destroy, the same thread before
 * and after sleep, wake and a restore made from inside its own callback, and holding no
 * descriptor. EXTERNAL timers have none.
 */
#define _GNU_SOURCE
#include <check.h>
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmwdt.h"
#include "vmwdt_test.h"

/* How late a loaded machine may deliver an interrupt that is due. */
#define LATE (2000 * MS)

/* The threads of this process named "vmwdt-worker"; the tid of the last one in *tid. */
static int workers(pid_t *tid)
{
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    int n = 0;

    ck_assert_ptr_nonnull(d);
    while ((e = readdir(d)) != NULL) {
        char path[300], comm[32] = "";
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (f == NULL)
            continue; /* a thread that has just ended */
        if (fgets(comm, sizeof(comm), f) != NULL && strcmp(comm, "vmwdt-worker\n") == 0) {
            n++;
            if (tid != NULL)
                *tid = (pid_t)atoi(e->d_name);
        }
        fclose(f);
    }
    closedir(d);
    return n;
}

/* Waits until n workers are left: a joined thread leaves /proc a moment after its join. */
static bool workers_become(int n)
{
    int64_t end = mono_ns() + LATE;

    while (workers(NULL) != n) {
        if (mono_ns() > end)
            return false;
        sleep_ms(1);
    }
    return true;
}

struct host {
    vmwdt *dev;
    atomic_int irqs;
    atomic_int last_tid;     /* the thread that ran the latest interrupt callback */
    atomic_bool restore_in_callback;
    atomic_int restored;     /* restores made (and woken from) inside the callback */
};

/* The interrupt callback; when asked, it snapshots, restores and wakes the device itself. */
static void on_irq(void *opaque, uint32_t cpu)
{
    struct host *h = opaque;
    char *doc = NULL;

    (void)cpu;
    atomic_store(&h->last_tid, test_gettid());
    if (atomic_exchange(&h->restore_in_callback, false)) {
        ck_assert_int_eq(vmwdt_snapshot_json(h->dev, &doc), 0);
        ck_assert_int_eq(vmwdt_restore_json(h->dev, doc), 0);
        vmwdt_free(doc);
        ck_assert_int_eq(vmwdt_wake(h->dev), 0);
        atomic_fetch_add(&h->restored, 1);
    }
    atomic_fetch_add(&h->irqs, 1);
}

static vmwdt *make(struct host *h, enum vmwdt_timers timers)
{
    struct vmwdt_config cfg = {
        .size = sizeof(cfg), .cpu_count = 4, .clock = VMWDT_CLOCK_MONOTONIC,
        .action = VMWDT_ACTION_IRQ_ONLY, .timers = timers,
    };
    struct vmwdt_host_ops ops = {.size = sizeof(ops), .opaque = h, .raise_irq = on_irq};
    vmwdt *dev = NULL;

    ck_assert_int_eq(vmwdt_create(&cfg, &ops, &dev), 0);
    return dev;
}

static void wr(vmwdt *dev, uint32_t cpu, uint32_t reg, uint32_t val)
{
    uint8_t b[4] = {val & 0xff, (val >> 8) & 0xff, (val >> 16) & 0xff, val >> 24};

    ck_assert_int_eq(vmwdt_mmio_write(dev, (uint64_t)cpu * VMWDT_REG_STRIDE + reg, b, 4), 0);
}

/* A 50 ms window on cpu, then the wait for its interrupt. */
static void expect_irq(struct host *h, uint32_t cpu)
{
    int n = atomic_load(&h->irqs);
    int64_t end = mono_ns() + 50 * MS + LATE;

    wr(h->dev, cpu, VMWDT_REG_CLOCK_FREQ_HZ, 1000);
    wr(h->dev, cpu, VMWDT_REG_LOAD_CNT, 50);
    wr(h->dev, cpu, VMWDT_REG_STATUS, 1);
    while (atomic_load(&h->irqs) == n) {
        ck_assert_msg(mono_ns() < end, "no interrupt for vCPU %u", cpu);
        sleep_ms(1);
    }
}

/* One named worker per THREAD device, from create on; none for EXTERNAL; none after destroy. */
START_TEST(worker_is_named_and_lives_with_its_device)
{
    struct host a = {0}, b = {0}, x = {0};

    ck_assert_int_eq(workers(NULL), 0);
    a.dev = make(&a, VMWDT_TIMERS_THREAD);
    ck_assert_int_eq(workers(NULL), 1);
    b.dev = make(&b, VMWDT_TIMERS_THREAD);
    ck_assert_int_eq(workers(NULL), 2);
    x.dev = make(&x, VMWDT_TIMERS_EXTERNAL);
    ck_assert_int_eq(workers(NULL), 2);
    vmwdt_destroy(x.dev);
    vmwdt_destroy(a.dev);
    ck_assert(workers_become(1));
    vmwdt_destroy(b.dev);
    ck_assert(workers_become(0));
}
END_TEST

/*
 * The same named thread runs every callback of the device's life: before and after sleep and
 * wake, and after a snapshot, restore and wake made from inside its own callback.
 */
START_TEST(one_worker_through_sleep_wake_and_restore)
{
    struct host h = {0};
    pid_t tid = 0;

    h.dev = make(&h, VMWDT_TIMERS_THREAD);
    ck_assert_int_eq(workers(&tid), 1);
    expect_irq(&h, 0);
    ck_assert_int_eq(atomic_load(&h.last_tid), tid);
    ck_assert_int_eq(vmwdt_sleep(h.dev), 0);
    ck_assert_int_eq(vmwdt_wake(h.dev), 0);
    expect_irq(&h, 1);
    ck_assert_int_eq(atomic_load(&h.last_tid), tid);
    atomic_store(&h.restore_in_callback, true);
    expect_irq(&h, 2);
    ck_assert_int_eq(atomic_load(&h.restored), 1);
    expect_irq(&h, 3);
    ck_assert_int_eq(atomic_load(&h.last_tid), tid);
    ck_assert_int_eq(workers(NULL), 1);
    vmwdt_destroy(h.dev);
}
END_TEST

/* The worker holds no descriptor: a device with every vCPU counting opens none. */
START_TEST(worker_holds_no_descriptor)
{
    struct host h = {0};
    int fds = count_fds();

    h.dev = make(&h, VMWDT_TIMERS_THREAD);
    for (uint32_t cpu = 0; cpu < 4; cpu++) {
        wr(h.dev, cpu, VMWDT_REG_CLOCK_FREQ_HZ, 1000);
        wr(h.dev, cpu, VMWDT_REG_LOAD_CNT, 1000);
        wr(h.dev, cpu, VMWDT_REG_STATUS, 1);
    }
    ck_assert_int_eq(count_fds(), fds);
    expect_irq(&h, 0);
    ck_assert_int_eq(count_fds(), fds);
    vmwdt_destroy(h.dev);
    ck_assert_int_eq(count_fds(), fds);
}
END_TEST

/*
 * A window far longer than the worker's longest single wait (136 years at 1 Hz) does not hide a
 * short one armed after it: the worker waiting for the first is told of the second.
 */
START_TEST(long_window_then_short_one)
{
    struct host h = {0};

    h.dev = make(&h, VMWDT_TIMERS_THREAD);
    wr(h.dev, 0, VMWDT_REG_CLOCK_FREQ_HZ, 1);
    wr(h.dev, 0, VMWDT_REG_LOAD_CNT, 0xFFFFFFFFu);
    wr(h.dev, 0, VMWDT_REG_STATUS, 1);
    sleep_ms(20);
    expect_irq(&h, 1);
    ck_assert_int_eq(atomic_load(&h.irqs), 1);
    vmwdt_destroy(h.dev);
}
END_TEST

static Suite *worker_suite(void)
{
    Suite *s = suite_create("core_worker");
    TCase *tc = tcase_create("worker");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, worker_is_named_and_lives_with_its_device);
    tcase_add_test(tc, one_worker_through_sleep_wake_and_restore);
    tcase_add_test(tc, worker_holds_no_descriptor);
    tcase_add_test(tc, long_window_then_short_one);
    suite_add_tcase(s, tc);
    return s;
}

VMWDT_SUITE_MAIN(worker_suite)
