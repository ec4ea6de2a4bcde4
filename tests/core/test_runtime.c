/*
 * The THREAD timer runtime with real clocks (MONOTONIC, f = 100, windows of a few hundred
 * milliseconds): order and timing of events, sleep / wake, destroy, descriptors, callbacks that
 * call back into the API, and vCPU threads writing at once while the worker fires.
 */
#define _GNU_SOURCE
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "vmwdt_test.h"
#include "vharness.h"

/* How late an event may come on a loaded machine before the test calls it lost. */
#define LATE (400 * MS)
/* Timers never fire early; one millisecond absorbs a library that rounds to milliseconds. */
#define EARLY (1 * MS)
#define MAX_EV 256

/* What the host saw, shared between the worker's callbacks and the test thread. */
struct rt {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    vmwdt *dev;
    int nirq, nreset;
    int64_t irq_t[MAX_EV], reset_t[MAX_EV];
    uint32_t irq_cpu[MAX_EV], reset_cpu[MAX_EV];
    pid_t test_tid;
    atomic_int on_test_thread;   /* Callbacks that ran on the thread that called the API. */
    atomic_int in_callback;
    atomic_bool destroyed;       /* Set once vmwdt_destroy() has returned. */
    atomic_int after_destroy;    /* Callbacks that began after that. */
    int64_t callback_sleep_ms;   /* How long raise_irq lingers (destroy during a callback). */
    void (*on_irq)(struct rt *r, uint32_t cpu);
    void (*on_reset)(struct rt *r, uint32_t cpu);
    atomic_int nlog;
    int64_t slept_at;            /* When a callback's vmwdt_sleep() returned. */
    void (*on_log)(struct rt *r, int level);
};

static void rt_enter(struct rt *r)
{
    if (atomic_load(&r->destroyed))
        atomic_fetch_add(&r->after_destroy, 1);
    if (test_gettid() == r->test_tid)
        atomic_fetch_add(&r->on_test_thread, 1);
    atomic_fetch_add(&r->in_callback, 1);
}

static void rt_record(struct rt *r, int *n, int64_t *ts, uint32_t *cpus, uint32_t cpu,
                      int64_t t)
{
    pthread_mutex_lock(&r->mu);
    if (*n < MAX_EV) {
        ts[*n] = t;
        cpus[*n] = cpu;
    }
    (*n)++;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

static void rt_irq(void *opaque, uint32_t cpu)
{
    struct rt *r = opaque;
    int64_t t = mono_ns();

    rt_enter(r);
    /* The hook runs first, so that a test woken by the record sees what the hook did. */
    if (r->on_irq)
        r->on_irq(r, cpu);
    rt_record(r, &r->nirq, r->irq_t, r->irq_cpu, cpu, t);
    if (r->callback_sleep_ms)
        sleep_ms(r->callback_sleep_ms);
    atomic_fetch_sub(&r->in_callback, 1);
}

static void rt_reset(void *opaque, uint32_t cpu)
{
    struct rt *r = opaque;
    int64_t t = mono_ns();

    rt_enter(r);
    if (r->on_reset)
        r->on_reset(r, cpu);
    rt_record(r, &r->nreset, r->reset_t, r->reset_cpu, cpu, t);
    atomic_fetch_sub(&r->in_callback, 1);
}

static void rt_log(void *opaque, int level, const char *msg)
{
    struct rt *r = opaque;

    atomic_fetch_add(&r->nlog, 1);
    if (r->on_log)
        r->on_log(r, level);
}

/* Host time handed to the library through now_ns: CLOCK_MONOTONIC, read by the host. */
static int64_t rt_now(void *opaque)
{
    (void)opaque;
    return mono_ns();
}

/* A device whose host time is CLOCK_MONOTONIC, read by the library itself or, with
 * host_now_cb, through the now_ns callback. */
static struct rt *rt_new_with(uint32_t cpus, enum vmwdt_action action, bool host_now_cb)
{
    struct rt *r = calloc(1, sizeof(*r));
    struct vmwdt_config cfg = {
        .size = sizeof(cfg),
        .cpu_count = cpus,
        .clock = VMWDT_CLOCK_MONOTONIC,
        .action = action,
        .timers = VMWDT_TIMERS_THREAD,
    };
    /* now_ns NULL: the library reads CLOCK_MONOTONIC itself, the same clock as mono_ns(). */
    struct vmwdt_host_ops ops = {
        .size = sizeof(ops),
        .opaque = r,
        .raise_irq = rt_irq,
        .request_reset = rt_reset,
        .log = rt_log,
    };

    if (host_now_cb)
        ops.now_ns = rt_now;
    ck_assert_ptr_nonnull(r);
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    r->test_tid = test_gettid();
    ck_assert_int_eq(vmwdt_create(&cfg, &ops, &r->dev), 0);
    return r;
}

static struct rt *rt_new(uint32_t cpus, enum vmwdt_action action)
{
    return rt_new_with(cpus, action, false);
}

static void rt_destroy_dev(struct rt *r)
{
    vmwdt_destroy(r->dev);
    atomic_store(&r->destroyed, true);
    r->dev = NULL;
}

static void rt_free(struct rt *r)
{
    if (r->dev)
        rt_destroy_dev(r);
    ck_assert_int_eq(atomic_load(&r->on_test_thread), 0);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    free(r);
}

/* Waits until at least nirq interrupts and nreset resets arrived, or until the deadline. */
static bool rt_wait(struct rt *r, int nirq, int nreset, int64_t deadline)
{
    bool ok;

    pthread_mutex_lock(&r->mu);
    while (!(ok = r->nirq >= nirq && r->nreset >= nreset)) {
        int64_t left = deadline - mono_ns();
        if (left <= 0)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t abs = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec + (left < 10 * MS ? left : 10 * MS);
        ts.tv_sec = abs / 1000000000LL;
        ts.tv_nsec = abs % 1000000000LL;
        pthread_cond_timedwait(&r->cv, &r->mu, &ts);
    }
    pthread_mutex_unlock(&r->mu);
    return ok;
}

static int rt_count(struct rt *r, int *n)
{
    pthread_mutex_lock(&r->mu);
    int v = *n;
    pthread_mutex_unlock(&r->mu);
    return v;
}

static int mmio_w(vmwdt *dev, uint32_t cpu, uint32_t reg, uint32_t val)
{
    uint8_t b[4] = { val & 0xff, (val >> 8) & 0xff, (val >> 16) & 0xff, val >> 24 };

    return vmwdt_mmio_write(dev, (uint64_t)cpu * VMWDT_REG_STRIDE + reg, b, 4);
}

static uint32_t mmio_r(vmwdt *dev, uint32_t cpu, uint32_t reg)
{
    uint8_t b[4];

    ck_assert_int_eq(vmwdt_mmio_read(dev, (uint64_t)cpu * VMWDT_REG_STRIDE + reg, b, 4), 0);
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static void start_cpu(vmwdt *dev, uint32_t cpu, uint32_t f, uint32_t n)
{
    ck_assert_int_eq(mmio_w(dev, cpu, VMWDT_REG_CLOCK_FREQ_HZ, f), 0);
    ck_assert_int_eq(mmio_w(dev, cpu, VMWDT_REG_LOAD_CNT, n), 0);
    ck_assert_int_eq(mmio_w(dev, cpu, VMWDT_REG_STATUS, 1), 0);
}

/* 20 ticks at 100 Hz: the interrupt after 200 ms, the reset 200 ms later, in that order, from
 * the worker thread. */
START_TEST(thread_irq_then_reset)
{
    struct rt *r = rt_new(2, VMWDT_ACTION_IRQ_THEN_RESET);

    ck_assert_int_eq(vmwdt_run_due(r->dev, mono_ns()), -EINVAL);
    ck_assert_int_eq(vmwdt_next_deadline_ns(r->dev), INT64_MAX);
    int64_t t0 = mono_ns();
    start_cpu(r->dev, 1, 100, 20);
    ck_assert(rt_wait(r, 1, 1, t0 + 400 * MS + 2 * LATE));
    ck_assert_int_eq(r->nirq, 1);
    ck_assert_int_eq(r->nreset, 1);
    ck_assert_uint_eq(r->irq_cpu[0], 1);
    ck_assert_uint_eq(r->reset_cpu[0], 1);
    ck_assert_int_ge(r->irq_t[0], t0 + 200 * MS - EARLY);
    ck_assert_int_le(r->irq_t[0], t0 + 200 * MS + LATE);
    ck_assert_int_ge(r->reset_t[0], r->irq_t[0]);
    ck_assert_int_ge(r->reset_t[0], t0 + 400 * MS - EARLY);
    ck_assert_uint_eq(mmio_r(r->dev, 1, VMWDT_REG_STATUS), 3);
    /* Nothing more: the countdown stopped after the reset. */
    sleep_ms(300);
    ck_assert_int_eq(rt_count(r, &r->nirq) + rt_count(r, &r->nreset), 2);
    ck_assert_int_eq(atomic_load(&r->on_test_thread), 0);
    rt_free(r);
}
END_TEST

/* Regular pets keep the worker quiet. */
START_TEST(thread_pets_keep_quiet)
{
    struct rt *r = rt_new(1, VMWDT_ACTION_IRQ_THEN_RESET);
    int64_t end = mono_ns() + 600 * MS;

    start_cpu(r->dev, 0, 100, 30);
    while (mono_ns() < end) {
        sleep_ms(20);
        ck_assert_int_eq(mmio_w(r->dev, 0, VMWDT_REG_LOAD_CNT, 30), 0);
    }
    ck_assert_int_eq(rt_count(r, &r->nirq), 0);
    ck_assert_int_eq(mmio_w(r->dev, 0, VMWDT_REG_STATUS, 0), 0);
    sleep_ms(400);
    ck_assert_int_eq(rt_count(r, &r->nirq) + rt_count(r, &r->nreset), 0);
    rt_free(r);
}
END_TEST

/* Sleep stops the countdown; wake resumes it with the budget that was left. */
START_TEST(thread_sleep_wake)
{
    struct rt *r = rt_new(1, VMWDT_ACTION_IRQ_THEN_RESET);

    int64_t e0 = mono_ns();
    start_cpu(r->dev, 0, 100, 20);
    sleep_ms(100);
    ck_assert_int_eq(vmwdt_sleep(r->dev), 0);
    int64_t s1 = mono_ns();
    ck_assert_int_eq(vmwdt_sleep(r->dev), 0);
    sleep_ms(350);
    ck_assert_int_eq(rt_count(r, &r->nirq), 0);
    int64_t w0 = mono_ns();
    ck_assert_int_eq(vmwdt_wake(r->dev), 0);
    ck_assert_int_eq(vmwdt_wake(r->dev), 0);
    ck_assert(rt_wait(r, 1, 0, w0 + 200 * MS + LATE));
    /* The budget left at sleep was at least 200 ms - (s1 - e0), counted from the wake. */
    int64_t budget_left_min = 200 * MS - (s1 - e0);
    ck_assert_int_ge(r->irq_t[0], w0 + budget_left_min - EARLY);
    ck_assert_int_le(r->irq_t[0], w0 + 100 * MS + LATE);
    /* Asleep in the second window: no reset until the wake. */
    ck_assert_int_eq(vmwdt_sleep(r->dev), 0);
    sleep_ms(450);
    ck_assert_int_eq(rt_count(r, &r->nreset), 0);
    int64_t w1 = mono_ns();
    ck_assert_int_eq(vmwdt_wake(r->dev), 0);
    ck_assert(rt_wait(r, 1, 1, w1 + 200 * MS + LATE));
    ck_assert_int_ge(r->reset_t[0], w1);
    rt_free(r);
}
END_TEST

/* Destroy while armed returns promptly, and no callback runs after it returns. */
START_TEST(thread_destroy_while_armed)
{
    struct rt *r = rt_new(64, VMWDT_ACTION_IRQ_THEN_RESET);

    for (uint32_t c = 0; c < 64; c++)
        start_cpu(r->dev, c, 100, 5 + c % 20);
    sleep_ms(120);
    int64_t t = mono_ns();
    rt_destroy_dev(r);
    int64_t took = mono_ns() - t;
    ck_assert_msg(took < 200 * MS, "destroy took %lld ms", (long long)(took / MS));
    ck_assert_int_eq(atomic_load(&r->in_callback), 0);
    sleep_ms(400);
    ck_assert_int_eq(atomic_load(&r->after_destroy), 0);
    rt_free(r);
}
END_TEST

/* Destroy while a callback runs waits for it to return; nothing runs afterwards. */
START_TEST(thread_destroy_during_callback)
{
    struct rt *r = rt_new(4, VMWDT_ACTION_IRQ_THEN_RESET);

    r->callback_sleep_ms = 150;
    for (uint32_t c = 0; c < 4; c++)
        start_cpu(r->dev, c, 100, 2);
    ck_assert(rt_wait(r, 1, 0, mono_ns() + 20 * MS + LATE));
    ck_assert_int_gt(atomic_load(&r->in_callback), 0);
    rt_destroy_dev(r);
    ck_assert_int_eq(atomic_load(&r->in_callback), 0);
    int seen = rt_count(r, &r->nirq) + rt_count(r, &r->nreset);
    sleep_ms(300);
    ck_assert_int_eq(rt_count(r, &r->nirq) + rt_count(r, &r->nreset), seen);
    ck_assert_int_eq(atomic_load(&r->after_destroy), 0);
    rt_free(r);
}
END_TEST

/* Create then destroy at once, asleep, or right after an enable: no hang, no callback. */
START_TEST(thread_destroy_edge_cases)
{
    for (int i = 0; i < 20; i++) {
        struct rt *r = rt_new(8, VMWDT_ACTION_IRQ_THEN_RESET);

        if (i % 4 >= 1)
            start_cpu(r->dev, i % 8, 100, i % 3);
        if (i % 4 == 2)
            ck_assert_int_eq(vmwdt_sleep(r->dev), 0);
        if (i % 4 == 3) {
            ck_assert_int_eq(vmwdt_sleep(r->dev), 0);
            ck_assert_int_eq(vmwdt_wake(r->dev), 0);
        }
        int64_t t = mono_ns();
        rt_destroy_dev(r);
        ck_assert_int_lt(mono_ns() - t, 200 * MS);
        sleep_ms(5);
        ck_assert_int_eq(atomic_load(&r->after_destroy), 0);
        rt_free(r);
    }
}
END_TEST

/* Descriptors a device of cpus vCPUs holds with every vCPU armed and the worker running. */
static int fds_for(uint32_t cpus)
{
    int base = count_fds();
    struct rt *r = rt_new(cpus, VMWDT_ACTION_IRQ_THEN_RESET);

    for (uint32_t c = 0; c < cpus; c++)
        start_cpu(r->dev, c, 100, 100);
    sleep_ms(20);
    int used = count_fds() - base;
    rt_destroy_dev(r);
    ck_assert_int_eq(count_fds(), base);
    rt_free(r);
    return used;
}

/* 1024 vCPUs use the same number of descriptors as 1, and destroy closes them all. */
START_TEST(thread_fds_do_not_scale)
{
    int one = fds_for(1);
    int many = fds_for(1024);

    ck_assert_msg(one == many, "1 vCPU: %d descriptors, 1024 vCPUs: %d", one, many);
}
END_TEST

/* raise_irq pets its own vCPU and reads the device: no deadlock, no reset ever. */
static void pet_from_irq(struct rt *r, uint32_t cpu)
{
    uint8_t b[4];

    ck_assert_int_eq(vmwdt_mmio_read(r->dev, cpu * 0x10 + VMWDT_REG_STATUS, b, 4), 0);
    ck_assert_int_eq(b[0], 3);
    (void)vmwdt_next_deadline_ns(r->dev);
    ck_assert_int_eq(mmio_w(r->dev, cpu, VMWDT_REG_LOAD_CNT, 10), 0);
    ck_assert_int_eq(vmwdt_mmio_read(r->dev, cpu * 0x10 + VMWDT_REG_STATUS, b, 4), 0);
    ck_assert_int_eq(b[0], 1);
}

START_TEST(thread_callback_pets)
{
    struct rt *r = rt_new(2, VMWDT_ACTION_IRQ_THEN_RESET);

    r->on_irq = pet_from_irq;
    start_cpu(r->dev, 0, 100, 10);
    start_cpu(r->dev, 1, 100, 15);
    ck_assert(rt_wait(r, 6, 0, mono_ns() + 450 * MS + 2 * LATE));
    ck_assert_int_eq(rt_count(r, &r->nreset), 0);
    rt_free(r);
}
END_TEST

/* Callbacks that sleep, wake, snapshot and disable from the worker thread. */
static void sleep_from_irq(struct rt *r, uint32_t cpu)
{
    char *json = NULL;

    ck_assert_int_eq(vmwdt_sleep(r->dev), 0);
    r->slept_at = mono_ns();
    if (vmwdt_snapshot_json(r->dev, &json) == 0)
        vmwdt_free(json);
}

static void disable_from_reset(struct rt *r, uint32_t cpu)
{
    ck_assert_int_eq(vmwdt_wake(r->dev), 0);
    ck_assert_int_eq(mmio_w(r->dev, cpu, VMWDT_REG_STATUS, 0), 0);
}

START_TEST(thread_callback_sleeps)
{
    struct rt *r = rt_new(1, VMWDT_ACTION_IRQ_THEN_RESET);

    r->on_irq = sleep_from_irq;
    r->on_reset = disable_from_reset;
    int64_t e0 = mono_ns();
    start_cpu(r->dev, 0, 100, 10);
    ck_assert(rt_wait(r, 1, 0, mono_ns() + 100 * MS + LATE));
    /* The interrupt's callback put the device to sleep: the reset waits for the wake. */
    sleep_ms(350);
    ck_assert_int_eq(rt_count(r, &r->nreset), 0);
    int64_t w = mono_ns();
    ck_assert_int_eq(vmwdt_wake(r->dev), 0);
    ck_assert(rt_wait(r, 1, 1, w + 100 * MS + LATE));
    /* The second window began at the exact expiry, e0 + 100 ms at the earliest, however late
     * the worker ran; what was left of it when the callback slept counts from the wake. */
    int64_t left_min = e0 + 200 * MS - r->slept_at;
    ck_assert_int_ge(r->reset_t[0], w + left_min - EARLY);
    ck_assert_uint_eq(mmio_r(r->dev, 0, VMWDT_REG_STATUS) & 1, 0);
    sleep_ms(250);
    ck_assert_int_eq(rt_count(r, &r->nirq), 1);
    ck_assert_int_eq(rt_count(r, &r->nreset), 1);
    rt_free(r);
}
END_TEST

/* EXTERNAL timers: callbacks inside run_due call the API, run_due itself included. */
static void external_reenter(struct vh *h, uint32_t cpu)
{
    uint32_t v;

    ck_assert_int_eq(vh_read_rc(h, cpu, VMWDT_REG_STATUS, &v), 0);
    ck_assert_int_ge(vmwdt_run_due(h->dev, h->now), 0);
    (void)vmwdt_next_deadline_ns(h->dev);
    ck_assert_int_eq(vh_write(h, cpu, VMWDT_REG_LOAD_CNT, 10), 0);
}

START_TEST(external_callback_reenters)
{
    struct vh *h = vh_new(3, VMWDT_ACTION_IRQ_THEN_RESET, VH_S(1));

    h->on_irq = external_reenter;
    for (uint32_t c = 0; c < 3; c++)
        vh_start(h, c, 10, 10);
    vh_advance_by(h, VH_MS(5500));
    /* Every interrupt petted its vCPU: one per second and per vCPU, never a reset. */
    vh_expect_counts(h, 15, 0);
    for (int i = 0; i < 15; i++)
        ck_assert_int_eq(h->irq[i].t, VH_S(1) + VH_S(1 + i / 3));
    vh_free(h);
}
END_TEST

/* Several vCPU threads pet and read their own vCPUs at once while the worker fires others. */
struct writer {
    vmwdt *dev;
    uint32_t cpu;
    int64_t until;
    long writes;
    int errors;
};

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    uint8_t b[4];

    while (mono_ns() < w->until) {
        for (int i = 0; i < 64; i++) {
            if (mmio_w(w->dev, w->cpu, VMWDT_REG_LOAD_CNT, 100) != 0)
                w->errors++;
            if (vmwdt_mmio_read(w->dev, w->cpu * 0x10 + VMWDT_REG_CURRENT_CNT, b, 4) != 0)
                w->errors++;
            if (mmio_w(w->dev, w->cpu, VMWDT_REG_STATUS, 1) != 0)
                w->errors++;
            w->writes += 3;
        }
    }
    return NULL;
}

START_TEST(thread_concurrent_writers)
{
    enum { WRITERS = 4, CPUS = 8 };
    struct rt *r = rt_new(CPUS, VMWDT_ACTION_IRQ_THEN_RESET);
    struct writer w[WRITERS];
    pthread_t th[WRITERS];

    /* vCPUs 0..3 are petted without pause (1 s windows, so that a writer thread starved by a
     * loaded machine is not a stall); 4..7 stall (100 ms windows). */
    for (uint32_t c = 0; c < CPUS; c++)
        start_cpu(r->dev, c, 100, c < WRITERS ? 100 : 10);
    int64_t until = mono_ns() + 700 * MS;
    for (int i = 0; i < WRITERS; i++) {
        w[i] = (struct writer){ .dev = r->dev, .cpu = (uint32_t)i, .until = until };
        ck_assert_int_eq(pthread_create(&th[i], NULL, writer_main, &w[i]), 0);
    }
    for (int i = 0; i < WRITERS; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(w[i].errors, 0);
        ck_assert_int_gt(w[i].writes, 100);
    }
    ck_assert(rt_wait(r, CPUS - WRITERS, CPUS - WRITERS, mono_ns() + LATE));
    for (uint32_t c = 0; c < WRITERS; c++)
        ck_assert_int_eq(mmio_w(r->dev, c, VMWDT_REG_STATUS, 0), 0);
    sleep_ms(100);
    pthread_mutex_lock(&r->mu);
    ck_assert_int_eq(r->nirq, CPUS - WRITERS);
    ck_assert_int_eq(r->nreset, CPUS - WRITERS);
    for (int i = 0; i < r->nirq; i++) {
        ck_assert_uint_ge(r->irq_cpu[i], WRITERS);
        ck_assert_uint_ge(r->reset_cpu[i], WRITERS);
    }
    pthread_mutex_unlock(&r->mu);
    rt_free(r);
}
END_TEST

/* Host threads that put the device to sleep and wake it at once, over and over. */
struct cycler {
    vmwdt *dev;
    bool wake;
    int64_t until;
    long rounds;
    int errors;
    atomic_bool done;
};

static void *cycler_main(void *arg)
{
    struct cycler *c = arg;

    while (mono_ns() < c->until) {
        if ((c->wake ? vmwdt_wake(c->dev) : vmwdt_sleep(c->dev)) != 0)
            c->errors++;
        c->rounds++;
    }
    atomic_store(&c->done, true);
    return NULL;
}

/*
 * Sleep and wake from two threads at once: every call returns (a stopped worker always hears
 * that it must stop, whatever the new worker does with its timer), countdowns still fire
 * afterwards, and destroy leaves no descriptor behind.
 */
START_TEST(thread_sleep_wake_from_two_threads)
{
    int fds = count_fds();
    struct rt *r = rt_new(2, VMWDT_ACTION_IRQ_THEN_RESET);
    struct cycler c[2];
    pthread_t th[2];
    int64_t until = mono_ns() + 800 * MS;

    start_cpu(r->dev, 0, 100, 1000);
    for (int i = 0; i < 2; i++) {
        c[i] = (struct cycler){ .dev = r->dev, .wake = i == 1, .until = until };
        ck_assert_int_eq(pthread_create(&th[i], NULL, cycler_main, &c[i]), 0);
    }
    /* A call that never returns keeps its thread from finishing. */
    while ((!atomic_load(&c[0].done) || !atomic_load(&c[1].done)) &&
           mono_ns() < until + 5 * LATE)
        sleep_ms(10);
    ck_assert_msg(atomic_load(&c[0].done), "vmwdt_sleep has not returned");
    ck_assert_msg(atomic_load(&c[1].done), "vmwdt_wake has not returned");
    for (int i = 0; i < 2; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(c[i].errors, 0);
        ck_assert_int_gt(c[i].rounds, 10);
    }
    /* The device still counts down once awake. */
    ck_assert_int_eq(vmwdt_wake(r->dev), 0);
    int64_t t0 = mono_ns();
    start_cpu(r->dev, 1, 100, 10);
    ck_assert(rt_wait(r, 1, 0, t0 + 100 * MS + LATE));
    rt_destroy_dev(r);
    ck_assert_int_eq(count_fds(), fds);
    rt_free(r);
}
END_TEST

/* raise_irq lingers until destroy has begun, then wakes the device (any call but destroy is
 * allowed from a callback). */
static void wake_from_irq(struct rt *r, uint32_t cpu)
{
    vmwdt *dev = r->dev;

    (void)cpu;
    sleep_ms(150);
    ck_assert_int_eq(vmwdt_wake(dev), 0);
    ck_assert_int_eq(mmio_w(dev, 1, VMWDT_REG_STATUS, 1), 0);
}

/* Destroy while a callback wakes the device: no timer thread outlives destroy. */
START_TEST(thread_destroy_while_callback_wakes)
{
    struct rt *r = rt_new(2, VMWDT_ACTION_IRQ_THEN_RESET);

    r->on_irq = wake_from_irq;
    ck_assert_int_eq(mmio_w(r->dev, 1, VMWDT_REG_CLOCK_FREQ_HZ, 100), 0);
    ck_assert_int_eq(mmio_w(r->dev, 1, VMWDT_REG_LOAD_CNT, 1), 0);
    /* The interrupt after 20 ms; the reset would be due 20 ms later. */
    start_cpu(r->dev, 0, 100, 2);
    int64_t t0 = mono_ns();
    while (atomic_load(&r->in_callback) == 0 && mono_ns() < t0 + 20 * MS + LATE)
        sleep_ms(1);
    ck_assert_int_gt(atomic_load(&r->in_callback), 0);
    rt_destroy_dev(r);
    ck_assert_int_eq(atomic_load(&r->in_callback), 0);
    sleep_ms(300);
    ck_assert_int_eq(atomic_load(&r->after_destroy), 0);
    ck_assert_int_eq(rt_count(r, &r->nreset), 0);
    rt_free(r);
}
END_TEST

/*
 * With host time from now_ns, a deadline that fell due while a callback ran is handled as soon
 * as the callback returns: the worker arms its timer from the time it arms it at, not from
 * when it woke up. 100 ticks at 100 Hz; raise_irq lingers 900 ms of the 1 s second window.
 */
START_TEST(thread_late_callback_does_not_delay_reset)
{
    struct rt *r = rt_new_with(1, VMWDT_ACTION_IRQ_THEN_RESET, true);

    r->callback_sleep_ms = 900;
    int64_t t0 = mono_ns();
    start_cpu(r->dev, 0, 100, 100);
    ck_assert(rt_wait(r, 1, 1, t0 + 2000 * MS + 2 * LATE + 900 * MS));
    pthread_mutex_lock(&r->mu);
    int64_t reset_t = r->reset_t[0], irq_t = r->irq_t[0];
    pthread_mutex_unlock(&r->mu);
    ck_assert_int_ge(reset_t, t0 + 2000 * MS - EARLY);
    /* The reset is due 1 s after the interrupt (at the latest 1 s after its callback began). */
    ck_assert_msg(reset_t <= irq_t + 1000 * MS + LATE,
                  "reset %lld ms after the interrupt, due 1000 ms after it",
                  (long long)((reset_t - irq_t) / MS));
    rt_free(r);
}
END_TEST

/*
 * EXTERNAL timers: one thread asks for the next deadline without pause (which corrects the
 * heap) while another pets its vCPU with a longer and then a shorter window. After every pair
 * of pets, the next deadline is the short window's end; a disable followed by an enable leaves
 * the vCPU queued. Host and guest time stand still, so every deadline is exact.
 */
static int64_t frozen_now(void *opaque)
{
    (void)opaque;
    return 1000;
}

static int64_t frozen_guest(void *opaque, uint32_t cpu)
{
    (void)opaque;
    (void)cpu;
    return 0;
}

struct asker {
    vmwdt *dev;
    atomic_bool stop;
};

static void *asker_main(void *arg)
{
    struct asker *a = arg;

    while (!atomic_load(&a->stop))
        (void)vmwdt_next_deadline_ns(a->dev);
    return NULL;
}

START_TEST(external_deadline_races_pets)
{
    struct vmwdt_config cfg = {
        .size = sizeof(cfg),
        .cpu_count = 1,
        .clock = VMWDT_CLOCK_HOST,
        .action = VMWDT_ACTION_IRQ_THEN_RESET,
        .timers = VMWDT_TIMERS_EXTERNAL,
    };
    struct vmwdt_host_ops ops = {
        .size = sizeof(ops),
        .guest_time_ns = frozen_guest,
        .now_ns = frozen_now,
    };
    struct asker a = { 0 };
    pthread_t th;
    long late = 0, lost = 0, rounds = 0;

    ck_assert_int_eq(vmwdt_create(&cfg, &ops, &a.dev), 0);
    /* 1 GHz: a count of n ticks is a window of n ns. */
    ck_assert_int_eq(mmio_w(a.dev, 0, VMWDT_REG_CLOCK_FREQ_HZ, 1000000000u), 0);
    ck_assert_int_eq(mmio_w(a.dev, 0, VMWDT_REG_LOAD_CNT, 500), 0);
    ck_assert_int_eq(mmio_w(a.dev, 0, VMWDT_REG_STATUS, 1), 0);
    ck_assert_int_eq(pthread_create(&th, NULL, asker_main, &a), 0);
    int64_t until = mono_ns() + 1000 * MS;
    while (mono_ns() < until) {
        for (int i = 0; i < 256; i++, rounds++) {
            ck_assert_int_eq(mmio_w(a.dev, 0, VMWDT_REG_LOAD_CNT, 1000), 0);
            ck_assert_int_eq(mmio_w(a.dev, 0, VMWDT_REG_LOAD_CNT, 500), 0);
            if (vmwdt_next_deadline_ns(a.dev) != 1500)
                late++;
            ck_assert_int_eq(mmio_w(a.dev, 0, VMWDT_REG_STATUS, 0), 0);
            ck_assert_int_eq(mmio_w(a.dev, 0, VMWDT_REG_STATUS, 1), 0);
            if (vmwdt_next_deadline_ns(a.dev) != 1500)
                lost++;
        }
    }
    atomic_store(&a.stop, true);
    pthread_join(th, NULL);
    ck_assert_msg(late == 0 && lost == 0,
                  "of %ld rounds, %ld left a later deadline and %ld none at all", rounds, late,
                  lost);
    vmwdt_destroy(a.dev);
}
END_TEST

static Suite *runtime_suite(void)
{
    Suite *s = suite_create("core_runtime");
    TCase *tc = tcase_create("runtime");

    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, thread_irq_then_reset);
    tcase_add_test(tc, thread_pets_keep_quiet);
    tcase_add_test(tc, thread_sleep_wake);
    tcase_add_test(tc, thread_destroy_while_armed);
    tcase_add_test(tc, thread_destroy_during_callback);
    tcase_add_test(tc, thread_destroy_edge_cases);
    tcase_add_test(tc, thread_fds_do_not_scale);
    tcase_add_test(tc, thread_callback_pets);
    tcase_add_test(tc, thread_callback_sleeps);
    tcase_add_test(tc, external_callback_reenters);
    tcase_add_test(tc, thread_concurrent_writers);
    tcase_add_test(tc, thread_sleep_wake_from_two_threads);
    tcase_add_test(tc, thread_destroy_while_callback_wakes);
    tcase_add_test(tc, thread_late_callback_does_not_delay_reset);
    tcase_add_test(tc, external_deadline_races_pets);
    suite_add_tcase(s, tc);
    return s;
}

VMWDT_SUITE_MAIN(runtime_suite)
