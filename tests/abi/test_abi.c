/*
 * The C ABI rules of abi/vmwdt.h and DESIGN.md section 4: version, struct size rules for both
 * structs passed in, flags, ranges, enum values, required callbacks and NULL arguments.
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "vmwdt.h"
#include "vmwdt_test.h"

/* A device pointer that vmwdt_create must leave untouched when it fails. */
#define UNTOUCHED ((vmwdt *)(uintptr_t)0x5eed)

/* What the callbacks saw. */
static struct {
    int irq, reset, guest, now, log;
} seen;

static void cb_irq(void *o, uint32_t cpu) { seen.irq++; }
static void cb_reset(void *o, uint32_t cpu) { seen.reset++; }
static int64_t cb_guest(void *o, uint32_t cpu) { seen.guest++; return 1000; }
static int64_t cb_now(void *o) { seen.now++; return 5000000000LL; }
static void cb_log(void *o, int level, const char *msg) { seen.log++; }

static struct vmwdt_config cfg_of(uint32_t cpus, uint32_t clock, uint32_t timers)
{
    struct vmwdt_config c = {
        .size = sizeof(c),
        .cpu_count = cpus,
        .clock = clock,
        .action = VMWDT_ACTION_IRQ_THEN_RESET,
        .timers = timers,
    };
    return c;
}

static struct vmwdt_host_ops full_ops(void)
{
    struct vmwdt_host_ops o = {
        .size = sizeof(o),
        .raise_irq = cb_irq,
        .request_reset = cb_reset,
        .guest_time_ns = cb_guest,
        .now_ns = cb_now,
        .log = cb_log,
    };
    return o;
}

/* Creation must fail with -EINVAL and leave *out alone. */
static void expect_refused(const struct vmwdt_config *cfg, const struct vmwdt_host_ops *ops)
{
    vmwdt *dev = UNTOUCHED;
    int rc = vmwdt_create(cfg, ops, &dev);

    ck_assert_msg(rc == -EINVAL, "vmwdt_create returned %d, expected -EINVAL", rc);
    ck_assert_ptr_eq(dev, UNTOUCHED);
}

static vmwdt *expect_created(const struct vmwdt_config *cfg, const struct vmwdt_host_ops *ops)
{
    vmwdt *dev = UNTOUCHED;
    int rc = vmwdt_create(cfg, ops, &dev);

    ck_assert_msg(rc == 0, "vmwdt_create returned %d", rc);
    ck_assert_ptr_ne(dev, UNTOUCHED);
    ck_assert_ptr_nonnull(dev);
    return dev;
}

static int wr(vmwdt *dev, uint64_t off, uint32_t val)
{
    uint8_t b[4] = { val & 0xff, (val >> 8) & 0xff, (val >> 16) & 0xff, val >> 24 };

    return vmwdt_mmio_write(dev, off, b, 4);
}

START_TEST(abi_version)
{
    uint32_t v = vmwdt_abi_version();
    ck_assert_uint_eq(v >> 16, 1);
    ck_assert_uint_eq(v >> 16, VMWDT_ABI_MAJOR);
#ifdef VMWDT_COMPAT_OLDER_HEADER
    /* Built against an older release's header (tests/abi/compat.cmake): a later minor runs it. */
    ck_assert_uint_gt(v & 0xffff, VMWDT_ABI_MINOR);
#else
    ck_assert_uint_eq(v, ((uint32_t)VMWDT_ABI_MAJOR << 16) | VMWDT_ABI_MINOR);
#endif
    ck_assert_int_eq(VMWDT_MAX_CPUS, 4096);
    ck_assert_int_eq(VMWDT_REG_STRIDE, 0x10);
}
END_TEST

START_TEST(strerror_any_value)
{
    static const int errs[] = { EINVAL, ENOMEM, ENOENT, ESRCH, ERANGE, ENOTSUP, 0, 1, 4095,
                                123456, INT_MAX, INT_MIN, -INT_MAX };

    for (unsigned i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
        const char *s = vmwdt_strerror(errs[i]);
        ck_assert_ptr_nonnull(s);
        ck_assert_int_gt(strlen(s), 0);
        if (errs[i] != INT_MIN)
            ck_assert_ptr_nonnull(vmwdt_strerror(-errs[i]));
    }
    /* -errno and errno describe the same error. */
    ck_assert_str_eq(vmwdt_strerror(-EINVAL), vmwdt_strerror(EINVAL));
    ck_assert_str_eq(vmwdt_strerror(-ENOMEM), vmwdt_strerror(ENOMEM));
    ck_assert_str_ne(vmwdt_strerror(-EINVAL), vmwdt_strerror(-ENOMEM));
}
END_TEST

/* Every cfg size from 0 up to sizeof: those that cut cpu_count off make it 0, so refused. */
START_TEST(config_size_too_small)
{
    struct vmwdt_config c = cfg_of(2, VMWDT_CLOCK_MONOTONIC, VMWDT_TIMERS_EXTERNAL);

    c.size = 0;
    expect_refused(&c, NULL);
    c.size = 4;
    expect_refused(&c, NULL);
    c.size = offsetof(struct vmwdt_config, cpu_count);
    expect_refused(&c, NULL);
}
END_TEST

/* A smaller struct: the fields it lacks read as 0, whatever lies in memory after it. */
START_TEST(config_smaller_reads_zero)
{
    struct vmwdt_config c = cfg_of(2, VMWDT_CLOCK_HOST, VMWDT_TIMERS_EXTERNAL);
    struct vmwdt_host_ops o = full_ops();

    /* Past size 8: clock HOST, action NONE, timers EXTERNAL and a bad flag, all ignored. */
    c.action = VMWDT_ACTION_NONE;
    c.flags = 0xFFFFFFFF;
    c.size = offsetof(struct vmwdt_config, clock);
    vmwdt *dev = expect_created(&c, &o);
    /* timers read as 0: THREAD, so run_due is refused. */
    ck_assert_int_eq(vmwdt_run_due(dev, 0), -EINVAL);
    vmwdt_destroy(dev);

    /* Past size 16: timers EXTERNAL is ignored the same way. */
    c.size = offsetof(struct vmwdt_config, timers);
    dev = expect_created(&c, &o);
    ck_assert_int_eq(vmwdt_run_due(dev, 0), -EINVAL);
    vmwdt_destroy(dev);

    /* Size 20 includes timers but not flags: EXTERNAL, and the bad flag is not read. */
    c.size = offsetof(struct vmwdt_config, flags);
    dev = expect_created(&c, &o);
    ck_assert_int_ge(vmwdt_run_due(dev, 0), 0);
    vmwdt_destroy(dev);

    /* The whole struct with that flag: refused. */
    c.size = sizeof(c);
    expect_refused(&c, &o);
}
END_TEST

/* A larger struct with a zero tail is accepted; any non-zero byte in the tail is refused. */
START_TEST(config_larger_tail)
{
    struct {
        struct vmwdt_config c;
        uint8_t tail[64];
    } big;
    struct vmwdt_host_ops o = full_ops();

    memset(&big, 0, sizeof(big));
    big.c = cfg_of(1, VMWDT_CLOCK_HOST, VMWDT_TIMERS_EXTERNAL);
    big.c.size = sizeof(big);
    vmwdt *dev = expect_created(&big.c, &o);
    vmwdt_destroy(dev);
    for (unsigned i = 0; i < sizeof(big.tail); i++) {
        big.tail[i] = (uint8_t)(1u << (i % 8));
        expect_refused(&big.c, &o);
        big.tail[i] = 0;
    }
    /* Tail bytes beyond the declared size are not read. */
    big.tail[20] = 0xff;
    big.c.size = sizeof(big.c) + 20;
    dev = expect_created(&big.c, &o);
    vmwdt_destroy(dev);
}
END_TEST

START_TEST(config_flags_refused)
{
    static const uint32_t flags[] = { 1, 2, 4, 0x100, 0x80000000, 0xFFFFFFFF };
    struct vmwdt_config c = cfg_of(1, VMWDT_CLOCK_MONOTONIC, VMWDT_TIMERS_EXTERNAL);

    for (unsigned i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
        c.flags = flags[i];
        expect_refused(&c, NULL);
    }
}
END_TEST

START_TEST(config_cpu_count_range)
{
    struct vmwdt_config c = cfg_of(0, VMWDT_CLOCK_MONOTONIC, VMWDT_TIMERS_EXTERNAL);

    expect_refused(&c, NULL);
    c.cpu_count = VMWDT_MAX_CPUS + 1;
    expect_refused(&c, NULL);
    c.cpu_count = UINT32_MAX;
    expect_refused(&c, NULL);
    c.cpu_count = 0x80000000u;
    expect_refused(&c, NULL);
    c.cpu_count = 1;
    vmwdt_destroy(expect_created(&c, NULL));
    c.cpu_count = VMWDT_MAX_CPUS;
    vmwdt *dev = expect_created(&c, NULL);
    /* The last vCPU exists, the one after it does not. */
    uint8_t b[4];
    ck_assert_int_eq(vmwdt_mmio_read(dev, (VMWDT_MAX_CPUS - 1) * 0x10 + 0xC, b, 4), 0);
    ck_assert_int_eq(vmwdt_mmio_read(dev, VMWDT_MAX_CPUS * 0x10, b, 4), -EINVAL);
    vmwdt_destroy(dev);
}
END_TEST

START_TEST(config_enums_refused)
{
    struct vmwdt_host_ops o = full_ops();
    struct vmwdt_config c = cfg_of(1, VMWDT_CLOCK_HOST, VMWDT_TIMERS_EXTERNAL);

    c.clock = VMWDT_CLOCK_HOST + 1;
    expect_refused(&c, &o);
    c.clock = 0xFFFFFFFF;
    expect_refused(&c, &o);
    c.clock = VMWDT_CLOCK_HOST;
    c.action = VMWDT_ACTION_NONE + 1;
    expect_refused(&c, &o);
    c.action = 0x80000000;
    expect_refused(&c, &o);
    c.action = VMWDT_ACTION_NONE;
    c.timers = VMWDT_TIMERS_EXTERNAL + 1;
    expect_refused(&c, &o);
    c.timers = 0xFFFFFFFF;
    expect_refused(&c, &o);
    /* Every defined value is accepted. */
    for (uint32_t clock = 0; clock <= VMWDT_CLOCK_HOST; clock++)
        for (uint32_t action = 0; action <= VMWDT_ACTION_NONE; action++)
            for (uint32_t timers = 0; timers <= VMWDT_TIMERS_EXTERNAL; timers++) {
                c.clock = clock;
                c.action = action;
                c.timers = timers;
                vmwdt_destroy(expect_created(&c, &o));
            }
}
END_TEST

/* CLOCK_HOST needs guest_time_ns: without it (NULL ops, NULL pointer, or cut off by size)
 * creation is refused. */
START_TEST(clock_host_needs_guest_time)
{
    struct vmwdt_config c = cfg_of(1, VMWDT_CLOCK_HOST, VMWDT_TIMERS_EXTERNAL);
    struct vmwdt_host_ops o = full_ops();

    expect_refused(&c, NULL);
    o.guest_time_ns = NULL;
    expect_refused(&c, &o);
    o = full_ops();
    o.size = offsetof(struct vmwdt_host_ops, guest_time_ns);
    expect_refused(&c, &o);
    o.size = offsetof(struct vmwdt_host_ops, now_ns);
    vmwdt_destroy(expect_created(&c, &o));
}
END_TEST

START_TEST(ops_size_rules)
{
    struct vmwdt_config c = cfg_of(1, VMWDT_CLOCK_MONOTONIC, VMWDT_TIMERS_EXTERNAL);
    struct {
        struct vmwdt_host_ops o;
        uint8_t tail[32];
    } big;

    memset(&big, 0, sizeof(big));
    big.o = full_ops();
    big.o.size = 0;
    expect_refused(&c, &big.o);
    big.o.size = sizeof(big);
    vmwdt_destroy(expect_created(&c, &big.o));
    for (unsigned i = 0; i < sizeof(big.tail); i++) {
        big.tail[i] = 0x80;
        expect_refused(&c, &big.o);
        big.tail[i] = 0;
    }
    /* ops may be NULL when no callback is required. */
    vmwdt_destroy(expect_created(&c, NULL));
    /* The size field alone is an ops struct whose every other field is missing; a size that
     * ends inside a pointer is refused. */
    big.o.size = sizeof(uint32_t);
    vmwdt_destroy(expect_created(&c, &big.o));
    big.o.size = offsetof(struct vmwdt_host_ops, opaque) + 4;
    expect_refused(&c, &big.o);
}
END_TEST

/*
 * A smaller ops struct: callbacks past its size are never called, those within it are. A 0 ns
 * window makes the interrupt and the reset due at once; now_ns and log past the size would
 * otherwise be called for host time and for the refused write.
 */
START_TEST(ops_smaller_callbacks_not_called)
{
    struct vmwdt_config c = cfg_of(1, VMWDT_CLOCK_MONOTONIC, VMWDT_TIMERS_EXTERNAL);
    struct vmwdt_host_ops o = full_ops();

    /* Size up to request_reset: guest_time_ns, now_ns and log are cut off. */
    memset(&seen, 0, sizeof(seen));
    o.size = offsetof(struct vmwdt_host_ops, guest_time_ns);
    vmwdt *dev = expect_created(&c, &o);
    ck_assert_int_eq(wr(dev, VMWDT_REG_CURRENT_CNT, 1), -EINVAL);
    ck_assert_int_eq(wr(dev, VMWDT_REG_CLOCK_FREQ_HZ, 10), 0);
    ck_assert_int_eq(wr(dev, VMWDT_REG_LOAD_CNT, 0), 0);
    ck_assert_int_eq(wr(dev, VMWDT_REG_STATUS, 1), 0);
    int64_t d = vmwdt_next_deadline_ns(dev);
    /* Without now_ns host time is CLOCK_MONOTONIC. */
    ck_assert_int_le(d, mono_ns());
    ck_assert_int_gt(d, mono_ns() - 60000000000LL);
    ck_assert_int_eq(vmwdt_run_due(dev, mono_ns()), 2);
    ck_assert_int_eq(seen.irq, 1);
    ck_assert_int_eq(seen.reset, 1);
    ck_assert_int_eq(seen.now + seen.guest + seen.log, 0);
    vmwdt_destroy(dev);

    /* Size up to opaque: not even raise_irq and request_reset. */
    memset(&seen, 0, sizeof(seen));
    o.size = offsetof(struct vmwdt_host_ops, raise_irq);
    dev = expect_created(&c, &o);
    ck_assert_int_eq(wr(dev, VMWDT_REG_CLOCK_FREQ_HZ, 10), 0);
    ck_assert_int_eq(wr(dev, VMWDT_REG_STATUS, 1), 0);
    ck_assert_int_eq(vmwdt_run_due(dev, mono_ns()), 2);
    ck_assert_int_eq(seen.irq + seen.reset + seen.now + seen.guest + seen.log, 0);
    vmwdt_destroy(dev);

    /* The whole struct: now_ns is the host time and log hears the refused write. */
    memset(&seen, 0, sizeof(seen));
    o.size = sizeof(o);
    dev = expect_created(&c, &o);
    ck_assert_int_eq(wr(dev, VMWDT_REG_CURRENT_CNT, 1), -EINVAL);
    ck_assert_int_gt(seen.log, 0);
    ck_assert_int_eq(wr(dev, VMWDT_REG_CLOCK_FREQ_HZ, 10), 0);
    ck_assert_int_eq(wr(dev, VMWDT_REG_STATUS, 1), 0);
    ck_assert_int_eq(vmwdt_next_deadline_ns(dev), 5000000000LL);
    ck_assert_int_gt(seen.now, 0);
    vmwdt_destroy(dev);
}
END_TEST

/* The library copies cfg and ops: both may be overwritten after vmwdt_create. */
START_TEST(create_copies_structs)
{
    struct vmwdt_config c = cfg_of(1, VMWDT_CLOCK_HOST, VMWDT_TIMERS_EXTERNAL);
    struct vmwdt_host_ops o = full_ops();
    vmwdt *dev = expect_created(&c, &o);

    memset(&c, 0xff, sizeof(c));
    memset(&o, 0, sizeof(o));
    memset(&seen, 0, sizeof(seen));
    ck_assert_int_eq(wr(dev, VMWDT_REG_CLOCK_FREQ_HZ, 10), 0);
    ck_assert_int_eq(wr(dev, VMWDT_REG_STATUS, 1), 0);
    ck_assert_int_eq(vmwdt_run_due(dev, 5000000000LL), 2);
    ck_assert_int_eq(seen.irq, 1);
    ck_assert_int_eq(seen.reset, 1);
    vmwdt_destroy(dev);
}
END_TEST

START_TEST(null_arguments)
{
    struct vmwdt_config c = cfg_of(1, VMWDT_CLOCK_MONOTONIC, VMWDT_TIMERS_EXTERNAL);
    vmwdt *out = UNTOUCHED;
    uint8_t b[4] = { 0xa5, 0xa5, 0xa5, 0xa5 };
    char *json = (char *)"untouched";

    ck_assert_int_eq(vmwdt_create(NULL, NULL, &out), -EINVAL);
    ck_assert_ptr_eq(out, UNTOUCHED);
    ck_assert_int_eq(vmwdt_create(&c, NULL, NULL), -EINVAL);
    vmwdt_destroy(NULL);
    vmwdt_free(NULL);
    ck_assert_int_eq(vmwdt_set_vcpu_thread(NULL, 0, getpid(), getpid()), -EINVAL);
    ck_assert_int_eq(vmwdt_mmio_write(NULL, 0, b, 4), -EINVAL);
    ck_assert_int_eq(vmwdt_mmio_read(NULL, 0, b, 4), -EINVAL);
    ck_assert_uint_eq(b[0] | b[1] | b[2] | b[3], 0);
    ck_assert_int_eq(vmwdt_sleep(NULL), -EINVAL);
    ck_assert_int_eq(vmwdt_wake(NULL), -EINVAL);
    ck_assert_int_eq(vmwdt_snapshot_json(NULL, &json), -EINVAL);
    ck_assert_int_eq(vmwdt_restore_json(NULL, "{}"), -EINVAL);
    ck_assert_int_eq(vmwdt_run_due(NULL, 0), -EINVAL);
    (void)vmwdt_next_deadline_ns(NULL);

    vmwdt *dev = expect_created(&c, NULL);
    ck_assert_int_eq(vmwdt_snapshot_json(dev, NULL), -EINVAL);
    ck_assert_int_eq(vmwdt_restore_json(dev, NULL), -EINVAL);
    ck_assert_int_eq(vmwdt_mmio_write(dev, 0, NULL, 4), -EINVAL);
    ck_assert_int_eq(vmwdt_mmio_read(dev, 0, NULL, 4), -EINVAL);
    vmwdt_destroy(dev);
}
END_TEST

/* A thread that tells its id and waits until it is let go. */
struct parked {
    pthread_mutex_t lock;
    pthread_cond_t cv;
    pid_t tid;
    bool go;
};

static void *park(void *arg)
{
    struct parked *p = arg;

    pthread_mutex_lock(&p->lock);
    p->tid = test_gettid();
    pthread_cond_broadcast(&p->cv);
    while (!p->go)
        pthread_cond_wait(&p->cv, &p->lock);
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

/* set_vcpu_thread: ranges, missing threads, and real ones of this process. */
START_TEST(set_vcpu_thread_rules)
{
    struct vmwdt_config c = cfg_of(2, VMWDT_CLOCK_AUTO, VMWDT_TIMERS_EXTERNAL);
    vmwdt *dev = expect_created(&c, NULL);
    pid_t pid = getpid(), tid = test_gettid();

    ck_assert_int_eq(vmwdt_set_vcpu_thread(dev, 2, pid, tid), -EINVAL);
    ck_assert_int_eq(vmwdt_set_vcpu_thread(dev, UINT32_MAX, pid, tid), -EINVAL);
    ck_assert_int_eq(vmwdt_set_vcpu_thread(dev, 0, 0, tid), -EINVAL);
    ck_assert_int_eq(vmwdt_set_vcpu_thread(dev, 0, pid, 0), -EINVAL);
    ck_assert_int_eq(vmwdt_set_vcpu_thread(dev, 0, -1, tid), -EINVAL);
    ck_assert_int_eq(vmwdt_set_vcpu_thread(dev, 0, pid, INT32_MIN), -EINVAL);
    int rc = vmwdt_set_vcpu_thread(dev, 0, pid, 0x7ffffff0);
    ck_assert_msg(rc == -ENOENT || rc == -ESRCH, "missing thread: %d", rc);
    rc = vmwdt_set_vcpu_thread(dev, 0, 0x7ffffff0, 0x7ffffff0);
    ck_assert_msg(rc == -ENOENT || rc == -ESRCH, "missing process: %d", rc);
    ck_assert_int_eq(vmwdt_set_vcpu_thread(dev, 0, pid, tid), 0);

    /* Another thread of this process, then naming the first one again. */
    struct parked p = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, false };
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, park, &p), 0);
    pthread_mutex_lock(&p.lock);
    while (p.tid == 0)
        pthread_cond_wait(&p.cv, &p.lock);
    pthread_mutex_unlock(&p.lock);
    ck_assert_int_ne(p.tid, tid);
    ck_assert_int_eq(vmwdt_set_vcpu_thread(dev, 1, pid, p.tid), 0);
    ck_assert_int_eq(vmwdt_set_vcpu_thread(dev, 1, pid, tid), 0);
    ck_assert_int_eq(vmwdt_set_vcpu_thread(dev, 1, pid, p.tid), 0);
    pthread_mutex_lock(&p.lock);
    p.go = true;
    pthread_cond_broadcast(&p.cv);
    pthread_mutex_unlock(&p.lock);
    pthread_join(th, NULL);
    /* The device still works, vCPU 1's thread having vanished: an error, not a crash. */
    for (uint32_t cpu = 0; cpu < 2; cpu++) {
        ck_assert_int_eq(wr(dev, cpu * 0x10 + VMWDT_REG_CLOCK_FREQ_HZ, 10), 0);
        ck_assert_int_eq(wr(dev, cpu * 0x10 + VMWDT_REG_LOAD_CNT, 10), 0);
        ck_assert_int_eq(wr(dev, cpu * 0x10 + VMWDT_REG_STATUS, 1), 0);
        uint8_t b[4];
        ck_assert_int_eq(vmwdt_mmio_read(dev, cpu * 0x10 + VMWDT_REG_CURRENT_CNT, b, 4), 0);
        ck_assert_int_le(b[0], 10);
    }
    ck_assert_int_ge(vmwdt_run_due(dev, mono_ns()), 0);
    vmwdt_destroy(dev);
}
END_TEST

static Suite *abi_suite(void)
{
    Suite *s = suite_create("abi");
    TCase *tc = tcase_create("abi");

    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, abi_version);
    tcase_add_test(tc, strerror_any_value);
    tcase_add_test(tc, config_size_too_small);
    tcase_add_test(tc, config_smaller_reads_zero);
    tcase_add_test(tc, config_larger_tail);
    tcase_add_test(tc, config_flags_refused);
    tcase_add_test(tc, config_cpu_count_range);
    tcase_add_test(tc, config_enums_refused);
    tcase_add_test(tc, clock_host_needs_guest_time);
    tcase_add_test(tc, ops_size_rules);
    tcase_add_test(tc, ops_smaller_callbacks_not_called);
    tcase_add_test(tc, create_copies_structs);
    tcase_add_test(tc, null_arguments);
    tcase_add_test(tc, set_vcpu_thread_rules);
    suite_add_tcase(s, tc);
    return s;
}

VMWDT_SUITE_MAIN(abi_suite)
