/*
 * The library against the reference model of DESIGN.md sections 2 and 4 (tests/common), in
 * virtual time: a seeded run of random pets, enables, disables, frequency changes, clock
 * pauses, late hosts, sleep, wake, snapshot and restore, every event checked to the nanosecond;
 * and the cases that the model once found, as plain regression tests.
 *
 * VMWDT_MODEL_OPS sets the number of random operations (the build sets it lower under
 * sanitizers), VMWDT_MODEL_SEED the seed.
 */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "vharness.h"
#include "vmwdt_test.h"
#include "wdt_mdrive.h"
#include "wdt_mgen.h"

#define OPS_PER_DEVICE 4000

static uint64_t env_u64(const char *name, uint64_t dflt)
{
    const char *s = getenv(name);
    return s != NULL && *s != '\0' ? strtoull(s, NULL, 0) : dflt;
}

START_TEST(random_operations_match_the_model)
{
    uint64_t total = env_u64("VMWDT_MODEL_OPS", 200000);
    struct mg g = {.s = env_u64("VMWDT_MODEL_SEED", 0x766d776474ULL) | 1};
    struct md_stats sum = {0};
    uint64_t devices = 0;

    for (uint64_t done = 0; done < total; devices++) {
        uint32_t cpus;
        int action;
        int64_t t0, origin[8];
        struct md d;

        mg_device(&g, &cpus, &action, &t0, origin);
        ck_assert_msg(md_init(&d, cpus, action, t0, origin) == 0, "%s", d.err);
        for (int i = 0; i < OPS_PER_DEVICE && done < total; i++, done++) {
            struct md_op op;
            mg_op(&g, cpus, &op);
            if (md_step(&d, &op) != 0)
                ck_abort_msg("device %" PRIu64 " (%u vCPUs, action %d), operation %d "
                             "(kind %u): %s", devices, cpus, action, i, op.kind, d.err);
        }
        sum.ops += d.stats.ops;
        sum.run_due_calls += d.stats.run_due_calls;
        sum.irqs += d.stats.irqs;
        sum.resets += d.stats.resets;
        sum.late += d.stats.late;
        md_fini(&d);
    }
    printf("model: %" PRIu64 " operations on %" PRIu64 " devices, %" PRIu64 " run_due calls, "
           "%" PRIu64 " interrupts, %" PRIu64 " resets, %" PRIu64 " told after their due time "
           "(late host or frozen clock)\n", sum.ops, devices, sum.run_due_calls, sum.irqs,
           sum.resets, sum.late);
    /* The run must reach the cases it is about. */
    ck_assert_uint_gt(sum.irqs, 1000);
    ck_assert_uint_gt(sum.resets, 1000);
    ck_assert_uint_gt(sum.late, 100);
}
END_TEST

/* Origins of the guest clocks in the regression tests below. */
#define T0 VH_S(100)

/*
 * The case the model found: f = 1000, LOAD_CNT = 10, enabled at 0, the guest clock frozen for
 * 1 ns at 5 ms. The interrupt is due at exactly 10,000,001 ns; nothing fires before it.
 */
START_TEST(one_ns_freeze_gives_the_exact_interrupt)
{
    struct vh *h = vh_new(1, VMWDT_ACTION_IRQ_THEN_RESET, T0);

    vh_start(h, 0, 1000, 10);
    vh_advance_to(h, T0 + VH_MS(5));
    vh_guest_run(h, 0, false);
    vh_advance_to(h, T0 + VH_MS(5) + 1);
    vh_guest_run(h, 0, true);
    vh_advance_to(h, T0 + VH_MS(10));
    vh_expect_none(h);
    ck_assert_int_le(vmwdt_next_deadline_ns(h->dev), T0 + VH_MS(10) + 1);
    vh_advance_to(h, T0 + VH_MS(30));
    vh_expect_irq(h, 0, T0 + VH_MS(10) + 1, 0);
    vh_expect_reset(h, 0, T0 + VH_MS(20) + 1, 0);
    vh_expect_counts(h, 1, 1);
    vh_free(h);
}
END_TEST

/*
 * The same, with a host that runs nothing between 10 ms and a pet at 10.3 ms (CURRENT_CNT
 * already reads 0): the pet does not erase the interrupt, which comes at the next run_due, and
 * the pet's own window then counts from 10.3 ms. With RESET and IRQ_ONLY the same.
 */
START_TEST(late_pet_does_not_erase_the_due_event)
{
    static const enum vmwdt_action actions[] = {VMWDT_ACTION_IRQ_THEN_RESET,
                                                VMWDT_ACTION_IRQ_ONLY, VMWDT_ACTION_RESET};

    for (unsigned a = 0; a < 3; a++) {
        struct vh *h = vh_new(1, actions[a], T0);
        bool resets = actions[a] == VMWDT_ACTION_RESET;

        vh_start(h, 0, 1000, 10);
        vh_advance_to(h, T0 + VH_MS(5));
        vh_guest_run(h, 0, false);
        vh_advance_to(h, T0 + VH_MS(5) + 1);
        vh_guest_run(h, 0, true);
        vh_advance_to(h, T0 + VH_MS(10));
        /* The host is late: time moves on with no run_due. */
        h->now = T0 + VH_MS(10) + 300000;
        ck_assert_uint_eq(vh_read(h, 0, VMWDT_REG_CURRENT_CNT), 0);
        ck_assert_uint_eq(vh_read(h, 0, VMWDT_REG_STATUS), resets ? 1 : 3);
        ck_assert_int_eq(vh_write(h, 0, VMWDT_REG_LOAD_CNT, 10), 0);
        ck_assert_uint_eq(vh_read(h, 0, VMWDT_REG_STATUS), 1);
        ck_assert_int_le(vmwdt_next_deadline_ns(h->dev), h->now);
        vh_advance_to(h, h->now);
        if (resets)
            vh_expect_reset(h, 0, T0 + VH_MS(10) + 300000, 0);
        else
            vh_expect_irq(h, 0, T0 + VH_MS(10) + 300000, 0);
        vh_expect_counts(h, resets ? 0 : 1, resets ? 1 : 0);
        /* The pet's window: 10 ms from 10.3 ms. */
        vh_advance_to(h, T0 + VH_MS(20) + 299999);
        vh_expect_counts(h, resets ? 0 : 1, resets ? 1 : 0);
        vh_advance_to(h, T0 + VH_MS(20) + 300000);
        vh_expect_counts(h, resets ? 0 : 2, resets ? 2 : 0);
        vh_free(h);
    }
}
END_TEST

/* A disable that comes after the window ended in guest time keeps its interrupt too. */
START_TEST(late_disable_keeps_the_due_event)
{
    struct vh *h = vh_new(2, VMWDT_ACTION_IRQ_ONLY, T0);

    vh_start(h, 1, 1000, 10);
    h->now = T0 + VH_MS(12);
    ck_assert_int_eq(vh_write(h, 1, VMWDT_REG_STATUS, 0), 0);
    vh_advance_to(h, T0 + VH_MS(12));
    vh_expect_irq(h, 0, T0 + VH_MS(12), 1);
    vh_expect_counts(h, 1, 0);
    ck_assert_uint_eq(vh_read(h, 1, VMWDT_REG_STATUS), 2);
    vh_free(h);
}
END_TEST

/*
 * The only allowance: a clock that froze within the last millisecond of its window. Frozen at
 * 9.5 ms for 2 ms, the interrupt is due at 12 ms and may be checked up to 1 ms later, no more.
 */
START_TEST(freeze_in_the_last_millisecond_is_at_most_1ms_late)
{
    struct vh *h = vh_new(1, VMWDT_ACTION_IRQ_THEN_RESET, T0);
    struct vh_event ev;

    vh_start(h, 0, 1000, 10);
    vh_advance_to(h, T0 + VH_MS(9) + 500000);
    vh_guest_run(h, 0, false);
    vh_advance_to(h, T0 + VH_MS(11) + 500000);
    vh_guest_run(h, 0, true);
    vh_advance_to(h, T0 + VH_MS(40));
    vh_expect_counts(h, 1, 1);
    ck_assert_int_eq(vh_irqs_of(h, 0, &ev, 1), 1);
    ck_assert_int_ge(ev.t, T0 + VH_MS(12));
    ck_assert_int_le(ev.t, T0 + VH_MS(13));
    /* The reset counts from the interrupt's due time in guest time, exactly. */
    vh_expect_reset(h, 0, T0 + VH_MS(22), 0);
    /* No spinning while frozen: a handful of run_due calls, not one per nanosecond. */
    ck_assert_int_lt(h->run_due_calls, 20);
    vh_free(h);
}
END_TEST

/* A HOST clock whose readings are negative counts from its first reading like any other. */
START_TEST(negative_host_clock_counts)
{
    struct vmwdt_config cfg = {
        .size = sizeof(cfg), .cpu_count = 1, .clock = VMWDT_CLOCK_HOST,
        .action = VMWDT_ACTION_IRQ_THEN_RESET, .timers = VMWDT_TIMERS_EXTERNAL,
    };
    struct vh *h;

    ck_assert_int_eq(vh_new_cfg(&h, &cfg, -VH_S(50)), 0);
    h->guest_base[0] = -VH_S(3);
    vh_start(h, 0, 1000, 10);
    ck_assert_int_eq(vmwdt_next_deadline_ns(h->dev), -VH_S(50) + VH_MS(10));
    vh_advance_to(h, -VH_S(50) + VH_MS(5));
    ck_assert_uint_eq(vh_read(h, 0, VMWDT_REG_CURRENT_CNT), 5);
    vh_advance_to(h, -VH_S(50) + VH_MS(25));
    vh_expect_irq(h, 0, -VH_S(50) + VH_MS(10), 0);
    vh_expect_reset(h, 0, -VH_S(50) + VH_MS(20), 0);
    vh_free(h);
}
END_TEST

static Suite *model_suite(void)
{
    Suite *s = suite_create("core_model");
    TCase *tc = tcase_create("model");

    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, one_ns_freeze_gives_the_exact_interrupt);
    tcase_add_test(tc, late_pet_does_not_erase_the_due_event);
    tcase_add_test(tc, late_disable_keeps_the_due_event);
    tcase_add_test(tc, freeze_in_the_last_millisecond_is_at_most_1ms_late);
    tcase_add_test(tc, negative_host_clock_counts);
    tcase_add_test(tc, random_operations_match_the_model);
    suite_add_tcase(s, tc);
    return s;
}

VMWDT_SUITE_MAIN(model_suite)
