/* The virtual-time host described in vharness.h. */
#include "vharness.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int64_t vh_guest_origin(uint32_t cpu)
{
    /* Far from host time and from each other, so that a library mixing the two timebases
     * computes absurd deadlines instead of accidentally right ones. */
    return 1000000000007LL * (int64_t)(cpu + 1) + 17;
}

static void vh_record(struct vh *h, struct vh_event *list, int *n, uint32_t cpu)
{
    if (!h->in_run_due)
        h->events_outside++;
    if (cpu >= h->cpus)
        h->unknown_cpu++;
    if (*n < VH_MAX_EVENTS) {
        list[*n].t = h->now;
        list[*n].cpu = cpu;
    }
    (*n)++;
}

static void vh_cb_irq(void *opaque, uint32_t cpu)
{
    struct vh *h = opaque;

    vh_record(h, h->irq, &h->nirq, cpu);
    if (h->on_irq)
        h->on_irq(h, cpu);
}

static void vh_cb_reset(void *opaque, uint32_t cpu)
{
    struct vh *h = opaque;

    vh_record(h, h->reset, &h->nreset, cpu);
    if (h->on_reset)
        h->on_reset(h, cpu);
}

static int64_t vh_cb_guest_time(void *opaque, uint32_t cpu)
{
    struct vh *h = opaque;

    h->guest_time_calls++;
    if (cpu >= h->cpus) {
        h->unknown_cpu++;
        return 0;
    }
    return vh_guest_now(h, cpu);
}

static int64_t vh_cb_now(void *opaque)
{
    struct vh *h = opaque;

    h->now_calls++;
    return h->now;
}

static void vh_cb_log(void *opaque, int level, const char *msg)
{
    struct vh *h = opaque;

    h->nlog++;
    if (level < 0 || level > 7 || msg == NULL || msg[0] == '\0')
        h->bad_log++;
    snprintf(h->last_log, sizeof(h->last_log), "%d %s", level, msg ? msg : "(null)");
}

struct vmwdt_host_ops vh_ops(struct vh *h)
{
    struct vmwdt_host_ops ops = {
        .size = sizeof(ops),
        .opaque = h,
        .raise_irq = vh_cb_irq,
        .request_reset = vh_cb_reset,
        .guest_time_ns = vh_cb_guest_time,
        .now_ns = vh_cb_now,
        .log = vh_cb_log,
    };
    return ops;
}

static struct vh *vh_alloc(uint32_t cpus, int64_t start_ns)
{
    struct vh *h = calloc(1, sizeof(*h));
    uint32_t n = cpus ? cpus : 1;

    ck_assert_ptr_nonnull(h);
    h->cpus = cpus;
    h->now = start_ns;
    h->guest_base = calloc(n, sizeof(*h->guest_base));
    h->guest_since = calloc(n, sizeof(*h->guest_since));
    h->running = calloc(n, sizeof(*h->running));
    ck_assert(h->guest_base && h->guest_since && h->running);
    for (uint32_t i = 0; i < cpus; i++) {
        h->guest_base[i] = vh_guest_origin(i);
        h->guest_since[i] = start_ns;
        h->running[i] = true;
    }
    return h;
}

int vh_new_cfg(struct vh **out, const struct vmwdt_config *cfg, int64_t start_ns)
{
    struct vh *h = vh_alloc(cfg->cpu_count <= VMWDT_MAX_CPUS ? cfg->cpu_count : 1, start_ns);
    struct vmwdt_host_ops ops = vh_ops(h);
    int rc = vmwdt_create(cfg, &ops, &h->dev);

    if (rc != 0) {
        h->dev = NULL;
        vh_free(h);
        *out = NULL;
        return rc;
    }
    *out = h;
    return 0;
}

struct vh *vh_new(uint32_t cpus, enum vmwdt_action action, int64_t start_ns)
{
    struct vmwdt_config cfg = {
        .size = sizeof(cfg),
        .cpu_count = cpus,
        .clock = VMWDT_CLOCK_HOST,
        .action = action,
        .timers = VMWDT_TIMERS_EXTERNAL,
    };
    struct vh *h = NULL;
    int rc = vh_new_cfg(&h, &cfg, start_ns);

    ck_assert_msg(rc == 0, "vmwdt_create failed: %d", rc);
    /* A new device has nothing armed. */
    ck_assert_int_eq(vmwdt_next_deadline_ns(h->dev), INT64_MAX);
    return h;
}

void vh_free(struct vh *h)
{
    if (!h)
        return;
    vmwdt_destroy(h->dev);
    free(h->guest_base);
    free(h->guest_since);
    free(h->running);
    free(h);
}

int64_t vh_guest_now(const struct vh *h, uint32_t cpu)
{
    if (!h->running[cpu])
        return h->guest_base[cpu];
    return h->guest_base[cpu] + (h->now - h->guest_since[cpu]);
}

void vh_guest_run(struct vh *h, uint32_t cpu, bool running)
{
    ck_assert_uint_lt(cpu, h->cpus);
    h->guest_base[cpu] = vh_guest_now(h, cpu);
    h->guest_since[cpu] = h->now;
    h->running[cpu] = running;
}

void vh_advance_to(struct vh *h, int64_t t)
{
    int64_t last = INT64_MIN;
    int repeats = 0;

    ck_assert_msg(t >= h->now, "time cannot go back: %lld < %lld", (long long)t,
                  (long long)h->now);
    for (;;) {
        int64_t d = vmwdt_next_deadline_ns(h->dev);

        if (d > t)
            break;
        ck_assert_msg(d >= h->now, "deadline %lld is before the current time %lld",
                      (long long)d, (long long)h->now);
        /* Each run at the same time must make progress: a 0 ns window fires at once, it does
         * not keep the deadline pinned at now. */
        repeats = d == last ? repeats + 1 : 0;
        ck_assert_msg(repeats <= 2 * (int)h->cpus + 4, "deadline %lld never moves (busy loop)",
                      (long long)d);
        last = d;
        h->now = d;
        h->in_run_due = true;
        int fired = vmwdt_run_due(h->dev, d);
        h->in_run_due = false;
        ck_assert_msg(fired >= 0, "vmwdt_run_due failed: %d", fired);
        h->run_due_calls++;
        h->run_due_fired += fired;
    }
    h->now = t;
}

void vh_advance_by(struct vh *h, int64_t dt)
{
    vh_advance_to(h, h->now + dt);
}

int vh_run_at(struct vh *h, int64_t t)
{
    ck_assert_int_ge(t, h->now);
    h->now = t;
    h->in_run_due = true;
    int fired = vmwdt_run_due(h->dev, t);
    h->in_run_due = false;
    return fired;
}

int vh_write(struct vh *h, uint32_t cpu, uint32_t reg, uint32_t val)
{
    uint8_t b[4] = { val & 0xff, (val >> 8) & 0xff, (val >> 16) & 0xff, val >> 24 };

    return vmwdt_mmio_write(h->dev, (uint64_t)cpu * VMWDT_REG_STRIDE + reg, b, 4);
}

int vh_read_rc(struct vh *h, uint32_t cpu, uint32_t reg, uint32_t *val)
{
    uint8_t b[4] = { 0xa5, 0xa5, 0xa5, 0xa5 };
    int rc = vmwdt_mmio_read(h->dev, (uint64_t)cpu * VMWDT_REG_STRIDE + reg, b, 4);

    *val = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    return rc;
}

uint32_t vh_read(struct vh *h, uint32_t cpu, uint32_t reg)
{
    uint32_t v;
    int rc = vh_read_rc(h, cpu, reg, &v);

    ck_assert_msg(rc == 0, "read of cpu %u reg 0x%x failed: %d", cpu, reg, rc);
    return v;
}

void vh_start(struct vh *h, uint32_t cpu, uint32_t f, uint32_t n)
{
    ck_assert_int_eq(vh_write(h, cpu, VMWDT_REG_CLOCK_FREQ_HZ, f), 0);
    ck_assert_int_eq(vh_write(h, cpu, VMWDT_REG_LOAD_CNT, n), 0);
    ck_assert_int_eq(vh_write(h, cpu, VMWDT_REG_STATUS, 1), 0);
}

void vh_clear(struct vh *h)
{
    h->nirq = 0;
    h->nreset = 0;
    h->nlog = 0;
    h->events_outside = 0;
    h->unknown_cpu = 0;
    h->run_due_fired = 0;
}

static int vh_events_of(const struct vh_event *list, int n, uint32_t cpu, struct vh_event *out,
                        int max)
{
    int k = 0;

    for (int i = 0; i < n && i < VH_MAX_EVENTS; i++) {
        if (list[i].cpu != cpu)
            continue;
        if (k < max)
            out[k] = list[i];
        k++;
    }
    return k;
}

int vh_irqs_of(const struct vh *h, uint32_t cpu, struct vh_event *out, int max)
{
    return vh_events_of(h->irq, h->nirq, cpu, out, max);
}

int vh_resets_of(const struct vh *h, uint32_t cpu, struct vh_event *out, int max)
{
    return vh_events_of(h->reset, h->nreset, cpu, out, max);
}

static void vh_expect_sane(const struct vh *h)
{
    ck_assert_msg(h->events_outside == 0, "%d events outside vmwdt_run_due", h->events_outside);
    ck_assert_msg(h->unknown_cpu == 0, "%d callbacks named a vCPU that does not exist",
                  h->unknown_cpu);
    ck_assert_msg(h->bad_log == 0, "%d log messages without text or with a bad level (last: %s)",
                  h->bad_log, h->last_log);
}

void vh_expect_none(const struct vh *h)
{
    vh_expect_sane(h);
    ck_assert_msg(h->nirq == 0 && h->nreset == 0, "expected no event, got %d irq (first at %lld on %u), %d reset",
                  h->nirq, h->nirq ? (long long)h->irq[0].t : 0LL, h->nirq ? h->irq[0].cpu : 0,
                  h->nreset);
}

static void vh_expect_event(const char *what, const struct vh_event *list, int n, int idx,
                            int64_t t, uint32_t cpu)
{
    ck_assert_msg(idx < n, "expected %s #%d at %lld on cpu %u, only %d recorded", what, idx,
                  (long long)t, cpu, n);
    ck_assert_msg(list[idx].t == t && list[idx].cpu == cpu,
                  "%s #%d: expected [%lld, %u], got [%lld, %u]", what, idx, (long long)t, cpu,
                  (long long)list[idx].t, list[idx].cpu);
}

void vh_expect_irq(const struct vh *h, int idx, int64_t t, uint32_t cpu)
{
    vh_expect_sane(h);
    vh_expect_event("irq", h->irq, h->nirq, idx, t, cpu);
}

void vh_expect_reset(const struct vh *h, int idx, int64_t t, uint32_t cpu)
{
    vh_expect_sane(h);
    vh_expect_event("reset", h->reset, h->nreset, idx, t, cpu);
}

void vh_expect_counts(const struct vh *h, int nirq, int nreset)
{
    vh_expect_sane(h);
    ck_assert_msg(h->nirq == nirq && h->nreset == nreset,
                  "expected %d irq and %d reset, got %d and %d", nirq, nreset, h->nirq,
                  h->nreset);
}

void vh_dump_regs(struct vh *h, uint32_t *regs)
{
    for (uint32_t c = 0; c < h->cpus; c++)
        for (uint32_t r = 0; r < 4; r++)
            regs[c * 4 + r] = vh_read(h, c, r * 4);
}
