/*
 * THREAD timers whose worker cannot start for a while: timerfd_create failing with EMFILE (the
 * descriptor table really full, under a lowered RLIMIT_NOFILE) and pthread_create failing with
 * EAGAIN (interposed in this executable). The device must keep retrying, log the outage once
 * and the recovery once, and tell every interrupt that came due meanwhile as soon as a worker
 * runs, a vCPU disabled and re-enabled during the outage included. And a worker that is late
 * (busy in a long callback): a pet that comes after the end of a window does not erase it.
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

/* While set, pthread_create fails with EAGAIN in this process. */
static atomic_bool threads_fail;

/*
 * Interposes pthread_create for the library, which resolves it through this executable. The
 * real one is the next definition in lookup order (libc's, or a sanitizer's interceptor).
 */
int pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
    typedef int (*create_fn)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
    static _Atomic(create_fn) real;
    create_fn f = atomic_load(&real);

    if (atomic_load(&threads_fail))
        return EAGAIN;
    if (f == NULL) {
        f = (create_fn)dlsym(RTLD_NEXT, "pthread_create");
        atomic_store(&real, f);
    }
    return f(t, attr, fn, arg);
}

struct host {
    vmwdt *dev;
    atomic_int irq[2];
    atomic_bool in_slow_callback;  /* cpu 0's interrupt callback has begun */
    int slow_ms;                   /* how long cpu 0's interrupt callback lingers */
    pid_t test_tid;
    atomic_int on_test_thread;     /* callbacks run by the thread that made the API call */
    atomic_int outage_logs;    /* "cannot start the timer thread" */
    atomic_int recovery_logs;  /* "timer thread started after" */
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
    if (cpu < 2)
        atomic_fetch_add(&h->irq[cpu], 1);
}

static void on_log(void *opaque, int level, const char *msg)
{
    struct host *h = opaque;

    (void)level;
    if (strstr(msg, "cannot start the timer thread") != NULL)
        atomic_fetch_add(&h->outage_logs, 1);
    if (strstr(msg, "timer thread started after") != NULL)
        atomic_fetch_add(&h->recovery_logs, 1);
}

static struct host *host_new(void)
{
    struct host *h = calloc(1, sizeof(*h));
    struct vmwdt_config cfg = {
        .size = sizeof(cfg), .cpu_count = 2, .clock = VMWDT_CLOCK_MONOTONIC,
        .action = VMWDT_ACTION_IRQ_ONLY, .timers = VMWDT_TIMERS_THREAD,
    };
    struct vmwdt_host_ops ops = {
        .size = sizeof(ops), .opaque = h, .raise_irq = on_irq, .log = on_log,
    };

    ck_assert_ptr_nonnull(h);
    h->test_tid = test_gettid();
    ck_assert_int_eq(vmwdt_create(&cfg, &ops, &h->dev), 0);
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
 * The outage: cpu 0 armed, cpu 1 enabled, disabled and enabled again, all while the worker
 * cannot start; both windows end during it. Then the cause goes away (end_outage) and one vCPU
 * access later both interrupts come.
 */
static void outage_then_recovery(struct host *h, void (*end_outage)(void *), void *ctx)
{
    start(h, 0);
    start(h, 1);
    ck_assert_int_eq(wr(h, 1, VMWDT_REG_STATUS, 0), 0);
    ck_assert_int_eq(wr(h, 1, VMWDT_REG_STATUS, 1), 0);
    /* Both windows end while no worker runs; API calls keep retrying, and failing. */
    for (int i = 0; i < 30; i++) {
        sleep_ms(10);
        ck_assert_uint_eq(rd(h, 0, VMWDT_REG_LOAD_CNT), 10);
    }
    ck_assert_int_eq(atomic_load(&h->irq[0]) + atomic_load(&h->irq[1]), 0);
    ck_assert_int_eq(atomic_load(&h->outage_logs), 1);
    ck_assert_int_eq(atomic_load(&h->recovery_logs), 0);
    end_outage(ctx);
    /* Back-off is at most 100 ms: a few accesses over it start the worker. */
    for (int i = 0; i < 20 && atomic_load(&h->recovery_logs) == 0; i++) {
        sleep_ms(10);
        rd(h, 1, VMWDT_REG_LOAD_CNT);
    }
    ck_assert_msg(wait_irqs(h, 1, 1, LATE), "interrupts after the outage: %d and %d",
                  atomic_load(&h->irq[0]), atomic_load(&h->irq[1]));
    ck_assert_int_eq(atomic_load(&h->recovery_logs), 1);
    ck_assert_int_eq(atomic_load(&h->outage_logs), 1);
    ck_assert_uint_eq(rd(h, 0, VMWDT_REG_STATUS), 3);
    /* The worker keeps working: a new window of cpu 1 ends with its interrupt. */
    ck_assert_int_eq(wr(h, 1, VMWDT_REG_LOAD_CNT, 10), 0);
    ck_assert(wait_irqs(h, 1, 2, LATE));
}

struct fds {
    struct rlimit old;
    int fd[64];
    int n;
};

static void free_fds(void *ctx)
{
    struct fds *f = ctx;

    for (int i = 0; i < f->n; i++)
        close(f->fd[i]);
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &f->old), 0);
}

START_TEST(timerfd_emfile_outage_recovers)
{
    struct host *h = host_new();
    struct fds f = {.n = 0};
    struct rlimit low;

    /* Every descriptor below a lowered limit in use: timerfd_create fails with EMFILE. */
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &f.old), 0);
    low = f.old;
    low.rlim_cur = (rlim_t)count_fds() + 8;
    ck_assert_int_lt(low.rlim_cur, 64);
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
    for (int fd; f.n < 64 && (fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0;)
        f.fd[f.n++] = fd;
    ck_assert_int_gt(f.n, 0);
    ck_assert_int_eq(open("/dev/null", O_RDONLY), -1);
    ck_assert_int_eq(errno, EMFILE);
    outage_then_recovery(h, free_fds, &f);
    host_free(h);
}
END_TEST

static void threads_back(void *ctx)
{
    (void)ctx;
    atomic_store(&threads_fail, false);
}

START_TEST(pthread_create_eagain_outage_recovers)
{
    struct host *h = host_new();

    atomic_store(&threads_fail, true);
    outage_then_recovery(h, threads_back, NULL);
    host_free(h);
}
END_TEST

/* Sleep during an outage ends the need for a worker; wake starts one, and it works. */
START_TEST(sleep_and_wake_during_outage)
{
    struct host *h = host_new();

    atomic_store(&threads_fail, true);
    start(h, 0);
    ck_assert_int_eq(vmwdt_sleep(h->dev), 0);
    atomic_store(&threads_fail, false);
    ck_assert_int_eq(vmwdt_wake(h->dev), 0);
    ck_assert(wait_irqs(h, 1, 0, LATE));
    ck_assert_int_eq(atomic_load(&h->outage_logs), 1);
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
    tcase_add_test(tc, timerfd_emfile_outage_recovers);
    tcase_add_test(tc, pthread_create_eagain_outage_recovers);
    tcase_add_test(tc, sleep_and_wake_during_outage);
    tcase_add_test(tc, late_worker_keeps_the_interrupt_a_late_pet_follows);
    suite_add_tcase(s, tc);
    return s;
}

VMWDT_SUITE_MAIN(recovery_suite)
