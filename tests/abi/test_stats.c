/*
 * ABI 1.1, vmwdt_vcpu_stats (DESIGN.md section 4): the struct size rule, every counter and field
 * for one vCPU and summed over all of them, and the counters' lifetime (kept across sleep and
 * wake, 0 after create and after a restore). Virtual time through the vharness host.
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <string.h>

#include "vharness.h"
#include "vmwdt.h"
#include "vmwdt_test.h"

/* Statistics of cpu through a full-size struct; the call must succeed. */
static struct vmwdt_vcpu_stats stats(vmwdt *dev, uint32_t cpu)
{
    struct vmwdt_vcpu_stats st;
    memset(&st, 0x5a, sizeof st);
    st.size = sizeof st;
    ck_assert_int_eq(vmwdt_vcpu_stats(dev, cpu, &st), 0);
    ck_assert_uint_eq(st.size, sizeof st);
    return st;
}

START_TEST(version_is_1_1)
{
    ck_assert_uint_eq(vmwdt_abi_version(), 0x00010001u);
    ck_assert_int_eq(VMWDT_ABI_MINOR, 1);
    ck_assert_uint_eq(sizeof(struct vmwdt_vcpu_stats), 72);
}
END_TEST

/* Sizes below 8 or inside a field are refused and nothing is written. */
START_TEST(bad_sizes_are_refused_untouched)
{
    struct vh *h = vh_new(2, VMWDT_ACTION_IRQ_THEN_RESET, 0);
    static const uint32_t bad[] = {0, 1, 4, 7, 9, 10, 14, 20, 28, 60, 71, 73, 76, 84};
    unsigned char buf[160];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(buf, 0xa5, sizeof buf);
        memcpy(buf, &bad[i], 4);
        ck_assert_msg(vmwdt_vcpu_stats(h->dev, 0, (void *)buf) == -EINVAL, "size %u", bad[i]);
        for (size_t j = 4; j < sizeof buf; j++)
            ck_assert_msg(buf[j] == 0xa5, "size %u: byte %zu written", bad[i], j);
    }
    struct vmwdt_vcpu_stats st = {.size = sizeof st};
    ck_assert_int_eq(vmwdt_vcpu_stats(NULL, 0, &st), -EINVAL);
    ck_assert_int_eq(vmwdt_vcpu_stats(h->dev, 0, NULL), -EINVAL);
    ck_assert_int_eq(vmwdt_vcpu_stats(h->dev, 2, &st), -EINVAL);
    ck_assert_int_eq(vmwdt_vcpu_stats(h->dev, VMWDT_ALL_CPUS - 1, &st), -EINVAL);
    vh_free(h);
}
END_TEST

/*
 * Every size on a field boundary: the known fields that fit are written, nothing past size;
 * a larger struct's tail is zeroed up to its size.
 */
START_TEST(sizes_on_field_boundaries)
{
    struct vh *h = vh_new(1, VMWDT_ACTION_IRQ_THEN_RESET, 0);
    vh_start(h, 0, 10, 20);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(vh_write(h, 0, VMWDT_REG_LOAD_CNT, 20), 0);
    struct vmwdt_vcpu_stats full = stats(h->dev, 0);
    ck_assert_uint_eq(full.pets, 4);
    static const uint32_t good[] = {8, 12, 16, 24, 32, 40, 48, 56, 64, 72, 80, 128};
    unsigned char buf[160];
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        uint32_t size = good[i];
        memset(buf, 0xa5, sizeof buf);
        memcpy(buf, &size, 4);
        ck_assert_msg(vmwdt_vcpu_stats(h->dev, 0, (void *)buf) == 0, "size %u", size);
        uint32_t back;
        memcpy(&back, buf, 4);
        ck_assert_uint_eq(back, size);
        size_t known = size < sizeof full ? size : sizeof full;
        ck_assert_msg(memcmp(buf + 4, (unsigned char *)&full + 4, known - 4) == 0, "size %u",
                      size);
        for (size_t j = known; j < size; j++)
            ck_assert_msg(buf[j] == 0, "size %u: byte %zu not zeroed", size, j);
        for (size_t j = size; j < sizeof buf; j++)
            ck_assert_msg(buf[j] == 0xa5, "size %u: byte %zu written past size", size, j);
    }
    vh_free(h);
}
END_TEST

/* Each counter counts what section 4 says, per vCPU, and VMWDT_ALL_CPUS sums them. */
START_TEST(counters_per_vcpu_and_summed)
{
    struct vh *h = vh_new(3, VMWDT_ACTION_IRQ_THEN_RESET, VH_S(1));
    struct vmwdt_vcpu_stats st = stats(h->dev, 1);
    ck_assert_uint_eq(st.pets + st.enables + st.refused + st.interrupts + st.resets, 0);
    ck_assert_uint_eq(st.status, 0);
    ck_assert_int_eq(st.window_ns, 0);
    ck_assert_int_eq(st.remaining_ns, -1);
    ck_assert_uint_eq(st.clock, VMWDT_CLOCK_HOST);
    ck_assert_uint_eq(st.action, VMWDT_ACTION_IRQ_THEN_RESET);

    /* vCPU 1: refused pet and enable at f = 0, a refused CURRENT_CNT write, two refused
     * shapes, a read past the last vCPU (counted in the sum only), an accepted pet while
     * disabled, an enable, a repeated enable (not counted), a pet. */
    ck_assert_int_eq(vh_write(h, 1, VMWDT_REG_LOAD_CNT, 5), -EINVAL);
    ck_assert_int_eq(vh_write(h, 1, VMWDT_REG_STATUS, 1), -EINVAL);
    ck_assert_int_eq(vh_write(h, 1, VMWDT_REG_CURRENT_CNT, 5), -EINVAL);
    uint32_t v = 0;
    ck_assert_int_eq(vmwdt_mmio_write(h->dev, 0x12, &v, 4), -EINVAL);
    ck_assert_int_eq(vmwdt_mmio_read(h->dev, 0x14, &v, 2), -EINVAL);
    ck_assert_int_eq(vmwdt_mmio_read(h->dev, 3 * VMWDT_REG_STRIDE, &v, 4), -EINVAL);
    ck_assert_int_eq(vmwdt_mmio_write(h->dev, UINT64_MAX - 3, &v, 4), -EINVAL);
    ck_assert_int_eq(vh_write(h, 1, VMWDT_REG_CLOCK_FREQ_HZ, 10), 0);
    ck_assert_int_eq(vh_write(h, 1, VMWDT_REG_LOAD_CNT, 20), 0);
    ck_assert_int_eq(vh_write(h, 1, VMWDT_REG_STATUS, 1), 0);
    ck_assert_int_eq(vh_write(h, 1, VMWDT_REG_STATUS, 1), 0);
    vh_advance_by(h, VH_MS(500));
    ck_assert_int_eq(vh_write(h, 1, VMWDT_REG_LOAD_CNT, 20), 0);
    (void)vh_read(h, 1, VMWDT_REG_CURRENT_CNT);

    st = stats(h->dev, 1);
    ck_assert_uint_eq(st.pets, 2);
    ck_assert_uint_eq(st.enables, 1);
    ck_assert_uint_eq(st.refused, 5);
    ck_assert_uint_eq(st.status, 1);
    ck_assert_int_eq(st.window_ns, VH_S(2));
    ck_assert_int_eq(st.remaining_ns, VH_S(2));
    vh_advance_by(h, VH_MS(750));
    ck_assert_int_eq(stats(h->dev, 1).remaining_ns, VH_MS(1250));

    /* vCPU 2: enabled and never petted: its interrupt, then its reset. */
    vh_start(h, 2, 10, 10);
    vh_advance_by(h, VH_MS(1500));
    st = stats(h->dev, 2);
    ck_assert_uint_eq(st.interrupts, 1);
    ck_assert_uint_eq(st.resets, 0);
    ck_assert_uint_eq(st.status, 3);
    ck_assert_int_eq(st.window_ns, VH_S(1));
    ck_assert_int_eq(st.remaining_ns, VH_MS(500));
    vh_advance_by(h, VH_S(1));
    st = stats(h->dev, 2);
    ck_assert_uint_eq(st.interrupts, 1);
    ck_assert_uint_eq(st.resets, 1);
    ck_assert_int_eq(st.window_ns, 0); /* stopped after its reset */
    ck_assert_int_eq(st.remaining_ns, -1);
    /* vCPU 1's window (petted at 1.5 s) ended at 3.5 s: its interrupt is its own. */
    vh_expect_counts(h, 2, 1);
    ck_assert_uint_eq(stats(h->dev, 1).interrupts, 1);
    ck_assert_uint_eq(stats(h->dev, 0).interrupts, 0);

    /* The sums: vCPU 0 did nothing; the two accesses past the last vCPU count here. */
    struct vmwdt_vcpu_stats all = stats(h->dev, VMWDT_ALL_CPUS);
    ck_assert_uint_eq(all.pets, 2 + 1);
    ck_assert_uint_eq(all.enables, 2);
    ck_assert_uint_eq(all.refused, 5 + 2);
    ck_assert_uint_eq(all.interrupts, 2);
    ck_assert_uint_eq(all.resets, 1);
    ck_assert_uint_eq(all.status, 0);
    ck_assert_int_eq(all.window_ns, 0);
    ck_assert_int_eq(all.remaining_ns, 0);
    ck_assert_uint_eq(all.clock, VMWDT_CLOCK_HOST);
    ck_assert_uint_eq(all.action, VMWDT_ACTION_IRQ_THEN_RESET);
    vh_free(h);
}
END_TEST

/* Counters are kept across sleep and wake; asleep, the budget left is what it was. */
START_TEST(counters_kept_across_sleep_and_wake)
{
    struct vh *h = vh_new(1, VMWDT_ACTION_IRQ_THEN_RESET, 0);
    vh_start(h, 0, 10, 30);
    vh_advance_by(h, VH_S(1));
    ck_assert_int_eq(vmwdt_sleep(h->dev), 0);
    vh_advance_by(h, VH_S(100));
    struct vmwdt_vcpu_stats st = stats(h->dev, 0);
    ck_assert_uint_eq(st.pets, 1);
    ck_assert_uint_eq(st.enables, 1);
    ck_assert_int_eq(st.remaining_ns, VH_S(2));
    ck_assert_int_eq(vmwdt_wake(h->dev), 0);
    vh_advance_by(h, VH_S(2));
    st = stats(h->dev, 0);
    ck_assert_uint_eq(st.pets, 1);
    ck_assert_uint_eq(st.enables, 1);
    ck_assert_uint_eq(st.interrupts, 1);
    vh_free(h);
}
END_TEST

/* Statistics are not in the snapshot: a restored device, fresh or the same, counts from 0. */
START_TEST(restored_device_counts_from_zero)
{
    struct vh *h = vh_new(2, VMWDT_ACTION_IRQ_THEN_RESET, 0);
    vh_start(h, 0, 10, 10);
    uint32_t v = 0;
    ck_assert_int_eq(vmwdt_mmio_write(h->dev, 0x40, &v, 4), -EINVAL);
    vh_advance_by(h, VH_MS(1500));
    char *json = NULL;
    ck_assert_int_eq(vmwdt_snapshot_json(h->dev, &json), 0);
    ck_assert_ptr_null(strstr(json, "pets"));
    ck_assert_ptr_null(strstr(json, "interrupts"));

    struct vh *dst = vh_new(2, VMWDT_ACTION_IRQ_THEN_RESET, 0);
    ck_assert_int_eq(vmwdt_restore_json(dst->dev, json), 0);
    ck_assert_int_eq(vmwdt_restore_json(h->dev, json), 0);
    vmwdt_free(json);
    vmwdt *devs[] = {dst->dev, h->dev};
    for (int i = 0; i < 2; i++) {
        struct vmwdt_vcpu_stats st = stats(devs[i], VMWDT_ALL_CPUS);
        ck_assert_uint_eq(st.pets + st.enables + st.refused + st.interrupts + st.resets, 0);
        st = stats(devs[i], 0);
        ck_assert_uint_eq(st.status, 3); /* the state itself is restored */
        ck_assert_int_eq(st.remaining_ns, VH_MS(500));
    }
    ck_assert_int_eq(vmwdt_wake(dst->dev), 0);
    vh_advance_by(dst, VH_MS(500));
    ck_assert_uint_eq(stats(dst->dev, 0).resets, 1);
    vh_free(dst);
    vh_free(h);
}
END_TEST

/* The clock measuring each vCPU, AUTO resolved; VMWDT_ALL_CPUS gives the device's. */
START_TEST(clock_resolved)
{
    struct { uint32_t clock; bool host_time; bool thread; uint32_t want; } cases[] = {
        {VMWDT_CLOCK_HOST, true, false, VMWDT_CLOCK_HOST},
        {VMWDT_CLOCK_MONOTONIC, false, true, VMWDT_CLOCK_MONOTONIC},
        {VMWDT_CLOCK_AUTO, true, false, VMWDT_CLOCK_HOST},
        {VMWDT_CLOCK_AUTO, false, false, VMWDT_CLOCK_MONOTONIC},
        {VMWDT_CLOCK_AUTO, false, true, VMWDT_CLOCK_THREAD_CPU},
        {VMWDT_CLOCK_THREAD_CPU, false, false, VMWDT_CLOCK_MONOTONIC},
        {VMWDT_CLOCK_THREAD_CPU, false, true, VMWDT_CLOCK_THREAD_CPU},
        {VMWDT_CLOCK_GUEST_TIME, false, true, VMWDT_CLOCK_GUEST_TIME},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct vmwdt_config cfg = {.size = sizeof cfg, .cpu_count = 1, .clock = cases[i].clock,
                                   .timers = VMWDT_TIMERS_EXTERNAL};
        struct vmwdt_host_ops ops = {.size = sizeof ops};
        struct vh *h = vh_new(1, VMWDT_ACTION_NONE, 0);
        if (cases[i].host_time)
            ops = vh_ops(h);
        vmwdt *dev = NULL;
        ck_assert_int_eq(vmwdt_create(&cfg, &ops, &dev), 0);
        if (cases[i].thread)
            ck_assert_int_eq(vmwdt_set_vcpu_thread(dev, 0, getpid(), test_gettid()), 0);
        ck_assert_msg(stats(dev, 0).clock == cases[i].want, "case %zu: clock %u", i,
                      stats(dev, 0).clock);
        ck_assert_uint_eq(stats(dev, VMWDT_ALL_CPUS).clock, cases[i].clock);
        vmwdt_destroy(dev);
        vh_free(h);
    }
}
END_TEST

static Suite *stats_suite(void)
{
    Suite *s = suite_create("abi_1_1_stats");
    TCase *tc = tcase_create("stats");
    tcase_add_test(tc, version_is_1_1);
    tcase_add_test(tc, bad_sizes_are_refused_untouched);
    tcase_add_test(tc, sizes_on_field_boundaries);
    tcase_add_test(tc, counters_per_vcpu_and_summed);
    tcase_add_test(tc, counters_kept_across_sleep_and_wake);
    tcase_add_test(tc, restored_device_counts_from_zero);
    tcase_add_test(tc, clock_resolved);
    suite_add_tcase(s, tc);
    return s;
}

VMWDT_SUITE_MAIN(stats_suite)
