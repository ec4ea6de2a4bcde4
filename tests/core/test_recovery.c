/*
 * THREAD timers when the host process runs out of what a worker needs. The worker runs from
 * vmwdt_create to vmwdt_destroy and holds no descriptor, so a full descriptor table (EMFILE,
 * under a lowered RLIMIT_NOFILE) or a process that cannot make threads (EAGAIN from
 * pthread_create, interposed in this executable) after create changes nothing: a vCPU that pets
 * and then hangs, with no API call after the fault began, still gets its interrupt on time. A
 * create whose worker cannot start succeeds all the same, logs it once, and the start is retried
 * by later calls: once the fault is gone the first of them starts the worker, the expiry missed
 * meanwhile fires at once, and the recovery is logged once. And a worker that is late (busy in
 * a long callback): a pet that comes after the end of a window does not erase it.
 */
#define _GNU_SOURCE
#include <check.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "vmwdt.h"
#include "vmwdt_test.h"

/* How long a loaded machine may take to deliver an interrupt that is due. */
#define LATE (2000 * MS)

/* While set, pthread_create fails with EAGAIN in this process; the failures are counted. */
static atomic_bool threads_fail;
static atomic_int threads_failed;

/*
 * Interposes pthread_create for the library, which resolves it through this executable. The
 * real one is the next definition in lookup order (libc's, or a sanitizer's interceptor).
 */
int pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
    typedef int (*create_fn)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
    static _Atomic(create_fn) real;
    create_fn f = atomic_load(&real);

    if (atomic_load(&threads_fail)) {
        atomic_fetch_add(&threads_failed, 1);
        return EAGAIN;
    }
    if (f == NULL) {
        f = (create_fn)dlsym(RTLD_NEXT, "pthread_create");
        atomic_store(&real, f);
    }
    return f(t, attr, fn, arg);
}

struct host {
    vmwdt *dev;
    atomic_int irq[2];
    atomic_int_fast64_t irq_at[2]; /* CLOCK_MONOTONIC of each vCPU's latest interrupt */
    atomic_bool in_slow_callback;  /* cpu 0's interrupt callback has begun */
    int slow_ms;                   /* how long cpu 0's interrupt callback lingers */
    pid_t test_tid;
    atomic_int on_test_thread;     /* callbacks run by the thread that made the API call */
    atomic_int start_logs;         /* "cannot start the worker thread" */
    atomic_int recovery_logs;      /* "watching again" */
};

static void on_irq(void *opaque, uint32_t cpu)
{
    struct host *h = opaque;

    if (test_gettid() == h->test_tid)
        atomic_fetch_add(&h->on_test_thread, 1);
    if (cpu == 0 && h->slow_ms != 0) {
        atomic_store(&h->in_slow_callback, true);
        sleep_ms(h->slow_ms);
    }
    if (cpu < 2) {
        atomic_store(&h->irq_at[cpu], mono_ns());
        atomic_fetch_add(&h->irq[cpu], 1);
    }
}

static void on_log(void *opaque, int level, const char *msg)
{
    struct host *h = opaque;

    (void)level;
    if (strstr(msg, "cannot start the worker thread") != NULL)
        atomic_fetch_add(&h->start_logs, 1);
    if (strstr(msg, "watching again") != NULL)
        atomic_fetch_add(&h->recovery_logs, 1);
}

/* Creates h's device; returns what vmwdt_create returned. */
static int host_create(struct host *h, enum vmwdt_timers timers)
{
    struct vmwdt_config cfg = {
        .size = sizeof(cfg), .cpu_count = 2, .clock = VMWDT_CLOCK_MONOTONIC,
        .action = VMWDT_ACTION_IRQ_ONLY, .timers = timers,
    };
    struct vmwdt_host_ops ops = {
        .size = sizeof(ops), .opaque = h, .raise_irq = on_irq, .log = on_log,
    };

    return vmwdt_create(&cfg, &ops, &h->dev);
}

static struct host *host_alloc(void)
{
    struct host *h = calloc(1, sizeof(*h));

    ck_assert_ptr_nonnull(h);
    h->test_tid = test_gettid();
    return h;
}

static struct host *host_new(void)
{
    struct host *h = host_alloc();

    ck_assert_int_eq(host_create(h, VMWDT_TIMERS_THREAD), 0);
    return h;
}

static void host_free(struct host *h)
{
    vmwdt_destroy(h->dev);
    ck_assert_int_eq(atomic_load(&h->on_test_thread), 0);
    free(h);
}

static int wr(struct host *h, uint32_t cpu, uint32_t reg, uint32_t val)
{
    uint8_t b[4] = {val & 0xff, (val >> 8) & 0xff, (val >> 16) & 0xff, val >> 24};

    return vmwdt_mmio_write(h->dev, (uint64_t)cpu * VMWDT_REG_STRIDE + reg, b, 4);
}

static uint32_t rd(struct host *h, uint32_t cpu, uint32_t reg)
{
    uint8_t b[4];

    ck_assert_int_eq(vmwdt_mmio_read(h->dev, (uint64_t)cpu * VMWDT_REG_STRIDE + reg, b, 4), 0);
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

/* 10 ticks at 100 Hz: a 100 ms window. */
static void start(struct host *h, uint32_t cpu)
{
    ck_assert_int_eq(wr(h, cpu, VMWDT_REG_CLOCK_FREQ_HZ, 100), 0);
    ck_assert_int_eq(wr(h, cpu, VMWDT_REG_LOAD_CNT, 10), 0);
    ck_assert_int_eq(wr(h, cpu, VMWDT_REG_STATUS, 1), 0);
}

static bool wait_irqs(struct host *h, int n0, int n1, int64_t within)
{
    int64_t end = mono_ns() + within;

    while (atomic_load(&h->irq[0]) < n0 || atomic_load(&h->irq[1]) < n1) {
        if (mono_ns() > end)
            return false;
        sleep_ms(2);
    }
    return true;
}

/*
 * The only vCPU in use, cpu 0, pets at t0 (a 100 ms window) and hangs: this thread makes no API
 * call until the interrupt has come, on the worker, no earlier than the window's end.
 */
static void pet_and_hang(struct host *h, bool enable)
{
    int n = atomic_load(&h->irq[0]);
    int64_t t0 = mono_ns();

    if (enable)
        start(h, 0);
    else
        ck_assert_int_eq(wr(h, 0, VMWDT_REG_LOAD_CNT, 10), 0);
    ck_assert_msg(wait_irqs(h, n + 1, 0, 100 * MS + LATE),
                  "no interrupt for a vCPU that hung after its pet");
    ck_assert_int_ge(atomic_load(&h->irq_at[0]), t0 + 100 * MS);
    ck_assert_int_eq(atomic_load(&h->on_test_thread), 0);
}

/* A device asleep and awake again, then the hang again: the same worker serves the new window. */
static void sleep_wake_then_hang(struct host *h)
{
    ck_assert_int_eq(vmwdt_sleep(h->dev), 0);
    ck_assert_int_eq(vmwdt_wake(h->dev), 0);
    pet_and_hang(h, false);
}

struct fds {
    struct rlimit old;
    int fd[64];
    int n;
};

static void free_fds(struct fds *f)
{
    for (int i = 0; i < f->n; i++)
        close(f->fd[i]);
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &f->old), 0);
}

/* Fills the descriptor table below a lowered limit: every open fails with EMFILE. */
static void fill_fds(struct fds *f)
{
    struct rlimit low;

    f->n = 0;
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &f->old), 0);
    low = f->old;
    low.rlim_cur = (rlim_t)count_fds() + 8;
    ck_assert_int_lt(low.rlim_cur, 64);
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
    for (int fd; f->n < 64 && (fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0;)
        f->fd[f->n++] = fd;
    ck_assert_int_gt(f->n, 0);
    ck_assert_int_eq(open("/dev/null", O_RDONLY), -1);
    ck_assert_int_eq(errno, EMFILE);
}

/* The fault is still there: the interrupts came during it, not after it. */
static void still_full(void)
{
    ck_assert_int_eq(open("/dev/null", O_RDONLY), -1);
    ck_assert_int_eq(errno, EMFILE);
}

/* A device made with a full descriptor table, and one made before it filled, both watch. */
START_TEST(full_descriptor_table_does_not_stop_the_watchdog)
{
    struct host *before = host_new();
    struct fds f;

    fill_fds(&f);
    struct host *h = host_new();
    pet_and_hang(h, true);
    pet_and_hang(before, true);
    sleep_wake_then_hang(h);
    still_full();
    ck_assert_int_eq(atomic_load(&h->start_logs) + atomic_load(&before->start_logs), 0);
    host_free(h);
    host_free(before);
    free_fds(&f);
}
END_TEST

/*
 * The fault begins after create, and the only vCPU hangs right after its pet with no API call
 * afterwards: the interrupt comes, during the fault; sleep and wake during it change nothing.
 */
START_TEST(threads_exhausted_after_create_change_nothing)
{
    struct host *h = host_new();

    atomic_store(&threads_fail, true);
    pet_and_hang(h, true);
    sleep_wake_then_hang(h);
    ck_assert(atomic_load(&threads_fail));
    atomic_store(&threads_fail, false);
    ck_assert_int_eq(atomic_load(&h->start_logs), 0);
    host_free(h);
}
END_TEST

/*
 * A create whose worker cannot start succeeds, and logs once that the device is not watching;
 * calls made during the fault (an enable, reads, a pet) retry and fail without logging again,
 * and no interrupt comes while no worker runs. Once threads can start again, the first call
 * after the back-off (here vmwdt_next_deadline_ns, which has nothing else to do with THREAD
 * timers) starts the worker, the interrupt that came due meanwhile fires at once on the worker,
 * the recovery is logged once, and the device watches from then on. A device whose worker never
 * started is destroyed cleanly.
 */
START_TEST(create_succeeds_and_recovers_once_threads_can_start)
{
    struct host *h = host_alloc();
    struct host *never = host_alloc();
    int fds = count_fds();

    atomic_store(&threads_fail, true);
    ck_assert_int_eq(host_create(h, VMWDT_TIMERS_THREAD), 0);
    ck_assert_ptr_nonnull(h->dev);
    ck_assert_int_eq(atomic_load(&h->start_logs), 1);
    ck_assert_int_eq(host_create(never, VMWDT_TIMERS_THREAD), 0);
    int64_t t0 = mono_ns();
    start(h, 0);
    for (int i = 0; i < 15; i++) {
        sleep_ms(10);
        ck_assert_uint_eq(rd(h, 1, VMWDT_REG_STATUS), 0);
    }
    ck_assert_int_eq(atomic_load(&h->start_logs), 1);
    ck_assert_int_eq(atomic_load(&h->irq[0]), 0);
    ck_assert_int_eq(atomic_load(&h->recovery_logs), 0);
    ck_assert_int_eq(count_fds(), fds);
    vmwdt_destroy(never->dev);
    free(never);

    atomic_store(&threads_fail, false);
    /* The back-off between retries is at most 100 ms. */
    sleep_ms(110);
    ck_assert_int_eq(vmwdt_next_deadline_ns(h->dev), INT64_MAX);
    ck_assert_int_eq(atomic_load(&h->recovery_logs), 1);
    ck_assert_msg(wait_irqs(h, 1, 0, LATE), "the interrupt missed while no worker ran never came");
    ck_assert_int_ge(atomic_load(&h->irq_at[0]), t0 + 100 * MS);
    pet_and_hang(h, false);
    sleep_wake_then_hang(h);
    ck_assert_int_eq(atomic_load(&h->start_logs), 1);
    ck_assert_int_eq(atomic_load(&h->recovery_logs), 1);
    host_free(h);
}
END_TEST

/*
 * An enable is an arming: it retries at once, whatever the back-off, which is the case
 * of a vCPU enabled after the fault with no other call. Calls during the fault retry until the
 * back-off has grown to its longest (100 ms) and the last retry has just failed: the register
 * writes before the enable do not retry, and the enable starts the worker.
 */
START_TEST(enable_after_the_fault_starts_the_worker)
{
    struct host *h = host_alloc();
    struct vmwdt_vcpu_stats st = {.size = sizeof(st)};

    atomic_store(&threads_failed, 0);
    atomic_store(&threads_fail, true);
    ck_assert_int_eq(host_create(h, VMWDT_TIMERS_THREAD), 0);
    while (atomic_load(&threads_failed) < 9) {
        ck_assert_int_eq(vmwdt_vcpu_stats(h->dev, VMWDT_ALL_CPUS, &st), 0);
        sleep_ms(1);
    }
    atomic_store(&threads_fail, false);
    ck_assert_int_eq(atomic_load(&h->recovery_logs), 0);
    pet_and_hang(h, true);
    ck_assert_int_eq(atomic_load(&h->recovery_logs), 1);
    host_free(h);
}
END_TEST

/*
 * The worker is late: it lingers 500 ms in cpu 0's interrupt callback while cpu 1's window
 * ends. cpu 1 pets after that end: its interrupt still comes once the worker is back, on the
 * worker, and the pet's own window (also over by then) gives the next one.
 */
START_TEST(late_worker_keeps_the_interrupt_a_late_pet_follows)
{
    struct host *h = host_new();

    h->slow_ms = 500;
    ck_assert_int_eq(wr(h, 0, VMWDT_REG_CLOCK_FREQ_HZ, 100), 0);
    ck_assert_int_eq(wr(h, 0, VMWDT_REG_LOAD_CNT, 5), 0);
    ck_assert_int_eq(wr(h, 0, VMWDT_REG_STATUS, 1), 0);
    start(h, 1);
    /* cpu 1's window began before this reading, so 110 ms after it the window is over however
     * late this thread ran; the worker is still inside cpu 0's callback. */
    int64_t t1 = mono_ns();
    while (!atomic_load(&h->in_slow_callback))
        sleep_ms(1);
    while (mono_ns() - t1 < 110 * MS)
        sleep_ms(1);
    ck_assert_int_eq(wr(h, 1, VMWDT_REG_LOAD_CNT, 10), 0);
    ck_assert_uint_eq(rd(h, 1, VMWDT_REG_STATUS), 1);
    ck_assert_msg(wait_irqs(h, 1, 2, LATE), "cpu 1 had %d interrupts, not 2: the late pet "
                  "erased one", atomic_load(&h->irq[1]));
    sleep_ms(50);
    ck_assert_int_eq(atomic_load(&h->irq[1]), 2);
    host_free(h);
}
END_TEST

static Suite *recovery_suite(void)
{
    Suite *s = suite_create("core_recovery");
    TCase *tc = tcase_create("recovery");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, full_descriptor_table_does_not_stop_the_watchdog);
    tcase_add_test(tc, threads_exhausted_after_create_change_nothing);
    tcase_add_test(tc, create_succeeds_and_recovers_once_threads_can_start);
    tcase_add_test(tc, enable_after_the_fault_starts_the_worker);
    tcase_add_test(tc, late_worker_keeps_the_interrupt_a_late_pet_follows);
    suite_add_tcase(s, tc);
    return s;
}

VMWDT_SUITE_MAIN(recovery_suite)
