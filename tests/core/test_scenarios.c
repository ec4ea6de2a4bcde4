/*
 * Whole scenarios in virtual time: crosvm's two unit tests restated against the C API, the
 * Linux guest driver's sequence over a long run, and sleep / wake.
 */
#include <check.h>
#include <stdint.h>

#include "vmwdt_test.h"
#include "vharness.h"

#define T0 VH_S(1)

/*
 * crosvm test_watchdog_internal_timer: one vCPU, CLOCK_FREQ_HZ = 10, LOAD_CNT = 1, STATUS = 1;
 * the internal timer must expire. Here: exactly 100 ms of guest time later, and the registers
 * show it (CURRENT_CNT 0, STATUS bit 1).
 */
START_TEST(crosvm_internal_timer)
{
    struct vh *h = vh_new(1, VMWDT_ACTION_IRQ_THEN_RESET, T0);

    vh_start(h, 0, 10, 1);
    ck_assert_int_eq(vmwdt_next_deadline_ns(h->dev), T0 + VH_MS(100));
    ck_assert_uint_eq(vh_read(h, 0, VMWDT_REG_CURRENT_CNT), 1);
    vh_advance_to(h, T0 + VH_MS(99));
    vh_expect_none(h);
    vh_advance_to(h, T0 + VH_MS(100));
    vh_expect_counts(h, 1, 0);
    vh_expect_irq(h, 0, T0 + VH_MS(100), 0);
    ck_assert_uint_eq(vh_read(h, 0, VMWDT_REG_CURRENT_CNT), 0);
    ck_assert_uint_eq(vh_read(h, 0, VMWDT_REG_STATUS), 3);
    /* The timer re-armed for the second window. */
    ck_assert_int_eq(vmwdt_next_deadline_ns(h->dev), T0 + VH_MS(200));
    vh_free(h);
}
END_TEST

/*
 * crosvm test_watchdog_expiration: same setup; the interrupt is raised, then, a window later,
 * the VM reset is requested. crosvm's test fakes the passing of guest time by moving its last
 * reading back; here the guest clock simply runs.
 */
START_TEST(crosvm_expiration)
{
    struct vh *h = vh_new(1, VMWDT_ACTION_IRQ_THEN_RESET, T0);

    vh_start(h, 0, 10, 1);
    vh_advance_to(h, T0 + VH_MS(150));
    vh_expect_counts(h, 1, 0);
    vh_expect_irq(h, 0, T0 + VH_MS(100), 0);
    vh_advance_to(h, T0 + VH_S(1));
    vh_expect_counts(h, 1, 1);
    vh_expect_reset(h, 0, T0 + VH_MS(200), 0);
    vh_free(h);
}
END_TEST

/*
 * crosvm's fixed bug: after a one-shot expiry it never re-armed, so the reset could be lost
 * when the guest clock had not advanced enough at the first check. Here the guest clock is
 * frozen across both deadlines and the reset still comes, exactly a window of guest time
 * after the interrupt.
 */
START_TEST(reset_not_lost_after_late_check)
{
    struct vh *h = vh_new(1, VMWDT_ACTION_IRQ_THEN_RESET, T0);

    vh_start(h, 0, 10, 1);
    vh_advance_to(h, T0 + VH_MS(100));
    vh_expect_counts(h, 1, 0);
    vh_guest_run(h, 0, false);
    vh_advance_by(h, VH_S(60));
    vh_expect_counts(h, 1, 0);
    vh_guest_run(h, 0, true);
    vh_advance_by(h, VH_S(1));
    vh_expect_counts(h, 1, 1);
    vh_expect_reset(h, 0, T0 + VH_MS(200) + VH_S(60), 0);
    vh_free(h);
}
END_TEST

/* The Linux driver on cpu: CLOCK_FREQ_HZ = 10, LOAD_CNT = 80, STATUS = 1 (8 s timeout). */
static void linux_online(struct vh *h, uint32_t cpu)
{
    vh_start(h, cpu, 10, 80);
}

/* Its hrtimer: the same LOAD_CNT every timeout / 2. */
static void linux_pet(struct vh *h, uint32_t cpu)
{
    ck_assert_int_eq(vh_write(h, cpu, VMWDT_REG_LOAD_CNT, 80), 0);
}

/*
 * Four vCPUs run the driver for a virtual hour: never an event. Then vCPU 2 stalls (its clock
 * runs, it no longer pets): it alone gets the interrupt 8 s after its last pet and the reset
 * 8 s later, while the others go on petting without an event.
 */
START_TEST(linux_driver_hour)
{
    struct vh *h = vh_new(4, VMWDT_ACTION_IRQ_THEN_RESET, T0);
    int64_t next_pet[4], last_pet[4];

    for (uint32_t c = 0; c < 4; c++) {
        /* CPUs come online 250 ms apart, so their timers are not in step. */
        vh_advance_to(h, T0 + VH_MS(250) * c);
        linux_online(h, c);
        last_pet[c] = h->now;
        next_pet[c] = h->now + VH_S(4);
    }
    const int64_t stall_at = T0 + VH_S(3600);
    const int64_t end = stall_at + VH_S(60);
    for (;;) {
        uint32_t c = 0;
        for (uint32_t i = 1; i < 4; i++)
            if (next_pet[i] < next_pet[c])
                c = i;
        if (next_pet[c] > end)
            break;
        vh_advance_to(h, next_pet[c]);
        if (c == 2 && h->now >= stall_at) {
            next_pet[c] = INT64_MAX;
            continue;
        }
        linux_pet(h, c);
        last_pet[c] = h->now;
        next_pet[c] += VH_S(4);
        if (h->now < stall_at) {
            vh_expect_none(h);
            ck_assert_uint_eq(vh_read(h, c, VMWDT_REG_STATUS), 1);
        }
    }
    vh_advance_to(h, end);
    vh_expect_counts(h, 1, 1);
    vh_expect_irq(h, 0, last_pet[2] + VH_S(8), 2);
    vh_expect_reset(h, 0, last_pet[2] + VH_S(16), 2);
    ck_assert_int_lt(last_pet[2], stall_at);
    ck_assert_int_ge(last_pet[2], stall_at - VH_S(4));
    /* CPU offline: STATUS = 0; nothing more from any vCPU. */
    for (uint32_t c = 0; c < 4; c++)
        ck_assert_int_eq(vh_write(h, c, VMWDT_REG_STATUS, 0), 0);
    vh_advance_by(h, VH_S(3600));
    vh_expect_counts(h, 1, 1);
    vh_free(h);
}
END_TEST

/*
 * The reason for guest time: a vCPU that does not run (overloaded host, paused VM) misses its
 * pets without being reported. vCPU 3 is descheduled for ten minutes between two pets; the
 * others keep running and petting. Nobody gets an event.
 */
START_TEST(linux_driver_descheduled_vcpu)
{
    struct vh *h = vh_new(4, VMWDT_ACTION_IRQ_THEN_RESET, T0);

    for (uint32_t c = 0; c < 4; c++)
        linux_online(h, c);
    for (int i = 0; i < 450; i++) {
        vh_advance_by(h, VH_S(4));
        if (i == 10)
            vh_guest_run(h, 3, false);
        if (i == 160)
            vh_guest_run(h, 3, true);
        for (uint32_t c = 0; c < 4; c++)
            if (c != 3 || i < 10 || i >= 160)
                linux_pet(h, c);
    }
    vh_expect_none(h);
    /* The whole VM paused for an hour: nothing either, and the budgets are intact after. */
    for (uint32_t c = 0; c < 4; c++)
        vh_guest_run(h, c, false);
    vh_advance_by(h, VH_S(3600));
    for (uint32_t c = 0; c < 4; c++)
        vh_guest_run(h, c, true);
    int64_t resumed = h->now;
    vh_advance_by(h, VH_S(8) - 1);
    vh_expect_none(h);
    vh_advance_by(h, 1);
    vh_expect_counts(h, 4, 0);
    for (uint32_t c = 0; c < 4; c++) {
        struct vh_event e;
        ck_assert_int_eq(vh_irqs_of(h, c, &e, 1), 1);
        ck_assert_int_eq(e.t, resumed + VH_S(8));
    }
    vh_free(h);
}
END_TEST

/* Sleep stops every countdown and keeps the budget; wake resumes it. Both are idempotent. */
START_TEST(sleep_keeps_budget)
{
    struct vh *h = vh_new(2, VMWDT_ACTION_IRQ_THEN_RESET, T0);

    vh_start(h, 0, 10, 10);
    vh_advance_to(h, T0 + VH_MS(300));
    ck_assert_int_eq(vmwdt_sleep(h->dev), 0);
    ck_assert_int_eq(vmwdt_sleep(h->dev), 0);
    ck_assert_int_eq(vmwdt_next_deadline_ns(h->dev), INT64_MAX);
    /* A host that calls run_due anyway, long past the deadline, gets nothing while asleep. */
    ck_assert_int_eq(vh_run_at(h, T0 + VH_S(5)), 0);
    vh_advance_to(h, T0 + VH_S(10));
    vh_expect_none(h);
    ck_assert_uint_eq(vh_read(h, 0, VMWDT_REG_STATUS), 1);
    ck_assert_int_eq(vmwdt_wake(h->dev), 0);
    ck_assert_int_eq(vmwdt_wake(h->dev), 0);
    ck_assert_int_eq(vmwdt_next_deadline_ns(h->dev), T0 + VH_MS(10700));
    vh_advance_to(h, T0 + VH_MS(10700));
    vh_expect_counts(h, 1, 0);
    vh_expect_irq(h, 0, T0 + VH_MS(10700), 0);
    /* Asleep in the second window: the reset keeps its remaining budget too. */
    vh_advance_to(h, T0 + VH_MS(11000));
    ck_assert_int_eq(vmwdt_sleep(h->dev), 0);
    vh_advance_to(h, T0 + VH_S(20));
    vh_expect_counts(h, 1, 0);
    ck_assert_int_eq(vmwdt_wake(h->dev), 0);
    vh_advance_to(h, T0 + VH_S(30));
    vh_expect_counts(h, 1, 1);
    vh_expect_reset(h, 0, T0 + VH_MS(20700), 0);
    ck_assert_int_eq(h->nirq + h->nreset, 2);
    vh_free(h);
}
END_TEST

/* Guest writes while asleep are applied; their windows start counting at wake. */
START_TEST(writes_while_asleep)
{
    struct vh *h = vh_new(3, VMWDT_ACTION_IRQ_THEN_RESET, T0);

    vh_start(h, 0, 10, 10);
    vh_start(h, 2, 10, 10);
    ck_assert_int_eq(vmwdt_sleep(h->dev), 0);
    vh_advance_by(h, VH_S(2));
    /* vCPU 0 pets, vCPU 1 enables, vCPU 2 disables, all while asleep. */
    ck_assert_int_eq(vh_write(h, 0, VMWDT_REG_LOAD_CNT, 30), 0);
    vh_start(h, 1, 100, 50);
    ck_assert_int_eq(vh_write(h, 2, VMWDT_REG_STATUS, 0), 0);
    ck_assert_uint_eq(vh_read(h, 0, VMWDT_REG_LOAD_CNT), 30);
    ck_assert_uint_eq(vh_read(h, 1, VMWDT_REG_STATUS), 1);
    ck_assert_int_eq(vmwdt_next_deadline_ns(h->dev), INT64_MAX);
    vh_advance_by(h, VH_S(5));
    vh_expect_none(h);
    int64_t woke = h->now;
    ck_assert_int_eq(vmwdt_wake(h->dev), 0);
    vh_advance_by(h, VH_S(10));
    vh_expect_counts(h, 2, 2);
    vh_expect_irq(h, 0, woke + VH_MS(500), 1);
    vh_expect_reset(h, 0, woke + VH_S(1), 1);
    vh_expect_irq(h, 1, woke + VH_S(3), 0);
    vh_expect_reset(h, 1, woke + VH_S(6), 0);
    vh_free(h);
}
END_TEST

/* A pet at every expiry instant: the run at that time fires first (the replayer's order). */
START_TEST(pet_at_deadline_after_run)
{
    struct vh *h = vh_new(1, VMWDT_ACTION_IRQ_THEN_RESET, T0);

    vh_start(h, 0, 10, 10);
    vh_advance_to(h, T0 + VH_S(1));
    vh_expect_counts(h, 1, 0);
    ck_assert_int_eq(vh_write(h, 0, VMWDT_REG_LOAD_CNT, 10), 0);
    vh_advance_to(h, T0 + VH_S(2));
    vh_expect_counts(h, 2, 0);
    vh_expect_irq(h, 1, T0 + VH_S(2), 0);
    vh_free(h);
}
END_TEST

/*
 * A snapshot taken in the second window (interrupt raised, reset pending) restored into a
 * device of another action: the window's end does what that action allows, so NONE and
 * IRQ_ONLY devices never call request_reset.
 */
static const enum vmwdt_action second_window_dest[] = {
    VMWDT_ACTION_IRQ_THEN_RESET, VMWDT_ACTION_IRQ_ONLY, VMWDT_ACTION_RESET, VMWDT_ACTION_NONE,
};

START_TEST(second_window_restored_under_each_action)
{
    enum vmwdt_action action = second_window_dest[_i];
    struct vh *src = vh_new(1, VMWDT_ACTION_IRQ_THEN_RESET, T0);
    char *doc = NULL;

    vh_start(src, 0, 10, 10);
    vh_advance_by(src, VH_MS(1500));
    vh_expect_counts(src, 1, 0);
    ck_assert_int_eq(vmwdt_sleep(src->dev), 0);
    ck_assert_int_eq(vmwdt_snapshot_json(src->dev, &doc), 0);

    struct vh *dst = vh_new(1, action, T0);
    ck_assert_int_eq(vmwdt_restore_json(dst->dev, doc), 0);
    ck_assert_int_eq(vmwdt_wake(dst->dev), 0);
    int64_t woke = dst->now;
    vh_advance_by(dst, VH_S(2));
    bool resets = action == VMWDT_ACTION_IRQ_THEN_RESET || action == VMWDT_ACTION_RESET;
    vh_expect_counts(dst, 0, resets ? 1 : 0);
    if (resets)
        vh_expect_reset(dst, 0, woke + VH_MS(500), 0);
    /* Either way the countdown stopped, and the raised interrupt is still reported. */
    ck_assert_uint_eq(vh_read(dst, 0, VMWDT_REG_STATUS), 3);
    ck_assert_int_eq(vmwdt_next_deadline_ns(dst->dev), INT64_MAX);
    vmwdt_free(doc);
    vh_free(dst);
    vh_free(src);
}
END_TEST

static Suite *scenarios_suite(void)
{
    Suite *s = suite_create("core_scenarios");
    TCase *tc = tcase_create("scenarios");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, crosvm_internal_timer);
    tcase_add_test(tc, crosvm_expiration);
    tcase_add_test(tc, reset_not_lost_after_late_check);
    tcase_add_test(tc, linux_driver_hour);
    tcase_add_test(tc, linux_driver_descheduled_vcpu);
    tcase_add_test(tc, sleep_keeps_budget);
    tcase_add_test(tc, writes_while_asleep);
    tcase_add_test(tc, pet_at_deadline_after_run);
    tcase_add_loop_test(tc, second_window_restored_under_each_action, 0, 4);
    suite_add_tcase(s, tc);
    return s;
}

VMWDT_SUITE_MAIN(scenarios_suite)
