/*
 * Devices with real clocks on real threads, through the public ABI: AUTO measures a vCPU by its
 * thread's CPU time, so that it detects the stall of a busy-spinning vCPU thread and not a
 * sleeping one, or by the host's guest_time_ns when the host gives one; a clock without a
 * thread falls back to host time; renaming a thread leaks nothing; a device whose vCPU thread
 * vanished keeps working, and says so once.
 */
#define _GNU_SOURCE
#include <check.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "vmwdt.h"
#include "vmwdt_test.h"
#include "clock_workers.h"

/* A device with THREAD timers and real clocks, and what its callbacks saw. */
struct dev_obs {
    atomic_int irq, reset, log_switch, log_no_thread, log_gone, log_total;
    atomic_llong irq_t;
};

static void obs_irq(void *o, uint32_t cpu)
{
    struct dev_obs *d = o;

    if (atomic_fetch_add(&d->irq, 1) == 0)
        atomic_store(&d->irq_t, mono_ns());
}

static void obs_reset(void *o, uint32_t cpu)
{
    atomic_fetch_add(&((struct dev_obs *)o)->reset, 1);
}

/* The library's wording is matched loosely: these are the facts its messages must state. */
static void obs_log(void *o, int level, const char *msg)
{
    struct dev_obs *d = o;

    atomic_fetch_add(&d->log_total, 1);
    if (strstr(msg, "CPU time"))
        atomic_fetch_add(&d->log_switch, 1);
    if (strstr(msg, "no thread"))
        atomic_fetch_add(&d->log_no_thread, 1);
    if (strstr(msg, "is gone"))
        atomic_fetch_add(&d->log_gone, 1);
}

static vmwdt *dev_new(struct dev_obs *d, enum vmwdt_clock clock)
{
    struct vmwdt_config cfg = {
        .size = sizeof(cfg), .cpu_count = 2, .clock = clock,
        .action = VMWDT_ACTION_IRQ_THEN_RESET, .timers = VMWDT_TIMERS_THREAD,
    };
    struct vmwdt_host_ops ops = {
        .size = sizeof(ops), .opaque = d, .raise_irq = obs_irq, .request_reset = obs_reset,
        .log = obs_log,
    };
    vmwdt *dev = NULL;

    memset(d, 0, sizeof(*d));
    ck_assert_int_eq(vmwdt_create(&cfg, &ops, &dev), 0);
    return dev;
}

static void dev_start(vmwdt *dev, uint32_t cpu, uint32_t f, uint32_t n)
{
    const uint32_t regs[3][2] = { { VMWDT_REG_CLOCK_FREQ_HZ, f }, { VMWDT_REG_LOAD_CNT, n },
                                  { VMWDT_REG_STATUS, 1 } };

    for (int i = 0; i < 3; i++) {
        uint32_t v = regs[i][1];
        uint8_t b[4] = { v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, v >> 24 };
        ck_assert_int_eq(vmwdt_mmio_write(dev, cpu * 0x10 + regs[i][0], b, 4), 0);
    }
}

static bool wait_irq(struct dev_obs *d, int64_t ms)
{
    int64_t end = mono_ns() + ms * MS;

    while (atomic_load(&d->irq) == 0 && mono_ns() < end)
        sleep_ms(5);
    return atomic_load(&d->irq) > 0;
}

/*
 * AUTO: a vCPU thread that spins (its guest time stays 0, as on the nested host of DESIGN.md)
 * is measured by its CPU time, with nothing to log, and its stall is detected: 20 ticks at
 * 100 Hz of CPU.
 */
START_TEST(auto_detects_busy_stall)
{
    struct dev_obs d;
    struct worker busy;
    vmwdt *dev = dev_new(&d, VMWDT_CLOCK_AUTO);

    worker_start(&busy, true);
    ck_assert_int_eq(vmwdt_set_vcpu_thread(dev, 0, getpid(), atomic_load(&busy.tid)), 0);
    int64_t t0 = mono_ns();
    dev_start(dev, 0, 100, 20);
    ck_assert_msg(wait_irq(&d, 5000), "AUTO never detected the spinning vCPU");
    /* At least the window of CPU time had to pass. */
    ck_assert_int_ge(atomic_load(&d.irq_t) - t0, 200 * MS - MS);
    /* Pets go on working; only the expiry was logged. */
    for (int i = 0; i < 10; i++) {
        uint8_t b[4] = { 20, 0, 0, 0 };
        ck_assert_int_eq(vmwdt_mmio_write(dev, VMWDT_REG_LOAD_CNT, b, 4), 0);
        sleep_ms(30);
    }
    ck_assert_int_eq(atomic_load(&d.log_switch), 0);
    ck_assert_int_eq(atomic_load(&d.log_no_thread), 0);
    vmwdt_destroy(dev);
    worker_stop(&busy);
}
END_TEST

/* A host guest clock for auto_uses_host_guest_time: what the test sets. */
static _Atomic int64_t host_guest_ns;

static int64_t host_guest_time(void *o, uint32_t cpu)
{
    return atomic_load(&host_guest_ns);
}

/*
 * AUTO with a host that gives guest_time_ns measures every vCPU with it (HOST): a busy named
 * thread's CPU time does not count, the host's guest time does, and no thread is needed.
 */
START_TEST(auto_uses_host_guest_time)
{
    struct dev_obs d;
    struct worker busy;
    struct vmwdt_config cfg = {
        .size = sizeof(cfg), .cpu_count = 2, .clock = VMWDT_CLOCK_AUTO,
        .action = VMWDT_ACTION_IRQ_THEN_RESET, .timers = VMWDT_TIMERS_EXTERNAL,
    };
    struct vmwdt_host_ops ops = {
        .size = sizeof(ops), .opaque = &d, .raise_irq = obs_irq, .request_reset = obs_reset,
        .log = obs_log, .guest_time_ns = host_guest_time,
    };
    vmwdt *dev = NULL;
    uint8_t b[4];

    memset(&d, 0, sizeof(d));
    atomic_store(&host_guest_ns, 5000 * MS);
    ck_assert_int_eq(vmwdt_create(&cfg, &ops, &dev), 0);
    worker_start(&busy, true);
    ck_assert_int_eq(vmwdt_set_vcpu_thread(dev, 0, getpid(), atomic_load(&busy.tid)), 0);
    dev_start(dev, 0, 100, 20);
    dev_start(dev, 1, 100, 20);
    sleep_ms(300);
    /* 300 ms of the busy thread's CPU time: not counted. */
    ck_assert_int_eq(vmwdt_mmio_read(dev, VMWDT_REG_CURRENT_CNT, b, 4), 0);
    ck_assert_int_eq(b[0], 20);
    /* 150 ms of the host's guest time: counted, on both vCPUs. */
    atomic_store(&host_guest_ns, 5150 * MS);
    ck_assert_int_eq(vmwdt_mmio_read(dev, VMWDT_REG_CURRENT_CNT, b, 4), 0);
    ck_assert_int_eq(b[0], 5);
    ck_assert_int_eq(vmwdt_mmio_read(dev, 0x10 + VMWDT_REG_CURRENT_CNT, b, 4), 0);
    ck_assert_int_eq(b[0], 5);
    atomic_store(&host_guest_ns, 5200 * MS);
    ck_assert_int_eq(vmwdt_run_due(dev, INT64_MAX - 2), 2);
    ck_assert_int_eq(atomic_load(&d.irq), 2);
    ck_assert_int_eq(atomic_load(&d.log_no_thread), 0);
    vmwdt_destroy(dev);
    worker_stop(&busy);
}
END_TEST

/* AUTO and THREAD_CPU: a vCPU thread that sleeps (not running) is not a stall. */
START_TEST(sleeping_vcpu_is_not_a_stall)
{
    static const enum vmwdt_clock clocks[] = { VMWDT_CLOCK_AUTO, VMWDT_CLOCK_THREAD_CPU,
                                               VMWDT_CLOCK_GUEST_TIME };
    struct dev_obs d;
    struct worker idle;
    vmwdt *dev = dev_new(&d, clocks[_i]);

    worker_start(&idle, false);
    ck_assert_int_eq(vmwdt_set_vcpu_thread(dev, 0, getpid(), atomic_load(&idle.tid)), 0);
    dev_start(dev, 0, 100, 10);
    sleep_ms(600);
    ck_assert_int_eq(atomic_load(&d.irq), 0);
    ck_assert_int_eq(atomic_load(&d.log_switch), 0);
    vmwdt_destroy(dev);
    worker_stop(&idle);
}
END_TEST

/* THREAD_CPU: a spinning vCPU thread stalls after the window of its CPU time. */
START_TEST(thread_cpu_detects_busy_stall)
{
    struct dev_obs d;
    struct worker busy;
    vmwdt *dev = dev_new(&d, VMWDT_CLOCK_THREAD_CPU);

    worker_start(&busy, true);
    ck_assert_int_eq(vmwdt_set_vcpu_thread(dev, 1, getpid(), atomic_load(&busy.tid)), 0);
    int64_t t0 = mono_ns();
    dev_start(dev, 1, 100, 20);
    ck_assert_msg(wait_irq(&d, 5000), "THREAD_CPU never detected the spinning vCPU");
    ck_assert_int_ge(atomic_load(&d.irq_t) - t0, 200 * MS - MS);
    vmwdt_destroy(dev);
    worker_stop(&busy);
}
END_TEST


/* A clock that needs a thread and has none falls back to MONOTONIC, logged once per vCPU. */
START_TEST(no_thread_falls_back_to_monotonic)
{
    struct dev_obs d;
    vmwdt *dev = dev_new(&d, clocks_all[_i]);

    int64_t t0 = mono_ns();
    dev_start(dev, 0, 100, 20);
    ck_assert(wait_irq(&d, 2000));
    ck_assert_int_ge(atomic_load(&d.irq_t) - t0, 200 * MS - MS);
    ck_assert_int_le(atomic_load(&d.irq_t) - t0, 1000 * MS);
    for (int i = 0; i < 5; i++) {
        uint8_t b[4] = { 20, 0, 0, 0 };
        ck_assert_int_eq(vmwdt_mmio_write(dev, VMWDT_REG_LOAD_CNT, b, 4), 0);
        sleep_ms(10);
    }
    ck_assert_int_eq(atomic_load(&d.log_no_thread), 1);
    vmwdt_destroy(dev);
}
END_TEST

/* Pets on vCPU 0 from another thread while the test renames vCPU 0's thread. */
struct petter {
    vmwdt *dev;
    atomic_bool stop;
    atomic_long pets;
};

static void *petter_main(void *arg)
{
    struct petter *p = arg;
    uint8_t b[4] = { 100, 0, 0, 0 };

    while (!atomic_load(&p->stop)) {
        ck_assert_int_eq(vmwdt_mmio_write(p->dev, VMWDT_REG_LOAD_CNT, b, 4), 0);
        atomic_fetch_add(&p->pets, 1);
    }
    return NULL;
}

/*
 * Naming a vCPU's thread again closes the thread it replaces, even while that vCPU's clock is
 * being read on another thread: a VMM that restarts its vCPU threads does not leak descriptors.
 */
START_TEST(renaming_a_thread_closes_the_old_one)
{
    struct dev_obs d;
    vmwdt *dev = dev_new(&d, VMWDT_CLOCK_GUEST_TIME);
    struct petter p = { .dev = dev };
    pthread_t th;

    dev_start(dev, 0, 100, 100);
    ck_assert_int_eq(vmwdt_set_vcpu_thread(dev, 0, getpid(), test_gettid()), 0);
    /* A first reading opens the cache entry that vCPU 0's readings use. */
    uint8_t b[4] = { 100, 0, 0, 0 };
    ck_assert_int_eq(vmwdt_mmio_write(dev, VMWDT_REG_LOAD_CNT, b, 4), 0);
    int base = count_fds();
    ck_assert_int_eq(pthread_create(&th, NULL, petter_main, &p), 0);
    /* Rename only once the pets run, so that renames and clock reads overlap. */
    while (atomic_load(&p.pets) == 0)
        sched_yield();
    for (int i = 0; i < 2000; i++)
        ck_assert_int_eq(vmwdt_set_vcpu_thread(dev, 0, getpid(), test_gettid()), 0);
    atomic_store(&p.stop, true);
    pthread_join(th, NULL);
    ck_assert_int_eq(count_fds(), base);
    vmwdt_destroy(dev);
}
END_TEST

/* A device whose vCPU thread vanished keeps working (on the fallback) and logs it. */
START_TEST(device_survives_vanished_thread)
{
    struct dev_obs d;
    struct worker w;
    vmwdt *dev = dev_new(&d, clocks_all[_i]);

    worker_start(&w, false);
    ck_assert_int_eq(vmwdt_set_vcpu_thread(dev, 0, getpid(), atomic_load(&w.tid)), 0);
    dev_start(dev, 0, 100, 20);
    worker_stop(&w);
    int64_t t0 = mono_ns();
    uint8_t b[4] = { 20, 0, 0, 0 };
    ck_assert_int_eq(vmwdt_mmio_write(dev, VMWDT_REG_LOAD_CNT, b, 4), 0);
    ck_assert(wait_irq(&d, 3000));
    ck_assert_int_ge(atomic_load(&d.irq_t) - t0, 200 * MS - MS);
    ck_assert_int_gt(atomic_load(&d.log_gone), 0);
    /* Logged once: later readings of the same vCPU say nothing more. */
    int gone = atomic_load(&d.log_gone);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(vmwdt_mmio_write(dev, VMWDT_REG_LOAD_CNT, b, 4), 0);
    ck_assert_int_eq(atomic_load(&d.log_gone), gone);
    ck_assert_int_eq(gone, 1);
    vmwdt_destroy(dev);
}
END_TEST

static Suite *clock_devices_suite(void)
{
    Suite *s = suite_create("core_clock_devices");
    TCase *dev = tcase_create("device");

    tcase_set_timeout(dev, 20);
    tcase_add_test(dev, auto_detects_busy_stall);
    tcase_add_test(dev, auto_uses_host_guest_time);
    tcase_add_loop_test(dev, sleeping_vcpu_is_not_a_stall, 0, 3);
    tcase_add_test(dev, thread_cpu_detects_busy_stall);
    tcase_add_loop_test(dev, no_thread_falls_back_to_monotonic, 0, 3);
    tcase_add_loop_test(dev, device_survives_vanished_thread, 0, 3);
    tcase_add_test(dev, renaming_a_thread_closes_the_old_one);
    suite_add_tcase(s, dev);
    return s;
}

VMWDT_SUITE_MAIN(clock_devices_suite)
