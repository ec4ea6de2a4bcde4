/*
 * No clock can exhaust the host's descriptors (DESIGN.md section 3). With RLIMIT_NOFILE set to
 * 1024, the Linux default soft limit, a device of 4096 vCPUs, each named to a real thread of
 * this process and enabled, adds at most 4 descriptors with every clock, every call succeeds
 * and the process can still open files. With every descriptor of the process taken, a device
 * still accepts every guest access (the clocks that need a descriptor fall back to host time,
 * logged once per vCPU) and its clocks come back once descriptors are free again.
 *
 * Many vCPUs are named to a few real threads, as a VMM restarting its vCPU threads, or a test,
 * may do: the library names threads by their ids and never assumes one vCPU per thread.
 */
#define _GNU_SOURCE
#include <check.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "vmwdt.h"
#include "vmwdt_test.h"

#define CPUS 4096
#define THREADS 8
#define LIMIT 1024

/* Real threads that sleep until told to stop, so that their ids stay theirs. */
static pthread_mutex_t park_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t park_cond = PTHREAD_COND_INITIALIZER;
static bool park_stop;
static atomic_int tids[THREADS];

static void *park_main(void *arg)
{
    atomic_store(&tids[(intptr_t)arg], test_gettid());
    pthread_mutex_lock(&park_lock);
    while (!park_stop)
        pthread_cond_wait(&park_cond, &park_lock);
    pthread_mutex_unlock(&park_lock);
    return NULL;
}

static pthread_t parked[THREADS];

static void park_start(void)
{
    park_stop = false;
    for (intptr_t i = 0; i < THREADS; i++) {
        atomic_store(&tids[i], 0);
        ck_assert_int_eq(pthread_create(&parked[i], NULL, park_main, (void *)i), 0);
    }
    for (int i = 0; i < THREADS; i++)
        while (atomic_load(&tids[i]) == 0)
            sleep_ms(1);
}

static void park_end(void)
{
    pthread_mutex_lock(&park_lock);
    park_stop = true;
    pthread_cond_broadcast(&park_cond);
    pthread_mutex_unlock(&park_lock);
    for (int i = 0; i < THREADS; i++)
        pthread_join(parked[i], NULL);
}

/* Library messages: how many said that a descriptor could not be had. */
static atomic_int log_emfile, log_total;

static void count_log(void *o, int level, const char *msg)
{
    atomic_fetch_add(&log_total, 1);
    if (strstr(msg, strerror(EMFILE)) != NULL || strstr(msg, strerror(ENFILE)) != NULL)
        atomic_fetch_add(&log_emfile, 1);
}

static vmwdt *make_device(enum vmwdt_clock clock, uint32_t timers)
{
    struct vmwdt_config cfg = { .size = sizeof(cfg), .cpu_count = CPUS, .clock = clock,
                                .timers = timers };
    struct vmwdt_host_ops ops = { .size = sizeof(ops), .log = count_log };
    vmwdt *dev = NULL;

    ck_assert_int_eq(vmwdt_create(&cfg, &ops, &dev), 0);
    return dev;
}

static void write_reg(vmwdt *dev, uint32_t cpu, uint32_t reg, uint32_t v)
{
    uint8_t b[4] = { v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, v >> 24 };

    ck_assert_int_eq(vmwdt_mmio_write(dev, (uint64_t)cpu * VMWDT_REG_STRIDE + reg, b, 4), 0);
}

/* CURRENT_CNT of vCPU cpu, whose 3600-tick window at 1 Hz has barely begun. */
static void check_counting(vmwdt *dev, uint32_t cpu)
{
    uint8_t b[4];

    ck_assert_int_eq(vmwdt_mmio_read(dev, (uint64_t)cpu * VMWDT_REG_STRIDE +
                                     VMWDT_REG_CURRENT_CNT, b, 4), 0);
    uint32_t left = b[0] | b[1] << 8 | b[2] << 16 | (uint32_t)b[3] << 24;
    ck_assert_uint_le(left, 3600);
    ck_assert_uint_ge(left, 3590);
}

/* Names every vCPU's thread, enables it with a one-hour window, pets it and reads it. */
static void name_and_run_all(vmwdt *dev)
{
    for (uint32_t cpu = 0; cpu < CPUS; cpu++) {
        ck_assert_int_eq(vmwdt_set_vcpu_thread(dev, cpu, getpid(),
                                               atomic_load(&tids[cpu % THREADS])), 0);
        write_reg(dev, cpu, VMWDT_REG_CLOCK_FREQ_HZ, 1);
        write_reg(dev, cpu, VMWDT_REG_LOAD_CNT, 3600);
        write_reg(dev, cpu, VMWDT_REG_STATUS, 1);
    }
    for (uint32_t cpu = 0; cpu < CPUS; cpu++) {
        write_reg(dev, cpu, VMWDT_REG_LOAD_CNT, 3600);
        check_counting(dev, cpu);
    }
}

static void set_limit(void)
{
    struct rlimit rl;

    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    ck_assert_uint_ge(rl.rlim_max, LIMIT);
    rl.rlim_cur = LIMIT;
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
}

/* Opens /dev/null until the process has no descriptor left; returns how many it took. */
static int exhaust(int *fds, int cap)
{
    int n = 0;

    while (n < cap) {
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            ck_assert_int_eq(errno, EMFILE);
            break;
        }
        fds[n++] = fd;
    }
    ck_assert_int_lt(n, cap);
    return n;
}

static const enum vmwdt_clock clocks[] = { VMWDT_CLOCK_AUTO, VMWDT_CLOCK_GUEST_TIME,
                                           VMWDT_CLOCK_THREAD_CPU, VMWDT_CLOCK_MONOTONIC };

/* 4096 vCPUs named and enabled under the default limit: at most 4 descriptors more. */
START_TEST(many_vcpus_few_descriptors)
{
    set_limit();
    park_start();
    atomic_store(&log_total, 0);
    int base = count_fds();
    vmwdt *dev = make_device(clocks[_i], VMWDT_TIMERS_THREAD);

    name_and_run_all(dev);
    int added = count_fds() - base;
    ck_assert_msg(added <= 4, "%d descriptors added by 4096 vCPUs", added);
    ck_assert_int_eq(atomic_load(&log_total), 0);
    /* The host process can still open files. */
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    close(fd);
    vmwdt_destroy(dev);
    ck_assert_int_eq(count_fds(), base);
    park_end();
}
END_TEST

/*
 * Every descriptor taken: the guest's accesses still succeed. A clock that needs a descriptor
 * falls back to host time, logged once per vCPU at most, and comes back once descriptors are
 * free again (no new message, the windows still counting).
 */
START_TEST(no_descriptor_left)
{
    static int fds[LIMIT];

    set_limit();
    park_start();
    atomic_store(&log_emfile, 0);
    atomic_store(&log_total, 0);
    int base = count_fds();
    vmwdt *dev = make_device(clocks[_i], VMWDT_TIMERS_EXTERNAL);
    int n = exhaust(fds, LIMIT);

    name_and_run_all(dev);
    int emfile = atomic_load(&log_emfile);
    ck_assert_int_le(emfile, CPUS);
    ck_assert_int_eq(atomic_load(&log_total), emfile);
    if (clocks[_i] == VMWDT_CLOCK_GUEST_TIME)
        ck_assert_int_eq(emfile, CPUS);
    else
        ck_assert_int_eq(emfile, 0);
    /* Still nothing to open; a second round logs nothing new. */
    for (uint32_t cpu = 0; cpu < CPUS; cpu++)
        write_reg(dev, cpu, VMWDT_REG_LOAD_CNT, 3600);
    ck_assert_int_eq(atomic_load(&log_total), emfile);
    for (int i = 0; i < n; i++)
        close(fds[i]);
    /* Descriptors free again: every access still succeeds, with nothing more to say. */
    for (uint32_t cpu = 0; cpu < CPUS; cpu++) {
        write_reg(dev, cpu, VMWDT_REG_LOAD_CNT, 3600);
        check_counting(dev, cpu);
    }
    ck_assert_int_eq(atomic_load(&log_total), emfile);
    ck_assert_int_le(count_fds() - base, 4);
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    close(fd);
    vmwdt_destroy(dev);
    ck_assert_int_eq(count_fds(), base);
    park_end();
}
END_TEST

static Suite *rlimit_suite(void)
{
    Suite *s = suite_create("core_rlimit");
    TCase *tc = tcase_create("rlimit");

    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, many_vcpus_few_descriptors, 0, 4);
    tcase_add_loop_test(tc, no_descriptor_left, 0, 4);
    suite_add_tcase(s, tc);
    return s;
}

VMWDT_SUITE_MAIN(rlimit_suite)
