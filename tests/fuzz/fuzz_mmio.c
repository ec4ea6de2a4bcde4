/*
 * Fuzz target for the guest's register accesses and the host's lifecycle calls, checked against
 * the reference model of DESIGN.md sections 2 and 4 (tests/common/wdt_model.h) after every
 * step: exact event times, what run_due returns, CURRENT_CNT and STATUS, and next_deadline_ns
 * never later than the model's next event. The same driver serves the core_model test.
 *
 * Input: a device header, then operations until the input ends.
 *   header: cpus-1 (mod 4), action (mod 4), host-time origin class, then one origin class per
 *           vCPU (class: 0 zero, 1 just below 0, 2 far below 0, 3 far above 0; two bytes more
 *           give the magnitude)
 *   op:     byte k: kind = k & 15 (mod MD_KINDS), cpu = (k >> 4) & 7, check = k >> 7
 *           WRITE: reg byte, value (byte v < 0xF0: a small value picked by v; else 4 raw bytes)
 *           READ: reg byte; ADVANCE, LATE: time step (unit byte, count byte);
 *           FRESH: action byte; BAD: selector byte; the others take nothing.
 * At the end, time moves one second on, so that every event still owed must come.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_target.h"
#include "wdt_mdrive.h"

#define MAX_OPS 4096

/* Every input is a valid run: a difference from the model aborts instead of returning a
 * verdict, so the replay driver's --valid and --invalid have nothing to tell apart here. */
int fuzz_last_rc;

struct in {
    const uint8_t *p;
    size_t n;
};

static uint8_t take(struct in *in)
{
    if (in->n == 0)
        return 0;
    in->n--;
    return *in->p++;
}

static int64_t origin(struct in *in)
{
    uint8_t cls = take(in) & 3;
    int64_t mag = (int64_t)take(in) << 8 | take(in);
    switch (cls) {
    case 1:
        return -(mag * 1000 + 1);
    case 2:
        return -mag * 10000000000000LL - 7;
    case 3:
        return mag * 10000000000000LL + 3;
    default:
        return 0;
    }
}

/* Register values that matter: 0, 1, small counts, the usual frequencies, the extremes. */
static uint32_t value(struct in *in, uint32_t reg)
{
    static const uint32_t freqs[] = {1000, 1000000, 1, 10, 1000000000, UINT32_MAX, 0, 2};
    uint8_t v = take(in);
    if (v >= 0xF0) {
        uint32_t x = 0;
        for (int i = 0; i < 4; i++)
            x = x << 8 | take(in);
        return x;
    }
    if (reg == VMWDT_REG_CLOCK_FREQ_HZ)
        return freqs[v % 8];
    return v;
}

/* A time step: count of a unit of 1 ns, 1 us, 100 us or 1 ms, and a few ns either side. */
static int64_t step(struct in *in)
{
    static const int64_t units[] = {1, 1000, 100000, 1000000};
    uint8_t u = take(in);
    int64_t dt = units[u & 3] * take(in) + ((u >> 2) & 7) - 3;
    return dt < 0 ? 0 : dt;
}

static void check(struct md *d, int rc)
{
    if (rc != 0) {
        fprintf(stderr, "fuzz_mmio: the library differs from the model: %s\n", d->err);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct in in = {data, size};
    struct md d;
    int64_t origins[4];
    uint32_t cpus = 1 + (take(&in) & 3);
    int action = take(&in) & 3;
    int64_t t0 = origin(&in);

    for (uint32_t i = 0; i < cpus; i++)
        origins[i] = origin(&in);
    check(&d, md_init(&d, cpus, action, t0, origins));
    for (int i = 0; i < MAX_OPS && in.n > 0; i++) {
        uint8_t k = take(&in);
        struct md_op op = {.kind = (uint8_t)((k & 15) % MD_KINDS), .cpu = (k >> 4) & 7,
                           .check = (k >> 7) != 0};
        switch (op.kind) {
        case MD_WRITE:
            op.reg = (take(&in) & 3) * 4;
            op.val = value(&in, op.reg);
            break;
        case MD_READ:
            op.reg = (take(&in) & 3) * 4;
            break;
        case MD_ADVANCE:
        case MD_LATE:
            op.dt = step(&in);
            break;
        case MD_FRESH:
        case MD_BAD:
            op.val = take(&in);
            break;
        default:
            break;
        }
        check(&d, md_step(&d, &op));
    }
    /* Everything owed comes within a second of an awake device whose clocks run. */
    struct md_op wake = {.kind = MD_WAKE};
    check(&d, md_step(&d, &wake));
    for (uint32_t i = 0; i < cpus; i++) {
        struct md_op thaw = {.kind = MD_THAW, .cpu = i};
        check(&d, md_step(&d, &thaw));
    }
    check(&d, md_advance(&d, d.m.now + 1000000000));
    if (wm_next_latest(&d.m) < d.m.now) {
        fprintf(stderr, "fuzz_mmio: events still owed at the end\n");
        abort();
    }
    if (getenv("FUZZ_MMIO_STATS") != NULL)
        fprintf(stderr, "%llu operations, %llu run_due, %llu interrupts, %llu resets, "
                "%llu late\n", (unsigned long long)d.stats.ops,
                (unsigned long long)d.stats.run_due_calls, (unsigned long long)d.stats.irqs,
                (unsigned long long)d.stats.resets, (unsigned long long)d.stats.late);
    md_fini(&d);
    return 0;
}
