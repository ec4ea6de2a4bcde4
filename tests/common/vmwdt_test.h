/*
 * What the Check suites share: a main() that runs one suite and exits 0 when it passed, the
 * window arithmetic of DESIGN.md section 2, and the real clocks and threads of the real-time
 * tests.
 */
#ifndef VMWDT_TEST_H
#define VMWDT_TEST_H

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

/* A millisecond in nanoseconds, for the real-time tests. */
#define MS 1000000LL

/* The window of n ticks at f Hz, as DESIGN.md section 2 defines it. */
#define WIN(n, f) ((int64_t)(n) * 1000000000LL / (int64_t)(f))

#define VMWDT_SUITE_MAIN(make_suite)                                    \
    int main(void)                                                      \
    {                                                                   \
        SRunner *sr = srunner_create(make_suite());                     \
        srunner_run_all(sr, CK_NORMAL);                                 \
        int failed = srunner_ntests_failed(sr);                         \
        srunner_free(sr);                                               \
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;               \
    }

/* CLOCK_MONOTONIC in nanoseconds. */
static inline int64_t mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Sleeps ms milliseconds, resuming after signals. */
static inline void sleep_ms(int64_t ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* The calling thread's id, for vmwdt_set_vcpu_thread. */
static inline pid_t test_gettid(void)
{
    return (pid_t)syscall(SYS_gettid);
}

/* How many descriptors this process has open. */
static inline int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;

    ck_assert_ptr_nonnull(d);
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

#endif /* VMWDT_TEST_H */
