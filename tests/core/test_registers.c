/*
 * The register table and the expiry rule of DESIGN.md section 2, row by row and sentence by
 * sentence, in virtual time through the public ABI.
 */
#include <check.h>
#include <stdint.h>

#include "vmwdt_test.h"
#include "vharness.h"

/* Host time starts away from 0 so that 0 is never mistaken for "unset". */
#define T0 VH_S(5)

/* After vmwdt_create every register of every vCPU reads 0 and nothing is armed. */
START_TEST(create_reads_zero)
{
    struct vh *h = vh_new(8, VMWDT_ACTION_IRQ_THEN_RESET, T0);

    for (uint32_t c = 0; c < 8; c++)
        for (uint32_t r = 0; r < 0x10; r += 4)
            ck_assert_uint_eq(vh_read(h, c, r), 0);
    ck_assert_int_eq(vmwdt_next_deadline_ns(h->dev), INT64_MAX);
    vh_advance_by(h, VH_S(3600));
    vh_expect_none(h);
    vh_free(h);
}
END_TEST

/* Exact interrupt and reset times t0 + n/f and t0 + 2n/f for assorted n and f. */
static const struct {
    uint32_t n, f;
} windows[] = {
    { 80, 10 },                 /* The Linux driver's defaults: 8 s. */
    { 1, 10 },                  /* crosvm's unit tests: 100 ms. */
    { 20, 100 },
    { 20, 2 },                  /* crosvm's aarch64 setup: 2 Hz, 10 s. */
    { 5, 2 },                   /* 2.5 s: not a whole second. */
    { 1, 3 },                   /* 333333333 ns: integer division. */
    { 3, 7 },                   /* 428571428 ns. */
    { 1, 1000000000 },          /* 1 ns. */
    { 7, 1000000007 },          /* 6 ns: truncated, not rounded. */
    { 1000, 1001 },             /* f above 1000 Hz is valid. */
    { 0xFFFFFFFFu, 0xFFFFFFFFu }, /* No overflow in n * 1e9: exactly 1 s. */
    { 0xFFFFFFFFu, 1000 },
};

START_TEST(exact_irq_and_reset_times)
{
    uint32_t n = windows[_i].n, f = windows[_i].f;
    int64_t w = WIN(n, f);
    struct vh *h = vh_new(2, VMWDT_ACTION_IRQ_THEN_RESET, T0);

    ck_assert_int_gt(w, 0);
    vh_advance_by(h, VH_MS(3));
    int64_t t0 = h->now;
    vh_start(h, 1, f, n);
    ck_assert_int_eq(vmwdt_next_deadline_ns(h->dev), t0 + w);
    if (w > 1) {
        vh_advance_to(h, t0 + w - 1);
        vh_expect_none(h);
    }
    vh_advance_to(h, t0 + w);
    vh_expect_counts(h, 1, 0);
    vh_expect_irq(h, 0, t0 + w, 1);
    ck_assert_uint_eq(vh_read(h, 1, VMWDT_REG_STATUS), 3);
    vh_advance_to(h, t0 + 2 * w - 1);
    vh_expect_counts(h, 1, 0);
    vh_advance_to(h, t0 + 2 * w);
    vh_expect_counts(h, 1, 1);
    vh_expect_reset(h, 0, t0 + 2 * w, 1);
    ck_assert_int_eq(h->run_due_fired, 2);
    /* After the reset the countdown stops until the next pet or enable. */
    ck_assert_int_eq(vmwdt_next_deadline_ns(h->dev), INT64_MAX);
    vh_advance_by(h, VH_S(3600));
    vh_expect_counts(h, 1, 1);
    vh_free(h);
}
END_TEST

/* A window of 0 ns expires at once: interrupt and reset in the same run, no busy loop. */
static const struct {
    uint32_t n, f;
} zero_windows[] = {
    { 0, 10 },
    { 0, 1 },
    { 1, 0xFFFFFFFFu },
    { 4, 0xFFFFFFFFu },
    { 1, 1000000001 },
};

START_TEST(zero_window_fires_at_once)
{
    uint32_t n = zero_windows[_i].n, f = zero_windows[_i].f;
    struct vh *h = vh_new(1, VMWDT_ACTION_IRQ_THEN_RESET, T0);

    ck_assert_int_eq(WIN(n, f), 0);
    vh_start(h, 0, f, n);
    ck_assert_int_eq(vmwdt_next_deadline_ns(h->dev), T0);
    ck_assert_int_eq(vh_run_at(h, T0), 2);
    vh_expect_counts(h, 1, 1);
    vh_expect_irq(h, 0, T0, 0);
    vh_expect_reset(h, 0, T0, 0);
    ck_assert_int_eq(vmwdt_next_deadline_ns(h->dev), INT64_MAX);
    ck_assert_uint_eq(vh_read(h, 0, VMWDT_REG_CURRENT_CNT), 0);
    ck_assert_uint_eq(vh_read(h, 0, VMWDT_REG_STATUS), 3);
    /* Every pet of 0 ticks starts the same again. */
    vh_advance_by(h, VH_MS(10));
    ck_assert_int_eq(vh_write(h, 0, VMWDT_REG_LOAD_CNT, n), 0);
    vh_advance_by(h, 0);
    vh_expect_counts(h, 2, 2);
    vh_expect_irq(h, 1, T0 + VH_MS(10), 0);
    vh_expect_reset(h, 1, T0 + VH_MS(10), 0);
    vh_advance_by(h, VH_S(10));
    vh_expect_counts(h, 2, 2);
    vh_free(h);
}
END_TEST

/* STATUS nonzero while enabled changes nothing: no new window, the raised state stays. */
START_TEST(status_nonzero_while_enabled_changes_nothing)
{
    struct vh *h = vh_new(1, VMWDT_ACTION_IRQ_THEN_RESET, T0);

    vh_start(h, 0, 10, 10);
    vh_advance_by(h, VH_MS(500));
    ck_assert_int_eq(vh_write(h, 0, VMWDT_REG_STATUS, 5), 0);
    ck_assert_uint_eq(vh_read(h, 0, VMWDT_REG_STATUS), 1);
    ck_assert_int_eq(vh_write(h, 0, VMWDT_REG_STATUS, 0xFFFFFFFFu), 0);
    ck_assert_uint_eq(vh_read(h, 0, VMWDT_REG_CURRENT_CNT), 5);
    vh_advance_to(h, T0 + VH_S(1));
    vh_expect_counts(h, 1, 0);
    vh_expect_irq(h, 0, T0 + VH_S(1), 0);
    /* In the second window too: the reset stays due at t0 + 2n/f and bit 1 stays set. */
    vh_advance_by(h, VH_MS(300));
    ck_assert_int_eq(vh_write(h, 0, VMWDT_REG_STATUS, 1), 0);
    ck_assert_uint_eq(vh_read(h, 0, VMWDT_REG_STATUS), 3);
    vh_advance_to(h, T0 + VH_S(2));
    vh_expect_counts(h, 1, 1);
    vh_expect_reset(h, 0, T0 + VH_S(2), 0);
    /* And after the reset: still stopped. */
    ck_assert_int_eq(vh_write(h, 0, VMWDT_REG_STATUS, 1), 0);
    vh_advance_by(h, VH_S(100));
    vh_expect_counts(h, 1, 1);
    vh_free(h);
}
END_TEST

/* Enabling (0 -> nonzero) starts a new window of the loaded count and clears the raised state. */
START_TEST(reenable_starts_fresh_window)
{
    struct vh *h = vh_new(1, VMWDT_ACTION_IRQ_THEN_RESET, T0);

    vh_start(h, 0, 10, 10);
    vh_advance_to(h, T0 + VH_S(1));
    vh_expect_counts(h, 1, 0);
    ck_assert_uint_eq(vh_read(h, 0, VMWDT_REG_STATUS), 3);
    vh_advance_by(h, VH_MS(200));
    ck_assert_int_eq(vh_write(h, 0, VMWDT_REG_STATUS, 0), 0);
    ck_assert_uint_eq(vh_read(h, 0, VMWDT_REG_STATUS), 2);
    vh_advance_to(h, T0 + VH_S(3));
    vh_expect_counts(h, 1, 0);
    ck_assert_int_eq(vh_write(h, 0, VMWDT_REG_STATUS, 1), 0);
    ck_assert_uint_eq(vh_read(h, 0, VMWDT_REG_STATUS), 1);
    ck_assert_uint_eq(vh_read(h, 0, VMWDT_REG_CURRENT_CNT), 10);
    vh_advance_to(h, T0 + VH_S(4) - 1);
    vh_expect_counts(h, 1, 0);
    vh_advance_to(h, T0 + VH_S(5));
    vh_expect_counts(h, 2, 1);
    vh_expect_irq(h, 1, T0 + VH_S(4), 0);
    vh_expect_reset(h, 0, T0 + VH_S(5), 0);
    /* Enable after the reset: a fresh window again, with the loaded count and the current f. */
    ck_assert_int_eq(vh_write(h, 0, VMWDT_REG_STATUS, 0), 0);
    ck_assert_int_eq(vh_write(h, 0, VMWDT_REG_CLOCK_FREQ_HZ, 100), 0);
    ck_assert_int_eq(vh_write(h, 0, VMWDT_REG_STATUS, 1), 0);
    vh_advance_by(h, VH_S(1));
    vh_expect_counts(h, 3, 2);
    vh_expect_irq(h, 2, T0 + VH_S(5) + VH_MS(100), 0);
    vh_expect_reset(h, 1, T0 + VH_S(5) + VH_MS(200), 0);
    vh_free(h);
}
END_TEST

/* Disable stops everything, in the first window, in the second, and after a pet. */
START_TEST(disable_stops_everything)
{
    struct vh *h = vh_new(3, VMWDT_ACTION_IRQ_THEN_RESET, T0);

    for (uint32_t c = 0; c < 3; c++)
        vh_start(h, c, 10, 10);
    vh_advance_by(h, VH_MS(500));
    ck_assert_int_eq(vh_write(h, 0, VMWDT_REG_STATUS, 0), 0);
    vh_advance_to(h, T0 + VH_S(1));
    vh_expect_counts(h, 2, 0);
    ck_assert_int_eq(vh_write(h, 1, VMWDT_REG_STATUS, 0), 0);
    ck_assert_int_eq(vh_write(h, 2, VMWDT_REG_LOAD_CNT, 10), 0);
    ck_assert_int_eq(vh_write(h, 2, VMWDT_REG_STATUS, 0), 0);
    vh_advance_by(h, VH_S(3600));
    vh_expect_counts(h, 2, 0);
    ck_assert_int_eq(h->run_due_fired, 2);
    for (uint32_t c = 0; c < 3; c++)
        ck_assert_uint_eq(vh_read(h, c, VMWDT_REG_CURRENT_CNT), 10);
    /* Bit 1 is cleared by a pet or an enable only: vCPU 1, disabled while raised, keeps it. */
    ck_assert_uint_eq(vh_read(h, 0, VMWDT_REG_STATUS), 0);
    ck_assert_uint_eq(vh_read(h, 1, VMWDT_REG_STATUS), 2);
    ck_assert_uint_eq(vh_read(h, 2, VMWDT_REG_STATUS), 0);
    /* A pet while disabled clears it, and arms nothing. */
    ck_assert_int_eq(vh_write(h, 1, VMWDT_REG_LOAD_CNT, 10), 0);
    ck_assert_uint_eq(vh_read(h, 1, VMWDT_REG_STATUS), 0);
    vh_advance_by(h, VH_S(100));
    vh_expect_counts(h, 2, 0);
    vh_free(h);
}
END_TEST

/*
 * vmwdt_next_deadline_ns is INT64_MAX when nothing is armed (abi/vmwdt.h): after a disable in
 * either window, after the final expiry, while asleep, and on a device never enabled.
 */
START_TEST(no_deadline_when_nothing_armed)
{
    struct vh *h = vh_new(2, VMWDT_ACTION_IRQ_THEN_RESET, T0);

    vh_start(h, 0, 10, 10);
    ck_assert_int_eq(vmwdt_next_deadline_ns(h->dev), T0 + VH_S(1));
    ck_assert_int_eq(vmwdt_sleep(h->dev), 0);
    ck_assert_int_eq(vmwdt_next_deadline_ns(h->dev), INT64_MAX);
    ck_assert_int_eq(vmwdt_wake(h->dev), 0);
    ck_assert_int_eq(vmwdt_next_deadline_ns(h->dev), T0 + VH_S(1));
    vh_advance_by(h, VH_MS(500));
    ck_assert_int_eq(vh_write(h, 0, VMWDT_REG_STATUS, 0), 0);
    ck_assert_msg(vmwdt_next_deadline_ns(h->dev) == INT64_MAX,
                  "disabled in the first window, next deadline %lld",
                  (long long)vmwdt_next_deadline_ns(h->dev));
    vh_start(h, 1, 10, 10);
    vh_advance_by(h, VH_MS(1500));
    vh_expect_counts(h, 1, 0);
    ck_assert_int_eq(vh_write(h, 1, VMWDT_REG_STATUS, 0), 0);
    ck_assert_msg(vmwdt_next_deadline_ns(h->dev) == INT64_MAX,
                  "disabled in the second window, next deadline %lld",
                  (long long)vmwdt_next_deadline_ns(h->dev));
    vh_free(h);
}
END_TEST

/* A LOAD_CNT write while disabled is stored but starts nothing; STATUS = 1 then uses it. */
START_TEST(load_while_disabled_is_stored)
{
    struct vh *h = vh_new(1, VMWDT_ACTION_IRQ_THEN_RESET, T0);

    ck_assert_int_eq(vh_write(h, 0, VMWDT_REG_CLOCK_FREQ_HZ, 10), 0);
    ck_assert_int_eq(vh_write(h, 0, VMWDT_REG_LOAD_CNT, 30), 0);
    ck_assert_int_eq(vmwdt_next_deadline_ns(h->dev), INT64_MAX);
    ck_assert_uint_eq(vh_read(h, 0, VMWDT_REG_LOAD_CNT), 30);
    ck_assert_uint_eq(vh_read(h, 0, VMWDT_REG_CURRENT_CNT), 30);
    ck_assert_uint_eq(vh_read(h, 0, VMWDT_REG_STATUS), 0);
    vh_advance_by(h, VH_S(100));
    vh_expect_none(h);
    ck_assert_int_eq(vh_write(h, 0, VMWDT_REG_STATUS, 1), 0);
    vh_advance_by(h, VH_S(10));
    vh_expect_counts(h, 1, 1);
    vh_expect_irq(h, 0, T0 + VH_S(103), 0);
    vh_expect_reset(h, 0, T0 + VH_S(106), 0);
    vh_free(h);
}
END_TEST

/* A pet after the interrupt clears it and prevents the reset; the next window runs from it. */
START_TEST(pet_after_irq_prevents_reset)
{
    struct vh *h = vh_new(1, VMWDT_ACTION_IRQ_THEN_RESET, T0);

    vh_start(h, 0, 10, 10);
    vh_advance_to(h, T0 + VH_MS(1500));
    vh_expect_counts(h, 1, 0);
    ck_assert_uint_eq(vh_read(h, 0, VMWDT_REG_STATUS), 3);
    ck_assert_int_eq(vh_write(h, 0, VMWDT_REG_LOAD_CNT, 10), 0);
    ck_assert_uint_eq(vh_read(h, 0, VMWDT_REG_STATUS), 1);
    ck_assert_uint_eq(vh_read(h, 0, VMWDT_REG_CURRENT_CNT), 10);
    vh_advance_to(h, T0 + VH_MS(2499));
    vh_expect_counts(h, 1, 0);
    vh_advance_to(h, T0 + VH_MS(3500));
    vh_expect_counts(h, 2, 1);
    vh_expect_irq(h, 1, T0 + VH_MS(2500), 0);
    vh_expect_reset(h, 0, T0 + VH_MS(3500), 0);
    vh_free(h);
}
END_TEST

/* Pets before every expiry: no event, ever. A pet's new count sets the new window. */
START_TEST(regular_pets_prevent_everything)
{
    struct vh *h = vh_new(1, VMWDT_ACTION_IRQ_THEN_RESET, T0);

    vh_start(h, 0, 10, 10);
    for (int i = 0; i < 1000; i++) {
        vh_advance_by(h, VH_MS(999));
        ck_assert_int_eq(vh_write(h, 0, VMWDT_REG_LOAD_CNT, 10), 0);
        /* The next deadline follows the pet exactly: the host is never woken for nothing. */
        ck_assert_int_eq(vmwdt_next_deadline_ns(h->dev), h->now + VH_S(1));
    }
    vh_expect_none(h);
    ck_assert_int_eq(h->run_due_calls, 0);
    /* A larger count makes a longer window. */
    int64_t t = h->now;
    ck_assert_int_eq(vh_write(h, 0, VMWDT_REG_LOAD_CNT, 35), 0);
    vh_advance_to(h, t + VH_MS(3499));
    vh_expect_none(h);
    vh_advance_to(h, t + VH_MS(3500));
    vh_expect_counts(h, 1, 0);
    vh_expect_irq(h, 0, t + VH_MS(3500), 0);
    vh_free(h);
}
END_TEST

/* LOAD_CNT and CLOCK_FREQ_HZ read back the last value written. */
START_TEST(registers_read_last_value)
{
    static const uint32_t vals[] = { 1, 2, 10, 80, 1000, 0x12345678, 0x80000000, 0xFFFFFFFF };
    struct vh *h = vh_new(2, VMWDT_ACTION_IRQ_THEN_RESET, T0);

    for (unsigned i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        ck_assert_int_eq(vh_write(h, 1, VMWDT_REG_CLOCK_FREQ_HZ, vals[i]), 0);
        ck_assert_uint_eq(vh_read(h, 1, VMWDT_REG_CLOCK_FREQ_HZ), vals[i]);
        ck_assert_int_eq(vh_write(h, 1, VMWDT_REG_LOAD_CNT, vals[i]), 0);
        ck_assert_uint_eq(vh_read(h, 1, VMWDT_REG_LOAD_CNT), vals[i]);
        /* Disabled: CURRENT_CNT reads the loaded count. */
        ck_assert_uint_eq(vh_read(h, 1, VMWDT_REG_CURRENT_CNT), vals[i]);
    }
    /* The other vCPU saw nothing of it. */
    for (uint32_t r = 0; r < 0x10; r += 4)
        ck_assert_uint_eq(vh_read(h, 0, r), 0);
    /* CLOCK_FREQ_HZ = 0 is a value like another (only enable and pet refuse it). */
    ck_assert_int_eq(vh_write(h, 1, VMWDT_REG_CLOCK_FREQ_HZ, 0), 0);
    ck_assert_uint_eq(vh_read(h, 1, VMWDT_REG_CLOCK_FREQ_HZ), 0);
    vh_expect_none(h);
    vh_free(h);
}
END_TEST

/* CLOCK_FREQ_HZ is the f for the next LOAD_CNT or enable: it does not move a running window. */
START_TEST(freq_applies_to_next_window)
{
    struct vh *h = vh_new(1, VMWDT_ACTION_IRQ_THEN_RESET, T0);

    vh_start(h, 0, 10, 10);
    vh_advance_by(h, VH_MS(200));
    ck_assert_int_eq(vh_write(h, 0, VMWDT_REG_CLOCK_FREQ_HZ, 100), 0);
    vh_advance_to(h, T0 + VH_S(1) - 1);
    vh_expect_none(h);
    vh_advance_to(h, T0 + VH_MS(1500));
    vh_expect_counts(h, 1, 0);
    vh_expect_irq(h, 0, T0 + VH_S(1), 0);
    ck_assert_int_eq(vh_write(h, 0, VMWDT_REG_LOAD_CNT, 10), 0);
    vh_advance_by(h, VH_S(1));
    vh_expect_counts(h, 2, 1);
    vh_expect_irq(h, 1, T0 + VH_MS(1600), 0);
    vh_expect_reset(h, 0, T0 + VH_MS(1700), 0);
    vh_free(h);
}
END_TEST

/* CURRENT_CNT: ticks left rounded up; 0 from the first expiry to the next pet; loaded count
 * while disabled. */
START_TEST(current_cnt_counts_down)
{
    struct vh *h = vh_new(1, VMWDT_ACTION_IRQ_THEN_RESET, T0);

    vh_start(h, 0, 10, 80);
    ck_assert_uint_eq(vh_read(h, 0, VMWDT_REG_CURRENT_CNT), 80);
    vh_advance_to(h, T0 + 1);
    ck_assert_uint_eq(vh_read(h, 0, VMWDT_REG_CURRENT_CNT), 80);
    vh_advance_to(h, T0 + VH_MS(99));
    ck_assert_uint_eq(vh_read(h, 0, VMWDT_REG_CURRENT_CNT), 80);
    vh_advance_to(h, T0 + VH_MS(100));
    ck_assert_uint_eq(vh_read(h, 0, VMWDT_REG_CURRENT_CNT), 79);
    vh_advance_to(h, T0 + VH_MS(100) + 1);
    ck_assert_uint_eq(vh_read(h, 0, VMWDT_REG_CURRENT_CNT), 79);
    vh_advance_to(h, T0 + VH_MS(4050));
    ck_assert_uint_eq(vh_read(h, 0, VMWDT_REG_CURRENT_CNT), 40);
    vh_advance_to(h, T0 + VH_MS(7900));
    ck_assert_uint_eq(vh_read(h, 0, VMWDT_REG_CURRENT_CNT), 1);
    vh_advance_to(h, T0 + VH_S(8) - 1);
    ck_assert_uint_eq(vh_read(h, 0, VMWDT_REG_CURRENT_CNT), 1);
    vh_expect_none(h);
    vh_advance_to(h, T0 + VH_S(8));
    vh_expect_counts(h, 1, 0);
    ck_assert_uint_eq(vh_read(h, 0, VMWDT_REG_CURRENT_CNT), 0);
    /* The second window counts towards the reset, but the register stays 0. */
    vh_advance_to(h, T0 + VH_S(12));
    ck_assert_uint_eq(vh_read(h, 0, VMWDT_REG_CURRENT_CNT), 0);
    vh_advance_to(h, T0 + VH_S(20));
    vh_expect_counts(h, 1, 1);
    ck_assert_uint_eq(vh_read(h, 0, VMWDT_REG_CURRENT_CNT), 0);
    /* A pet reloads it. */
    ck_assert_int_eq(vh_write(h, 0, VMWDT_REG_LOAD_CNT, 25), 0);
    ck_assert_uint_eq(vh_read(h, 0, VMWDT_REG_CURRENT_CNT), 25);
    vh_advance_by(h, VH_MS(250));
    ck_assert_uint_eq(vh_read(h, 0, VMWDT_REG_CURRENT_CNT), 23);
    /* Disabled: the loaded count, whatever the countdown did. */
    ck_assert_int_eq(vh_write(h, 0, VMWDT_REG_STATUS, 0), 0);
    ck_assert_uint_eq(vh_read(h, 0, VMWDT_REG_CURRENT_CNT), 25);
    vh_advance_by(h, VH_S(5));
    ck_assert_uint_eq(vh_read(h, 0, VMWDT_REG_CURRENT_CNT), 25);
    /* Enable: the loaded count again, then counting down. */
    ck_assert_int_eq(vh_write(h, 0, VMWDT_REG_STATUS, 1), 0);
    ck_assert_uint_eq(vh_read(h, 0, VMWDT_REG_CURRENT_CNT), 25);
    vh_advance_by(h, VH_MS(1001));
    ck_assert_uint_eq(vh_read(h, 0, VMWDT_REG_CURRENT_CNT), 15);
    vh_free(h);
}
END_TEST

/* CURRENT_CNT follows the guest clock: it does not move while the vCPU's clock is frozen. */
START_TEST(current_cnt_follows_guest_clock)
{
    struct vh *h = vh_new(2, VMWDT_ACTION_IRQ_THEN_RESET, T0);

    vh_start(h, 0, 100, 20);
    vh_start(h, 1, 100, 20);
    vh_advance_by(h, VH_MS(50));
    vh_guest_run(h, 0, false);
    vh_advance_by(h, VH_MS(100));
    ck_assert_uint_eq(vh_read(h, 0, VMWDT_REG_CURRENT_CNT), 15);
    ck_assert_uint_eq(vh_read(h, 1, VMWDT_REG_CURRENT_CNT), 5);
    vh_guest_run(h, 0, true);
    vh_advance_by(h, VH_MS(45));
    ck_assert_uint_eq(vh_read(h, 0, VMWDT_REG_CURRENT_CNT), 11);
    ck_assert_uint_eq(vh_read(h, 1, VMWDT_REG_CURRENT_CNT), 1);
    vh_free(h);
}
END_TEST

/* A frozen guest clock delays both the interrupt and the reset by the time it was frozen. */
START_TEST(frozen_clock_delays_both)
{
    struct vh *h = vh_new(2, VMWDT_ACTION_IRQ_THEN_RESET, T0);

    vh_start(h, 0, 10, 10);
    vh_start(h, 1, 10, 10);
    vh_advance_to(h, T0 + VH_MS(300));
    vh_guest_run(h, 0, false);
    /* Frozen across the original deadline: nothing for vCPU 0, however long. */
    vh_advance_to(h, T0 + VH_MS(2300));
    ck_assert_int_eq(vh_irqs_of(h, 0, NULL, 0), 0);
    vh_expect_counts(h, 1, 1);
    vh_expect_irq(h, 0, T0 + VH_S(1), 1);
    vh_expect_reset(h, 0, T0 + VH_S(2), 1);
    vh_guest_run(h, 0, true);
    vh_advance_to(h, T0 + VH_S(3) - 1);
    vh_expect_counts(h, 1, 1);
    vh_advance_to(h, T0 + VH_S(3));
    vh_expect_counts(h, 2, 1);
    vh_expect_irq(h, 1, T0 + VH_S(3), 0);
    /* Frozen in the second window: the reset moves by that time too. */
    vh_advance_to(h, T0 + VH_MS(3400));
    vh_guest_run(h, 0, false);
    vh_advance_to(h, T0 + VH_MS(8400));
    vh_expect_counts(h, 2, 1);
    vh_guest_run(h, 0, true);
    vh_advance_to(h, T0 + VH_S(9) - 1);
    vh_expect_counts(h, 2, 1);
    vh_advance_to(h, T0 + VH_S(9));
    vh_expect_counts(h, 2, 2);
    vh_expect_reset(h, 1, T0 + VH_S(9), 0);
    vh_free(h);
}
END_TEST

/* Several short freezes add up; a freeze before the enable does not count. */
START_TEST(frozen_clock_many_pauses)
{
    struct vh *h = vh_new(1, VMWDT_ACTION_IRQ_THEN_RESET, T0);

    vh_guest_run(h, 0, false);
    vh_start(h, 0, 1000, 1000);
    vh_advance_by(h, VH_S(7));
    vh_guest_run(h, 0, true);
    int64_t start = h->now, frozen = 0;
    /* Ten pauses of 37 ms each 50 ms of running: the interrupt comes 370 ms late. */
    for (int i = 0; i < 10; i++) {
        vh_advance_by(h, VH_MS(50));
        vh_guest_run(h, 0, false);
        vh_advance_by(h, VH_MS(37));
        frozen += VH_MS(37);
        vh_guest_run(h, 0, true);
    }
    vh_advance_by(h, VH_S(3));
    vh_expect_counts(h, 1, 1);
    vh_expect_irq(h, 0, start + VH_S(1) + frozen, 0);
    vh_expect_reset(h, 0, start + VH_S(2) + frozen, 0);
    vh_free(h);
}
END_TEST

/* IRQ_ONLY: one interrupt per stall, then the countdown stops until the next pet or enable. */
START_TEST(action_irq_only)
{
    struct vh *h = vh_new(1, VMWDT_ACTION_IRQ_ONLY, T0);

    vh_start(h, 0, 10, 10);
    vh_advance_by(h, VH_S(3600));
    vh_expect_counts(h, 1, 0);
    vh_expect_irq(h, 0, T0 + VH_S(1), 0);
    ck_assert_int_eq(h->run_due_fired, 1);
    ck_assert_uint_eq(vh_read(h, 0, VMWDT_REG_STATUS), 3);
    ck_assert_uint_eq(vh_read(h, 0, VMWDT_REG_CURRENT_CNT), 0);
    ck_assert_int_eq(vmwdt_next_deadline_ns(h->dev), INT64_MAX);
    int64_t t = h->now;
    ck_assert_int_eq(vh_write(h, 0, VMWDT_REG_LOAD_CNT, 10), 0);
    ck_assert_uint_eq(vh_read(h, 0, VMWDT_REG_STATUS), 1);
    vh_advance_by(h, VH_S(3600));
    vh_expect_counts(h, 2, 0);
    vh_expect_irq(h, 1, t + VH_S(1), 0);
    vh_free(h);
}
END_TEST

/* RESET: the first expiry requests a reset; no interrupt; the countdown stops. */
START_TEST(action_reset)
{
    struct vh *h = vh_new(2, VMWDT_ACTION_RESET, T0);

    vh_start(h, 1, 10, 10);
    vh_advance_by(h, VH_S(3600));
    vh_expect_counts(h, 0, 1);
    vh_expect_reset(h, 0, T0 + VH_S(1), 1);
    ck_assert_int_eq(h->run_due_fired, 1);
    ck_assert_uint_eq(vh_read(h, 1, VMWDT_REG_STATUS), 1);
    ck_assert_uint_eq(vh_read(h, 1, VMWDT_REG_CURRENT_CNT), 0);
    ck_assert_int_eq(vmwdt_next_deadline_ns(h->dev), INT64_MAX);
    int64_t t = h->now;
    ck_assert_int_eq(vh_write(h, 1, VMWDT_REG_LOAD_CNT, 10), 0);
    vh_advance_by(h, VH_S(3600));
    vh_expect_counts(h, 0, 2);
    vh_expect_reset(h, 1, t + VH_S(1), 1);
    vh_free(h);
}
END_TEST

/* NONE: no callback; the expiry is logged (and counted by run_due) and the countdown stops. */
START_TEST(action_none)
{
    struct vh *h = vh_new(1, VMWDT_ACTION_NONE, T0);

    vh_start(h, 0, 10, 10);
    int logs = h->nlog;
    vh_advance_to(h, T0 + VH_S(1) - 1);
    ck_assert_int_eq(h->run_due_fired, 0);
    vh_advance_to(h, T0 + VH_S(1));
    ck_assert_int_eq(h->run_due_fired, 1);
    ck_assert_int_gt(h->nlog, logs);
    vh_advance_by(h, VH_S(3600));
    ck_assert_int_eq(h->run_due_fired, 1);
    vh_expect_none(h);
    ck_assert_uint_eq(vh_read(h, 0, VMWDT_REG_STATUS), 1);
    ck_assert_uint_eq(vh_read(h, 0, VMWDT_REG_CURRENT_CNT), 0);
    ck_assert_int_eq(vmwdt_next_deadline_ns(h->dev), INT64_MAX);
    /* Enable after disable starts it again. */
    ck_assert_int_eq(vh_write(h, 0, VMWDT_REG_STATUS, 0), 0);
    ck_assert_int_eq(vh_write(h, 0, VMWDT_REG_STATUS, 1), 0);
    ck_assert_int_eq(vmwdt_next_deadline_ns(h->dev), h->now + VH_S(1));
    vh_advance_by(h, VH_S(2));
    ck_assert_int_eq(h->run_due_fired, 2);
    vh_expect_none(h);
    vh_free(h);
}
END_TEST

/* vCPUs expiring at the same time are all handled by one run, which counts them. */
START_TEST(simultaneous_expiries)
{
    struct vh *h = vh_new(16, VMWDT_ACTION_IRQ_THEN_RESET, T0);

    for (uint32_t c = 0; c < 16; c++)
        vh_start(h, c, 10, 20);
    ck_assert_int_eq(vmwdt_next_deadline_ns(h->dev), T0 + VH_S(2));
    ck_assert_int_eq(vh_run_at(h, T0 + VH_S(2)), 16);
    ck_assert_int_eq(vmwdt_next_deadline_ns(h->dev), T0 + VH_S(4));
    vh_expect_counts(h, 16, 0);
    for (uint32_t c = 0; c < 16; c++) {
        struct vh_event e;
        ck_assert_int_eq(vh_irqs_of(h, c, &e, 1), 1);
        ck_assert_int_eq(e.t, T0 + VH_S(2));
    }
    /* A late run handles everything due before it, each event once. */
    ck_assert_int_eq(vh_run_at(h, T0 + VH_S(50)), 16);
    ck_assert_int_eq(vh_run_at(h, T0 + VH_S(50)), 0);
    vh_expect_counts(h, 16, 16);
    ck_assert_int_eq(vmwdt_next_deadline_ns(h->dev), INT64_MAX);
    vh_free(h);
}
END_TEST

/* run_due before the deadline fires nothing; each vCPU's deadline is its own. */
START_TEST(staggered_deadlines)
{
    struct vh *h = vh_new(4, VMWDT_ACTION_IRQ_THEN_RESET, T0);

    for (uint32_t c = 0; c < 4; c++) {
        vh_start(h, c, 100, 10 * (c + 1));
        vh_advance_by(h, VH_MS(1));
    }
    ck_assert_int_eq(vh_run_at(h, T0 + VH_MS(100) - 1), 0);
    vh_advance_by(h, VH_S(2));
    vh_expect_counts(h, 4, 4);
    for (uint32_t c = 0; c < 4; c++) {
        struct vh_event e;
        int64_t w = VH_MS(100) * (c + 1);
        ck_assert_int_eq(vh_irqs_of(h, c, &e, 1), 1);
        ck_assert_int_eq(e.t, T0 + VH_MS(c) + w);
        ck_assert_int_eq(vh_resets_of(h, c, &e, 1), 1);
        ck_assert_int_eq(e.t, T0 + VH_MS(c) + 2 * w);
    }
    /* The events come in time order. */
    for (int i = 1; i < h->nirq; i++)
        ck_assert_int_le(h->irq[i - 1].t, h->irq[i].t);
    vh_free(h);
}
END_TEST

static Suite *registers_suite(void)
{
    Suite *s = suite_create("core_registers");
    TCase *tc = tcase_create("registers");

    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, create_reads_zero);
    tcase_add_loop_test(tc, exact_irq_and_reset_times, 0, sizeof(windows) / sizeof(windows[0]));
    tcase_add_loop_test(tc, zero_window_fires_at_once, 0,
                        sizeof(zero_windows) / sizeof(zero_windows[0]));
    tcase_add_test(tc, status_nonzero_while_enabled_changes_nothing);
    tcase_add_test(tc, reenable_starts_fresh_window);
    tcase_add_test(tc, disable_stops_everything);
    tcase_add_test(tc, no_deadline_when_nothing_armed);
    tcase_add_test(tc, load_while_disabled_is_stored);
    tcase_add_test(tc, pet_after_irq_prevents_reset);
    tcase_add_test(tc, regular_pets_prevent_everything);
    tcase_add_test(tc, registers_read_last_value);
    tcase_add_test(tc, freq_applies_to_next_window);
    tcase_add_test(tc, current_cnt_counts_down);
    tcase_add_test(tc, current_cnt_follows_guest_clock);
    tcase_add_test(tc, frozen_clock_delays_both);
    tcase_add_test(tc, frozen_clock_many_pauses);
    tcase_add_test(tc, action_irq_only);
    tcase_add_test(tc, action_reset);
    tcase_add_test(tc, action_none);
    tcase_add_test(tc, simultaneous_expiries);
    tcase_add_test(tc, staggered_deadlines);
    suite_add_tcase(s, tc);
    return s;
}

VMWDT_SUITE_MAIN(registers_suite)
