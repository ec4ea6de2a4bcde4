/*
 * Real clocks on real threads, white-box through the internal clock API (plugin/wdt_thread.h,
 * plugin/wdt_clock.h), then through devices that use them: THREAD_CPU follows a busy thread and
 * not a sleeping one, GUEST_TIME reads the thread's own /proc entry through a cache of at most
 * WDT_STAT_CACHE_SIZE descriptors, a vanished thread (or another behind its tid) is an error and
 * not a crash, every vCPU clock stays continuous across a change of source, and AUTO measures a
 * vCPU by its thread's CPU time, so that a device using AUTO detects the stall of a
 * busy-spinning vCPU thread, or by the host's guest_time_ns when the host gives one.
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vmwdt.h"
#include "wdt_clock.h"
#include "vmwdt_test.h"


/* The clock kinds that measure a vCPU through its thread. */
static const enum vmwdt_clock clocks_all[] = { VMWDT_CLOCK_AUTO, VMWDT_CLOCK_GUEST_TIME,
                                               VMWDT_CLOCK_THREAD_CPU };

/* A helper thread that either spins or sleeps until told to stop. */
struct worker {
    pthread_t th;
    bool busy;
    atomic_int tid;
    atomic_bool stop;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;

    atomic_store(&w->tid, test_gettid());
    while (!atomic_load(&w->stop)) {
        if (!w->busy)
            sleep_ms(5);
    }
    return NULL;
}

static void worker_start(struct worker *w, bool busy)
{
    memset(w, 0, sizeof(*w));
    w->busy = busy;
    ck_assert_int_eq(pthread_create(&w->th, NULL, worker_main, w), 0);
    while (atomic_load(&w->tid) == 0)
        sleep_ms(1);
}

static void worker_stop(struct worker *w)
{
    atomic_store(&w->stop, true);
    pthread_join(w->th, NULL);
}

/* THREAD_CPU: a spinning thread's CPU time advances, a sleeping thread's does not. */
START_TEST(thread_cpu_busy_and_sleeping)
{
    struct worker busy, idle;
    struct wdt_thread tb, ti;
    int64_t b0, b1, i0, i1;

    worker_start(&busy, true);
    worker_start(&idle, false);
    ck_assert_int_eq(wdt_thread_name(&tb, getpid(), atomic_load(&busy.tid)), 0);
    ck_assert_int_eq(wdt_thread_name(&ti, getpid(), atomic_load(&idle.tid)), 0);
    ck_assert(tb.own_process);
    ck_assert_int_eq(wdt_thread_cpu_ns(&tb, &b0), 0);
    ck_assert_int_eq(wdt_thread_cpu_ns(&ti, &i0), 0);
    sleep_ms(300);
    ck_assert_int_eq(wdt_thread_cpu_ns(&tb, &b1), 0);
    ck_assert_int_eq(wdt_thread_cpu_ns(&ti, &i1), 0);
    /* Even on a loaded machine a spinning thread gets a good share of 300 ms. */
    ck_assert_msg(b1 - b0 >= 30 * MS, "busy thread: %lld ns of CPU", (long long)(b1 - b0));
    ck_assert_msg(i1 - i0 <= 10 * MS, "sleeping thread: %lld ns of CPU", (long long)(i1 - i0));
    ck_assert_int_ge(i1, i0);
    worker_stop(&busy);
    worker_stop(&idle);
}
END_TEST

/* A thread of another process: CPU time from its stat file, read on demand; gone after it
 * exits, and no descriptor is left open. */
START_TEST(thread_cpu_other_process)
{
    pid_t child = fork();

    ck_assert_int_ge(child, 0);
    if (child == 0) {
        int64_t end = mono_ns() + 2000 * MS;
        while (mono_ns() < end)
            ;
        _exit(0);
    }
    struct wdt_thread t;
    struct wdt_stat s0, s1;
    int base = count_fds();
    ck_assert_int_eq(wdt_thread_name(&t, child, child), 0);
    ck_assert(!t.own_process);
    ck_assert_int_eq(count_fds(), base);
    ck_assert_int_eq(wdt_stat_read(NULL, 0, &t, &s0), 0);
    sleep_ms(300);
    ck_assert_int_eq(wdt_stat_read(NULL, 0, &t, &s1), 0);
    ck_assert_int_eq(count_fds(), base);
    int64_t c = (int64_t)(s1.utime + s1.stime - s0.utime - s0.stime) * wdt_tick_ns();
    ck_assert_msg(c >= 20 * MS, "busy child: %lld ns of CPU", (long long)c);
    ck_assert_uint_eq(s1.starttime, s0.starttime);
    ck_assert_uint_gt(s0.starttime, 0);
    ck_assert_uint_eq(s1.guest_time, 0);
    kill(child, SIGKILL);
    ck_assert_int_eq(waitpid(child, NULL, 0), child);
    /* The process is gone: an error, not a crash and not a stale value. */
    ck_assert_int_eq(wdt_stat_read(NULL, 0, &t, &s1), -ESRCH);
    ck_assert_int_eq(wdt_thread_name(&t, child, child), -ESRCH);
    ck_assert_int_eq(count_fds(), base);
}
END_TEST

/* The target of descriptor fd, as /proc/self/fd shows it. */
static void fd_target(int fd, char *out, size_t size)
{
    char link[64];

    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, out, size - 1);
    ck_assert_int_gt(n, 0);
    out[n] = '\0';
}

/*
 * GUEST_TIME reads /proc/<pid>/task/<tid>/stat of the thread itself (0 for a plain thread),
 * through a cache entry that keeps that file open; reading more threads than entries never
 * holds more than WDT_STAT_CACHE_SIZE descriptors, and the cache closes them all.
 */
START_TEST(guest_time_own_proc_entry)
{
    struct worker w[5];
    struct wdt_thread t[5];
    struct wdt_stat_cache cache;
    struct wdt_stat st;
    char target[256], want[64];
    int base = count_fds();

    wdt_stat_cache_init(&cache);
    for (int i = 0; i < 5; i++) {
        worker_start(&w[i], i == 0);
        ck_assert_int_eq(wdt_thread_name(&t[i], getpid(), atomic_load(&w[i].tid)), 0);
        t[i].id = 100 + (uint64_t)i;
    }
    sleep_ms(50);
    ck_assert_int_eq(wdt_stat_read(&cache, 0, &t[0], &st), 0);
    ck_assert_uint_eq(st.guest_time, 0);
    ck_assert_uint_gt(st.starttime, 0);
    ck_assert_int_ge(cache.entries[0].fd, 0);
    fd_target(cache.entries[0].fd, target, sizeof(target));
    snprintf(want, sizeof(want), "/proc/%d/task/%d/stat", getpid(), t[0].tid);
    ck_assert_str_eq(target, want);
    /* Five threads read round and round: at most WDT_STAT_CACHE_SIZE descriptors stay open. */
    for (int round = 0; round < 4; round++)
        for (uint32_t i = 0; i < 5; i++) {
            ck_assert_int_eq(wdt_stat_read(&cache, i, &t[i], &st), 0);
            ck_assert_uint_eq(st.guest_time, 0);
            ck_assert_int_le(count_fds(), base + WDT_STAT_CACHE_SIZE);
            fd_target(cache.entries[i % WDT_STAT_CACHE_SIZE].fd, target, sizeof(target));
            snprintf(want, sizeof(want), "/proc/%d/task/%d/stat", getpid(), t[i].tid);
            ck_assert_str_eq(target, want);
        }
    ck_assert_int_eq(count_fds(), base + WDT_STAT_CACHE_SIZE);
    /* An entry busy with another reading: this one reads with a descriptor of its own. */
    pthread_mutex_lock(&cache.entries[1].lock);
    int held = cache.entries[1].fd;
    ck_assert_int_eq(wdt_stat_read(&cache, 1, &t[3], &st), 0);
    ck_assert_int_eq(cache.entries[1].fd, held);
    pthread_mutex_unlock(&cache.entries[1].lock);
    ck_assert_int_eq(count_fds(), base + WDT_STAT_CACHE_SIZE);
    wdt_stat_cache_fini(&cache);
    ck_assert_int_eq(count_fds(), base);
    for (int i = 0; i < 5; i++)
        worker_stop(&w[i]);
}
END_TEST

/* A thread that vanished after it was named: every read is -ESRCH, cached or not. */
START_TEST(vanished_thread)
{
    struct worker w;
    struct wdt_thread t;
    struct wdt_stat_cache cache;
    struct wdt_stat st;
    int64_t v;

    wdt_stat_cache_init(&cache);
    worker_start(&w, false);
    ck_assert_int_eq(wdt_thread_name(&t, getpid(), atomic_load(&w.tid)), 0);
    t.id = 100;
    ck_assert_int_eq(wdt_stat_read(&cache, 0, &t, &st), 0);
    ck_assert_int_eq(wdt_thread_cpu_ns(&t, &v), 0);
    worker_stop(&w);
    ck_assert_int_eq(wdt_stat_read(&cache, 0, &t, &st), -ESRCH);
    /* The failed entry let its descriptor go. */
    ck_assert_int_eq(cache.entries[0].fd, -1);
    ck_assert_int_eq(wdt_stat_read(&cache, 0, &t, &st), -ESRCH);
    ck_assert_int_eq(wdt_stat_read(NULL, 0, &t, &st), -ESRCH);
    ck_assert_int_eq(wdt_thread_cpu_ns(&t, &v), -ESRCH);
    ck_assert_int_eq(wdt_thread_name(&t, getpid(), t.tid), -ESRCH);
    wdt_stat_cache_fini(&cache);
}
END_TEST

START_TEST(open_refuses_bad_threads)
{
    struct wdt_thread t;

    ck_assert_int_eq(wdt_thread_name(&t, 0, 1), -EINVAL);
    ck_assert_int_eq(wdt_thread_name(&t, getpid(), 0), -EINVAL);
    ck_assert_int_eq(wdt_thread_name(&t, -4, -4), -EINVAL);
    ck_assert_int_eq(wdt_thread_name(&t, getpid(), 0x3ffffff0), -ESRCH);
    /* Ids whose clockid would encode a static clock (CLOCK_MONOTONIC_COARSE) are no thread. */
    ck_assert_int_eq(wdt_thread_name(&t, getpid(), 0x1fffffff), -ESRCH);
    ck_assert_int_eq(wdt_thread_name(&t, getpid(), 0x7fffffff), -ESRCH);
    ck_assert_int_eq(wdt_thread_name(&t, 0x3ffffff0, 0x3ffffff0), -ESRCH);
    /* pid 1's threads are not this process's, whatever tid: its /proc entry decides. */
    ck_assert_int_eq(wdt_thread_name(&t, getpid(), 1), -ESRCH);
    ck_assert_int_eq(wdt_thread_name(&t, 1, 1), 0);
    ck_assert(!t.own_process);
}
END_TEST

/* A stat line with fields 3.. after the command, field k holding k * 10 (field 3, the state,
 * holds a letter), cut after field last. */
static size_t stat_line(char *buf, size_t size, const char *comm, unsigned last)
{
    size_t n = (size_t)snprintf(buf, size, "4242 (%s) R", comm);

    for (unsigned f = 4; f <= last; f++)
        n += (size_t)snprintf(buf + n, size - n, " %u", f * 10);
    n += (size_t)snprintf(buf + n, size - n, "\n");
    return n;
}

/* Fields are counted after the last ')', whatever the command name holds. */
START_TEST(parse_stat_fields)
{
    static const char *const comms[] = { "vcpu", "a b", "x) R 1 2 (y", ")", "((", "a)b)c" };
    char buf[1024];
    uint64_t v;

    for (unsigned i = 0; i < sizeof(comms) / sizeof(comms[0]); i++) {
        size_t n = stat_line(buf, sizeof(buf), comms[i], 52);
        ck_assert_int_eq(wdt_parse_stat_field(buf, n, 14, &v), 0);
        ck_assert_uint_eq(v, 140);
        ck_assert_int_eq(wdt_parse_stat_field(buf, n, 15, &v), 0);
        ck_assert_uint_eq(v, 150);
        ck_assert_int_eq(wdt_parse_stat_field(buf, n, 43, &v), 0);
        ck_assert_uint_eq(v, 430);
        ck_assert_int_eq(wdt_parse_stat_field(buf, n, 52, &v), 0);
        ck_assert_uint_eq(v, 520);
        ck_assert_int_eq(wdt_parse_stat_field(buf, n, 3, &v), -EINVAL);
        ck_assert_int_eq(wdt_parse_stat_field(buf, n, 53, &v), -EINVAL);
        ck_assert_int_eq(wdt_parse_stat_field(buf, n, 2, &v), -EINVAL);
        /* Not NUL-terminated: the length is the limit. */
        ck_assert_int_eq(wdt_parse_stat_field(buf, n - 1, 52, &v), 0);
        ck_assert_uint_eq(v, 520);
    }
    /* A line cut before field 43 (an old kernel, a short read). */
    size_t n = stat_line(buf, sizeof(buf), "vcpu", 40);
    ck_assert_int_eq(wdt_parse_stat_field(buf, n, 43, &v), -EINVAL);
    /* No ')' at all, an empty buffer, garbage and overflow. */
    ck_assert_int_eq(wdt_parse_stat_field("4242 vcpu R 1 2 3", 17, 5, &v), -EINVAL);
    ck_assert_int_eq(wdt_parse_stat_field("", 0, 43, &v), -EINVAL);
    const char *bad = "1 (c) R 1 2 3 4 5 6 7 8 9 10 1x 12\n";
    ck_assert_int_eq(wdt_parse_stat_field(bad, strlen(bad), 14, &v), -EINVAL);
    const char *big = "1 (c) R 1 2 3 4 5 6 7 8 9 10 99999999999999999999999 12\n";
    ck_assert_int_eq(wdt_parse_stat_field(big, strlen(big), 14, &v), -EINVAL);
    const char *over = "1 (c) R 1 2 3 4 5 6 7 8 9 10 18446744073709551616 12\n";
    ck_assert_int_eq(wdt_parse_stat_field(over, strlen(over), 14, &v), -EINVAL);
    const char *large = "1 (c) R 1 2 3 4 5 6 7 8 9 10 1844674407370955161 12\n";
    ck_assert_int_eq(wdt_parse_stat_field(large, strlen(large), 14, &v), 0);
    ck_assert_uint_eq(v, 1844674407370955161ULL);
    /* This very process's entry parses. */
    FILE *f = fopen("/proc/self/stat", "r");
    ck_assert_ptr_nonnull(f);
    n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    ck_assert_int_eq(wdt_parse_stat_field(buf, n, 43, &v), 0);
    ck_assert_uint_eq(v, 0);
    /* Every field a reader needs, in one pass. */
    struct wdt_stat st;
    n = stat_line(buf, sizeof(buf), "x) R 1 2 (y", 52);
    ck_assert_int_eq(wdt_parse_stat(buf, n, &st), 0);
    ck_assert_uint_eq(st.utime, 140);
    ck_assert_uint_eq(st.stime, 150);
    ck_assert_uint_eq(st.starttime, 220);
    ck_assert_uint_eq(st.guest_time, 430);
    n = stat_line(buf, sizeof(buf), "vcpu", 42);
    ck_assert_int_eq(wdt_parse_stat(buf, n, &st), -EINVAL);
}
END_TEST

/* A vCPU clock stays continuous and never decreasing across changes of source. */
START_TEST(vclock_fold_continuous)
{
    struct wdt_vclock c;
    int a, b;

    wdt_vclock_init(&c);
    ck_assert_int_eq(wdt_vclock_fold(&c, (uintptr_t)&a, 1000), 1000);
    ck_assert_int_eq(wdt_vclock_fold(&c, (uintptr_t)&a, 1500), 1500);
    ck_assert_int_eq(wdt_vclock_fold(&c, (uintptr_t)&a, 1400), 1500);
    /* Source b reads 9e9: the clock goes on from 1500. */
    ck_assert_int_eq(wdt_vclock_fold(&c, (uintptr_t)&b, 9000000000LL), 1500);
    ck_assert_int_eq(wdt_vclock_fold(&c, (uintptr_t)&b, 9000000100LL), 1600);
    /* Back to a, which reads less than ever: still continuous. */
    ck_assert_int_eq(wdt_vclock_fold(&c, (uintptr_t)&a, 5), 1600);
    ck_assert_int_eq(wdt_vclock_fold(&c, (uintptr_t)&a, 55), 1650);
    wdt_vclock_fini(&c);
}
END_TEST

/*
 * A thread reading that shows another thread behind the vCPU's tid (another starttime, or a
 * value below one folded before the reading began) marks the thread gone; readings that
 * overlapped may come in either order. Naming a thread again clears it.
 */
START_TEST(vclock_thread_identity)
{
    struct wdt_vclock c;
    struct wdt_thread t = { .id = 20, .pid = 1, .tid = 1 }, got;
    bool gone;
    uint64_t f0, f1;
    int64_t v;

    wdt_vclock_init(&c);
    wdt_vclock_set_thread(&c, &t);
    wdt_vclock_get_thread(&c, &got, &gone, &f0);
    ck_assert_uint_eq(got.id, 20);
    ck_assert(!gone);
    ck_assert_int_eq(wdt_vclock_fold_thread(&c, 20, f0, 1000, 7, &v), 0);
    ck_assert_int_eq(v, 1000);
    /* A reading that began with the one above but ended later with less: not an identity. */
    ck_assert_int_eq(wdt_vclock_fold_thread(&c, 20, f0, 900, 7, &v), 0);
    ck_assert_int_eq(v, 1000);
    wdt_vclock_get_thread(&c, &got, &gone, &f1);
    ck_assert_int_eq(wdt_vclock_fold_thread(&c, 20, f1, 1500, 7, &v), 0);
    ck_assert_int_eq(v, 1500);
    /* Begun after 1500 was folded, and less: another thread took the tid. */
    wdt_vclock_get_thread(&c, &got, &gone, &f1);
    ck_assert_int_eq(wdt_vclock_fold_thread(&c, 20, f1, 1400, 7, &v), -ESRCH);
    wdt_vclock_get_thread(&c, &got, &gone, &f1);
    ck_assert(gone);
    ck_assert_int_eq(wdt_vclock_fold_thread(&c, 20, f1, 9000, 7, &v), -ESRCH);
    /* A new thread: a new source, continuous with the old one. */
    t.id = 21;
    wdt_vclock_set_thread(&c, &t);
    wdt_vclock_get_thread(&c, &got, &gone, &f1);
    ck_assert(!gone);
    ck_assert_int_eq(wdt_vclock_fold_thread(&c, 21, f1, 50, 9, &v), 0);
    ck_assert_int_eq(v, 1500);
    ck_assert_int_eq(wdt_vclock_fold_thread(&c, 21, f1, 80, 9, &v), 0);
    ck_assert_int_eq(v, 1530);
    /* Another starttime behind the same tid. */
    ck_assert_int_eq(wdt_vclock_fold_thread(&c, 21, f1, 90, 10, &v), -ESRCH);
    /* A reading of a thread replaced meanwhile is folded, without identity checks. */
    ck_assert_int_eq(wdt_vclock_fold_thread(&c, 20, f1, 1, 1, &v), 0);
    ck_assert_int_eq(v, 1530);
    /* The notes that make the log lines: true once; naming forgets the error note only. */
    ck_assert(wdt_vclock_note(&c, WDT_NOTE_FALLBACK_ERROR));
    ck_assert(!wdt_vclock_note(&c, WDT_NOTE_FALLBACK_ERROR));
    ck_assert(wdt_vclock_note(&c, WDT_NOTE_FALLBACK_NO_THREAD));
    wdt_vclock_set_thread(&c, &t);
    ck_assert(wdt_vclock_note(&c, WDT_NOTE_FALLBACK_ERROR));
    ck_assert(!wdt_vclock_note(&c, WDT_NOTE_FALLBACK_NO_THREAD));
    wdt_vclock_fini(&c);
}
END_TEST

static void quiet_log(void *o, int level, const char *msg)
{
    atomic_fetch_add((atomic_int *)o, 1);
}

/*
 * Every source change keeps a vCPU clock continuous: host time before a thread is named, the
 * thread's CPU time after, another thread, a thread gone (host time again). Each step moves
 * the clock by no more than the host time that passed.
 */
START_TEST(clock_continuous_across_sources)
{
    atomic_int logs = 0;
    struct vmwdt_host_ops ops = { .size = sizeof(ops), .opaque = &logs, .log = quiet_log };
    struct wdt_logger lg = { .fn = quiet_log, .opaque = &logs };
    struct wdt_clocks k;
    struct wdt_vclock c;
    struct worker a, b;
    int64_t prev, v, h0, hprev;

    wdt_clocks_init(&k, clocks_all[_i], &ops, &lg);
    ck_assert_int_eq(k.source, clocks_all[_i] == VMWDT_CLOCK_AUTO ? VMWDT_CLOCK_THREAD_CPU
                                                                  : clocks_all[_i]);
    wdt_vclock_init(&c);
    worker_start(&a, true);
    worker_start(&b, true);
    h0 = mono_ns();
    hprev = h0;
    prev = wdt_clocks_guest_now(&k, &c, 0);
    ck_assert_int_ge(prev, h0 - 1000 * MS); /* host time before a thread is named */
    ck_assert_int_eq(atomic_load(&logs), 1);
    for (int step = 0; step < 4; step++) {
        if (step == 0)
            ck_assert_int_eq(wdt_clocks_set_thread(&k, &c, 0, getpid(), atomic_load(&a.tid)), 0);
        else if (step == 1)
            ck_assert_int_eq(wdt_clocks_set_thread(&k, &c, 0, getpid(), atomic_load(&b.tid)), 0);
        else if (step == 2)
            worker_stop(&b);
        sleep_ms(20);
        h0 = mono_ns();
        v = wdt_clocks_guest_now(&k, &c, 0);
        ck_assert_int_ge(v, prev);
        ck_assert_msg(v - prev <= mono_ns() - hprev, "step %d: the clock jumped %lld ns", step,
                      (long long)(v - prev));
        prev = v;
        hprev = h0;
    }
    /* Thread b is gone: logged once, as it happened, whatever the steps after it. */
    ck_assert_int_eq(atomic_load(&logs), 2);
    wdt_vclock_fini(&c);
    wdt_clocks_fini(&k);
    worker_stop(&a);
}
END_TEST

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

static Suite *clocks_suite(void)
{
    Suite *s = suite_create("core_clocks");
    TCase *raw = tcase_create("raw");
    TCase *dev = tcase_create("device");

    tcase_set_timeout(raw, 20);
    tcase_add_test(raw, thread_cpu_busy_and_sleeping);
    tcase_add_test(raw, thread_cpu_other_process);
    tcase_add_test(raw, guest_time_own_proc_entry);
    tcase_add_test(raw, vanished_thread);
    tcase_add_test(raw, open_refuses_bad_threads);
    tcase_add_test(raw, parse_stat_fields);
    tcase_add_test(raw, vclock_fold_continuous);
    tcase_add_test(raw, vclock_thread_identity);
    tcase_add_loop_test(raw, clock_continuous_across_sources, 0, 3);
    suite_add_tcase(s, raw);

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

VMWDT_SUITE_MAIN(clocks_suite)
