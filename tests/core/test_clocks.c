/*
 * The clocks' building blocks on real threads, white-box through the internal clock API
 * (plugin/wdt_thread.h, plugin/wdt_clock.h): THREAD_CPU follows a busy thread and not a
 * sleeping one, GUEST_TIME reads the thread's own /proc entry through a cache of at most
 * WDT_STAT_CACHE_SIZE descriptors, a vanished thread (or another behind its tid) is an error
 * and not a crash, and every vCPU clock stays continuous across a change of source.
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vmwdt.h"
#include "wdt_clock.h"
#include "vmwdt_test.h"
#include "clock_workers.h"

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

static Suite *clocks_suite(void)
{
    Suite *s = suite_create("core_clocks");
    TCase *raw = tcase_create("raw");

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
    return s;
}

VMWDT_SUITE_MAIN(clocks_suite)
