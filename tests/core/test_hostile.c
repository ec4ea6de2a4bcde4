/*
 * A hostile guest: every access the device must refuse, and the values that broke crosvm.
 * Each refused access must return -EINVAL, zero-fill a read buffer, change nothing (every
 * register and the next deadline compare equal before and after) and raise no event anywhere.
 */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vmwdt_test.h"
#include "vharness.h"

#define T0 VH_S(2)
#define NCPU 4

/* Everything a guest or host could observe of the device. */
struct observed {
    uint32_t regs[NCPU * 4];
    int64_t deadline;
    int nirq, nreset;
};

static void observe(struct vh *h, struct observed *o)
{
    vh_dump_regs(h, o->regs);
    o->deadline = vmwdt_next_deadline_ns(h->dev);
    o->nirq = h->nirq;
    o->nreset = h->nreset;
}

static void expect_unchanged(struct vh *h, const struct observed *before, const char *what)
{
    struct observed now;

    observe(h, &now);
    for (int i = 0; i < NCPU * 4; i++)
        ck_assert_msg(now.regs[i] == before->regs[i],
                      "%s changed cpu %d reg 0x%x: 0x%x -> 0x%x", what, i / 4, (i % 4) * 4,
                      before->regs[i], now.regs[i]);
    ck_assert_msg(now.deadline == before->deadline, "%s moved the deadline", what);
    ck_assert_msg(now.nirq == before->nirq && now.nreset == before->nreset,
                  "%s raised an event", what);
}

/*
 * A device in every interesting state: vCPU 0 counting its first window, vCPU 1 raised and
 * counting towards the reset, vCPU 2 configured but disabled, vCPU 3 untouched.
 */
static struct vh *busy_device(void)
{
    struct vh *h = vh_new(NCPU, VMWDT_ACTION_IRQ_THEN_RESET, T0);

    vh_start(h, 1, 100, 50);
    vh_advance_by(h, VH_MS(600));
    vh_start(h, 0, 10, 10);
    ck_assert_int_eq(vh_write(h, 2, VMWDT_REG_CLOCK_FREQ_HZ, 7), 0);
    ck_assert_int_eq(vh_write(h, 2, VMWDT_REG_LOAD_CNT, 3), 0);
    vh_advance_by(h, VH_MS(100));
    vh_expect_counts(h, 1, 0);
    ck_assert_uint_eq(vh_read(h, 1, VMWDT_REG_STATUS), 3);
    return h;
}

/* After the hostile part, the legitimate vCPUs must still meet their exact times. */
static void expect_busy_device_outcome(struct vh *h)
{
    vh_advance_by(h, VH_S(3));
    vh_expect_counts(h, 2, 2);
    vh_expect_irq(h, 0, T0 + VH_MS(500), 1);
    vh_expect_reset(h, 0, T0 + VH_S(1), 1);
    vh_expect_irq(h, 1, T0 + VH_MS(1600), 0);
    vh_expect_reset(h, 1, T0 + VH_MS(2600), 0);
}

static void refused_write(struct vh *h, uint64_t off, uint32_t len)
{
    uint8_t buf[16];
    struct observed before;

    /* A count of 1 at any register would do something if it were accepted. */
    memset(buf, 0, sizeof(buf));
    buf[0] = 1;
    observe(h, &before);
    int rc = vmwdt_mmio_write(h->dev, off, buf, len);
    ck_assert_msg(rc == -EINVAL, "write at 0x%llx len %u: %d, expected -EINVAL",
                  (unsigned long long)off, len, rc);
    expect_unchanged(h, &before, "a refused write");
}

static void refused_read(struct vh *h, uint64_t off, uint32_t len)
{
    uint8_t buf[16];
    struct observed before;

    ck_assert_uint_le(len, sizeof(buf));
    memset(buf, 0xa5, sizeof(buf));
    observe(h, &before);
    int rc = vmwdt_mmio_read(h->dev, off, buf, len);
    ck_assert_msg(rc == -EINVAL, "read at 0x%llx len %u: %d, expected -EINVAL",
                  (unsigned long long)off, len, rc);
    for (uint32_t i = 0; i < len; i++)
        ck_assert_msg(buf[i] == 0, "refused read left byte %u = 0x%x", i, buf[i]);
    for (uint32_t i = len; i < sizeof(buf); i++)
        ck_assert_msg(buf[i] == 0xa5, "refused read of %u bytes wrote byte %u", len, i);
    expect_unchanged(h, &before, "a refused read");
}

static void refused_both(struct vh *h, uint64_t off, uint32_t len)
{
    refused_write(h, off, len);
    refused_read(h, off, len);
}

/* cpu == cpu_count (crosvm panics there) and far beyond, at every register. */
START_TEST(cpu_index_out_of_range)
{
    static const uint64_t cpus[] = { NCPU, NCPU + 1, 255, 4095, 4096, 4097, 1u << 20,
                                     UINT32_MAX, 1ull << 59, UINT64_MAX / 16 };
    struct vh *h = busy_device();

    for (unsigned i = 0; i < sizeof(cpus) / sizeof(cpus[0]); i++)
        for (uint64_t r = 0; r < 0x10; r += 4)
            refused_both(h, cpus[i] * VMWDT_REG_STRIDE + r, 4);
    /* Offsets that overflow when the length is added. */
    for (uint64_t off = UINT64_MAX - 8; off != 0; off++)
        refused_both(h, off, 4);
    refused_both(h, 1ull << 63, 4);
    refused_both(h, 0x1000, 4);
    expect_busy_device_outcome(h);
    vh_free(h);
}
END_TEST

/* A one-vCPU device: offset 0x10 belongs to nobody. */
START_TEST(single_cpu_offset_0x10)
{
    struct vh *h = vh_new(1, VMWDT_ACTION_IRQ_THEN_RESET, T0);
    uint32_t v = 0xdeadbeef;
    uint8_t b[4] = { 1, 0, 0, 0 };

    ck_assert_int_eq(vmwdt_mmio_write(h->dev, 0x10, b, 4), -EINVAL);
    ck_assert_int_eq(vmwdt_mmio_read(h->dev, 0x10, &v, 4), -EINVAL);
    ck_assert_uint_eq(v, 0);
    for (uint32_t r = 0; r < 0x10; r += 4)
        ck_assert_uint_eq(vh_read(h, 0, r), 0);
    vh_free(h);
}
END_TEST

/* Every offset from the end of the last vCPU to 0x40 past it, with every length. */
START_TEST(offsets_past_the_end)
{
    struct vh *h = busy_device();
    const uint64_t end = (uint64_t)NCPU * VMWDT_REG_STRIDE;

    for (uint64_t off = end; off <= end + 0x40; off++)
        for (uint32_t len = 0; len <= 8; len++)
            refused_both(h, off, len);
    expect_busy_device_outcome(h);
    vh_free(h);
}
END_TEST

/* Every misaligned offset inside the device (crosvm panics on 0x1). */
START_TEST(misaligned_offsets)
{
    struct vh *h = busy_device();

    for (uint64_t off = 0; off < (uint64_t)NCPU * VMWDT_REG_STRIDE; off++) {
        if (off % 4 == 0)
            continue;
        for (uint32_t len = 1; len <= 8; len++)
            refused_both(h, off, len);
    }
    expect_busy_device_outcome(h);
    vh_free(h);
}
END_TEST

/* Lengths other than 4 at every aligned register, including those that would be harmless. */
START_TEST(bad_lengths)
{
    static const uint32_t lens[] = { 0, 1, 2, 3, 5, 6, 7, 8, 12, 16 };
    struct vh *h = busy_device();

    for (uint64_t off = 0; off < (uint64_t)NCPU * VMWDT_REG_STRIDE; off += 4)
        for (unsigned i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
            refused_both(h, off, lens[i]);
    expect_busy_device_outcome(h);
    vh_free(h);
}
END_TEST

/* NULL data is refused, whatever the length. */
START_TEST(null_data)
{
    struct vh *h = busy_device();
    struct observed before;

    observe(h, &before);
    for (uint32_t len = 0; len <= 8; len++) {
        ck_assert_int_eq(vmwdt_mmio_write(h->dev, 0, NULL, len), -EINVAL);
        ck_assert_int_eq(vmwdt_mmio_read(h->dev, 0, NULL, len), -EINVAL);
        ck_assert_int_eq(vmwdt_mmio_write(h->dev, 0x14, NULL, len), -EINVAL);
        ck_assert_int_eq(vmwdt_mmio_read(h->dev, 0x18, NULL, len), -EINVAL);
    }
    expect_unchanged(h, &before, "a NULL access");
    expect_busy_device_outcome(h);
    vh_free(h);
}
END_TEST

/* Writes to CURRENT_CNT are refused, logged and change nothing, in every state. */
START_TEST(current_cnt_write)
{
    static const uint32_t vals[] = { 0, 1, 10, 0xFFFFFFFF };
    struct vh *h = busy_device();

    for (uint32_t c = 0; c < NCPU; c++)
        for (unsigned i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
            struct observed before;
            int logs = h->nlog;

            observe(h, &before);
            ck_assert_int_eq(vh_write(h, c, VMWDT_REG_CURRENT_CNT, vals[i]), -EINVAL);
            expect_unchanged(h, &before, "a CURRENT_CNT write");
            if (c == 0 && i == 0)
                ck_assert_msg(h->nlog > logs, "a CURRENT_CNT write was not logged");
        }
    expect_busy_device_outcome(h);
    vh_free(h);
}
END_TEST

/* f = 0: enable is refused (and logged); the vCPU stays disabled and silent. */
START_TEST(freq_zero_enable)
{
    struct vh *h = busy_device();
    struct observed before;
    int logs = h->nlog;

    /* vCPU 3 was never written: f is 0. A LOAD_CNT write is a pet, refused too. */
    observe(h, &before);
    ck_assert_int_eq(vh_write(h, 3, VMWDT_REG_STATUS, 1), -EINVAL);
    ck_assert_int_eq(vh_write(h, 3, VMWDT_REG_LOAD_CNT, 10), -EINVAL);
    ck_assert_int_gt(h->nlog, logs);
    expect_unchanged(h, &before, "an enable with f = 0");
    ck_assert_uint_eq(vh_read(h, 3, VMWDT_REG_STATUS), 0);
    /* vCPU 2, disabled: f set to 0 after a valid one, then enable. */
    ck_assert_int_eq(vh_write(h, 2, VMWDT_REG_CLOCK_FREQ_HZ, 0), 0);
    observe(h, &before);
    ck_assert_int_eq(vh_write(h, 2, VMWDT_REG_STATUS, 1), -EINVAL);
    ck_assert_int_eq(vh_write(h, 2, VMWDT_REG_STATUS, 0xFFFFFFFF), -EINVAL);
    expect_unchanged(h, &before, "an enable with f = 0");
    expect_busy_device_outcome(h);
    vh_advance_by(h, VH_S(3600));
    vh_expect_counts(h, 2, 2);
    vh_free(h);
}
END_TEST

/* f = 0 on an enabled vCPU: its pets are refused and its window runs on unchanged. */
START_TEST(freq_zero_pet)
{
    struct vh *h = busy_device();
    struct observed before;
    int logs = h->nlog;

    ck_assert_int_eq(vh_write(h, 0, VMWDT_REG_CLOCK_FREQ_HZ, 0), 0);
    ck_assert_int_eq(vh_write(h, 1, VMWDT_REG_CLOCK_FREQ_HZ, 0), 0);
    observe(h, &before);
    ck_assert_int_eq(vh_write(h, 0, VMWDT_REG_LOAD_CNT, 50), -EINVAL);
    ck_assert_int_eq(vh_write(h, 1, VMWDT_REG_LOAD_CNT, 50), -EINVAL);
    ck_assert_int_gt(h->nlog, logs);
    expect_unchanged(h, &before, "a pet with f = 0");
    /* The refused pet did not clear vCPU 1's raised state: its reset still comes. */
    expect_busy_device_outcome(h);
    vh_free(h);
}
END_TEST

/* f = 1 with count 0xFFFFFFFF: a 136-year window, no overflow, exact times. */
START_TEST(huge_count_slow_clock)
{
    struct vh *h = vh_new(2, VMWDT_ACTION_IRQ_THEN_RESET, T0);
    const int64_t w = WIN(0xFFFFFFFFu, 1);

    ck_assert_int_eq(w, 4294967295LL * 1000000000LL);
    vh_start(h, 0, 1, 0xFFFFFFFFu);
    ck_assert_uint_eq(vh_read(h, 0, VMWDT_REG_CURRENT_CNT), 0xFFFFFFFFu);
    ck_assert_int_eq(vmwdt_next_deadline_ns(h->dev), T0 + w);
    vh_advance_by(h, VH_S(1));
    ck_assert_uint_eq(vh_read(h, 0, VMWDT_REG_CURRENT_CNT), 0xFFFFFFFEu);
    vh_advance_to(h, T0 + w - VH_MS(500));
    ck_assert_uint_eq(vh_read(h, 0, VMWDT_REG_CURRENT_CNT), 1);
    vh_expect_none(h);
    vh_advance_to(h, T0 + w);
    vh_expect_counts(h, 1, 0);
    vh_expect_irq(h, 0, T0 + w, 0);
    vh_advance_to(h, T0 + 2 * w);
    vh_expect_counts(h, 1, 1);
    vh_expect_reset(h, 0, T0 + 2 * w, 0);
    vh_free(h);
}
END_TEST

/* f = 0xFFFFFFFF (crosvm makes a 0 ms timer of anything above 1000 Hz). */
START_TEST(huge_freq)
{
    static const uint32_t counts[] = { 0xFFFFFFFFu, 1000, 5, 4, 1, 0 };
    struct vh *h = vh_new(1, VMWDT_ACTION_IRQ_THEN_RESET, T0);

    for (unsigned i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
        int64_t w = WIN(counts[i], 0xFFFFFFFFu);
        int64_t t0 = h->now;

        vh_clear(h);
        if (i == 0)
            vh_start(h, 0, 0xFFFFFFFFu, counts[i]);
        else
            ck_assert_int_eq(vh_write(h, 0, VMWDT_REG_LOAD_CNT, counts[i]), 0);
        ck_assert_int_eq(vmwdt_next_deadline_ns(h->dev), t0 + w);
        vh_advance_by(h, 2 * w);
        vh_expect_counts(h, 1, 1);
        vh_expect_irq(h, 0, t0 + w, 0);
        vh_expect_reset(h, 0, t0 + 2 * w, 0);
        vh_advance_by(h, VH_S(1));
        vh_expect_counts(h, 1, 1);
    }
    vh_free(h);
}
END_TEST

/* Several vCPUs with huge windows at once: deadlines never wrap. */
START_TEST(huge_windows_many_cpus)
{
    struct vh *h = vh_new(NCPU, VMWDT_ACTION_IRQ_THEN_RESET, T0);

    vh_start(h, 0, 1, 0xFFFFFFFFu);
    vh_start(h, 1, 2, 0xFFFFFFFFu);
    vh_start(h, 2, 1000, 0xFFFFFFFFu);
    vh_start(h, 3, 0xFFFFFFFFu, 0xFFFFFFFFu);
    ck_assert_int_eq(vmwdt_next_deadline_ns(h->dev), T0 + VH_S(1));
    vh_advance_by(h, VH_S(3));
    vh_expect_counts(h, 1, 1);
    ck_assert_int_eq(vmwdt_next_deadline_ns(h->dev), T0 + WIN(0xFFFFFFFFu, 1000));
    vh_advance_to(h, T0 + 2 * WIN(0xFFFFFFFFu, 2) - 1);
    vh_expect_counts(h, 3, 2);
    vh_expect_irq(h, 1, T0 + WIN(0xFFFFFFFFu, 1000), 2);
    vh_expect_reset(h, 1, T0 + 2 * WIN(0xFFFFFFFFu, 1000), 2);
    vh_expect_irq(h, 2, T0 + WIN(0xFFFFFFFFu, 2), 1);
    /* vCPU 1's reset and vCPU 0's interrupt fall at the same instant, 136 years on. */
    ck_assert_int_eq(vmwdt_next_deadline_ns(h->dev), T0 + WIN(0xFFFFFFFFu, 1));
    ck_assert_int_eq(vh_run_at(h, T0 + WIN(0xFFFFFFFFu, 1)), 2);
    vh_expect_counts(h, 4, 3);
    vh_expect_irq(h, 3, T0 + WIN(0xFFFFFFFFu, 1), 0);
    vh_expect_reset(h, 2, T0 + WIN(0xFFFFFFFFu, 1), 1);
    vh_advance_to(h, T0 + 2 * WIN(0xFFFFFFFFu, 1));
    vh_expect_counts(h, 4, 4);
    vh_expect_reset(h, 3, T0 + 2 * WIN(0xFFFFFFFFu, 1), 0);
    ck_assert_int_eq(vmwdt_next_deadline_ns(h->dev), INT64_MAX);
    vh_free(h);
}
END_TEST

/*
 * A million refused accesses while virtual time stands still: each is refused, the log stays
 * bounded (rate-limited), the host is not slowed down, the other vCPUs are untouched.
 */
START_TEST(million_invalid_writes)
{
    struct vh *h = busy_device();
    struct observed before;
    uint8_t b[8] = { 1, 0, 0, 0, 0, 0, 0, 0 };
    int logs = h->nlog;
    int64_t start = mono_ns();

    observe(h, &before);
    for (int i = 0; i < 1000000; i++) {
        int rc;
        switch (i % 5) {
        case 0: rc = vmwdt_mmio_write(h->dev, 0x08 + 0x10 * (i % NCPU), b, 4); break;
        case 1: rc = vmwdt_mmio_write(h->dev, NCPU * 0x10 + (i % 64), b, 4); break;
        case 2: rc = vmwdt_mmio_write(h->dev, 1 + 4 * (i % 16), b, 4); break;
        case 3: rc = vmwdt_mmio_write(h->dev, 0x14, b, 1 + (i % 3)); break;
        default: rc = vmwdt_mmio_write(h->dev, 0x30, b, 4); break; /* vCPU 3 has f = 0 */
        }
        if (rc != -EINVAL)
            ck_abort_msg("invalid write #%d returned %d", i, rc);
    }
    int64_t took = mono_ns() - start;
    expect_unchanged(h, &before, "a million invalid writes");
    ck_assert_msg(h->nlog - logs < 100, "%d log messages for a million invalid writes",
                  h->nlog - logs);
    ck_assert_msg(h->nlog - logs > 0, "invalid writes were not logged at all");
    ck_assert_msg(took < VH_S(10), "a million invalid writes took %lld ms",
                  (long long)(took / 1000000));
    expect_busy_device_outcome(h);
    vh_free(h);
}
END_TEST

/*
 * A guest that pets with LOAD_CNT = 0 makes its vCPU expire at every pet. Each expiry still
 * reaches the host (and run_due counts it), but the log hears of a bounded number of them: the
 * guest cannot flood the host's log with stall messages either. One action per vCPU, for the
 * messages of each kind of expiry.
 */
START_TEST(zero_window_pets_do_not_flood_the_log)
{
    static const enum vmwdt_action actions[] = { VMWDT_ACTION_IRQ_THEN_RESET,
                                                 VMWDT_ACTION_IRQ_ONLY, VMWDT_ACTION_RESET,
                                                 VMWDT_ACTION_NONE };

    for (unsigned a = 0; a < sizeof(actions) / sizeof(actions[0]); a++) {
        struct vh *h = vh_new(1, actions[a], T0);
        const int pets = 100000;

        vh_start(h, 0, 10, 0);
        int logs = h->nlog;
        int fired = 0;
        for (int i = 0; i < pets; i++) {
            ck_assert_int_eq(vh_write(h, 0, VMWDT_REG_LOAD_CNT, 0), 0);
            fired += vh_run_at(h, h->now);
        }
        /* The enable's own 0 ns window ended before the first pet: that pet does not erase
         * it, so pets + 1 windows expire. */
        ck_assert_int_eq(fired, actions[a] == VMWDT_ACTION_IRQ_THEN_RESET ? 2 * (pets + 1)
                                                                           : pets + 1);
        ck_assert_msg(h->nlog - logs < 100, "action %u: %d log messages for %d expiries", a,
                      h->nlog - logs, fired);
        ck_assert_msg(h->nlog - logs > 0, "action %u: expiries were not logged at all", a);
        vh_free(h);
    }
}
END_TEST

/*
 * The host runs what is due at the end of time (now = INT64_MAX, or INT64_MAX - 1) while the
 * guest clocks are frozen short of their deadlines: nothing is due, and the call returns
 * instead of checking the same vCPUs again without end (their next check cannot come later).
 */
START_TEST(run_due_at_the_end_of_time)
{
    struct vh *h = vh_new(2, VMWDT_ACTION_IRQ_THEN_RESET, T0);

    vh_start(h, 0, 10, 10);
    vh_start(h, 1, 1, 0xFFFFFFFFu);
    vh_advance_by(h, VH_MS(500));
    vh_guest_run(h, 0, false);
    vh_guest_run(h, 1, false);
    ck_assert_int_eq(vh_run_at(h, INT64_MAX - 1), 0);
    ck_assert_int_eq(vh_run_at(h, INT64_MAX), 0);
    ck_assert_int_eq(vh_run_at(h, INT64_MAX), 0);
    vh_expect_none(h);
    /* Half of vCPU 0's 1 s window is left, at 10 Hz. */
    ck_assert_uint_eq(vh_read(h, 0, VMWDT_REG_CURRENT_CNT), 5);
    ck_assert_uint_eq(vh_read(h, 0, VMWDT_REG_STATUS), 1);
    vh_free(h);
}
END_TEST

/*
 * A guest that halts a vCPU (its guest clock stops) half a microsecond before the end of a 1 us
 * window must not make a host that follows vmwdt_next_deadline_ns call vmwdt_run_due at
 * nanosecond intervals: the lagging clock is checked once a millisecond at most, and the
 * interrupt still comes within a millisecond of its exact time once the clock runs again.
 */
START_TEST(frozen_clock_short_of_a_tiny_window_is_not_polled)
{
    struct vh *h = vh_new(1, VMWDT_ACTION_IRQ_THEN_RESET, T0);

    vh_start(h, 0, 1000000000u, 1000);
    vh_advance_by(h, 500);
    vh_guest_run(h, 0, false);
    int calls = h->run_due_calls;
    vh_advance_by(h, VH_S(1));
    vh_expect_none(h);
    ck_assert_int_le(h->run_due_calls - calls, 1001);
    int64_t resumed = h->now;
    vh_guest_run(h, 0, true);
    vh_advance_by(h, VH_MS(10));
    ck_assert_int_eq(h->nirq, 1);
    ck_assert_int_ge(h->irq[0].t, resumed + 500);
    ck_assert_int_le(h->irq[0].t, resumed + 500 + VH_MS(1));
    vh_free(h);
}
END_TEST

/* Deterministic pseudo-random numbers (xorshift64*), so that a failure can be replayed. */
static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

/*
 * Random garbage on vCPUs 2 and 3 (any offset in their 32 bytes, any length, any value) while
 * vCPUs 0 and 1 run the Linux driver's sequence: 0 and 1 never see an event or a change.
 */
START_TEST(garbage_does_not_cross_vcpus)
{
    struct vh *h = vh_new(NCPU, VMWDT_ACTION_IRQ_THEN_RESET, T0);
    uint64_t seed = 0x9e3779b97f4a7c15ULL ^ (uint64_t)_i;

    vh_start(h, 0, 10, 80);
    vh_start(h, 1, 10, 80);
    for (int step = 0; step < 20000; step++) {
        uint64_t r = rng_next(&seed);
        uint64_t off = 0x20 + (r % 0x28);
        uint32_t len = (uint32_t)((r >> 8) % 9);
        uint8_t buf[8];
        uint64_t v = rng_next(&seed);

        /* Small values are the interesting ones for counts and frequencies. */
        if ((r >> 16) % 2)
            v %= 40;
        memcpy(buf, &v, sizeof(buf));
        int rc = (r >> 20) % 3 ? vmwdt_mmio_write(h->dev, off, buf, len)
                               : vmwdt_mmio_read(h->dev, off, buf, len);
        ck_assert(rc == 0 || rc == -EINVAL);
        if (off >= NCPU * 0x10 || off % 4 || len != 4)
            ck_assert_int_eq(rc, -EINVAL);
        if (step % 50 == 0) {
            vh_advance_by(h, VH_MS(97));
            if (step % 2000 == 0) {
                ck_assert_int_eq(vh_write(h, 0, VMWDT_REG_LOAD_CNT, 80), 0);
                ck_assert_int_eq(vh_write(h, 1, VMWDT_REG_LOAD_CNT, 80), 0);
            }
        }
    }
    ck_assert_int_eq(vh_irqs_of(h, 0, NULL, 0) + vh_resets_of(h, 0, NULL, 0), 0);
    ck_assert_int_eq(vh_irqs_of(h, 1, NULL, 0) + vh_resets_of(h, 1, NULL, 0), 0);
    ck_assert_int_eq(h->unknown_cpu, 0);
    ck_assert_int_eq(h->events_outside, 0);
    ck_assert_uint_eq(vh_read(h, 0, VMWDT_REG_CLOCK_FREQ_HZ), 10);
    ck_assert_uint_eq(vh_read(h, 1, VMWDT_REG_LOAD_CNT), 80);
    ck_assert_uint_eq(vh_read(h, 0, VMWDT_REG_STATUS), 1);
    vh_free(h);
}
END_TEST

static Suite *hostile_suite(void)
{
    Suite *s = suite_create("core_hostile");
    TCase *tc = tcase_create("hostile");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, cpu_index_out_of_range);
    tcase_add_test(tc, single_cpu_offset_0x10);
    tcase_add_test(tc, offsets_past_the_end);
    tcase_add_test(tc, misaligned_offsets);
    tcase_add_test(tc, bad_lengths);
    tcase_add_test(tc, null_data);
    tcase_add_test(tc, current_cnt_write);
    tcase_add_test(tc, freq_zero_enable);
    tcase_add_test(tc, freq_zero_pet);
    tcase_add_test(tc, huge_count_slow_clock);
    tcase_add_test(tc, huge_freq);
    tcase_add_test(tc, huge_windows_many_cpus);
    tcase_add_test(tc, million_invalid_writes);
    tcase_add_test(tc, zero_window_pets_do_not_flood_the_log);
    tcase_add_test(tc, run_due_at_the_end_of_time);
    tcase_add_test(tc, frozen_clock_short_of_a_tiny_window_is_not_polled);
    tcase_add_loop_test(tc, garbage_does_not_cross_vcpus, 0, 4);
    suite_add_tcase(s, tc);
    return s;
}

VMWDT_SUITE_MAIN(hostile_suite)
