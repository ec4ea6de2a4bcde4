/*
 * The library and the model side by side. See wdt_mdrive.h.
 */
#include "wdt_mdrive.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

__attribute__((format(printf, 2, 3)))
static int fail(struct md *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->err, sizeof(d->err), fmt, ap);
    va_end(ap);
    return -1;
}

static void record(struct md *d, uint32_t cpu, uint8_t kind)
{
    if (!d->in_run_due)
        d->outside++;
    if (d->nfired == d->capfired) {
        size_t cap = d->capfired ? 2 * d->capfired : 64;
        struct wm_fired *f = realloc(d->fired, cap * sizeof(*f));
        if (f == NULL)
            abort();
        d->fired = f;
        d->capfired = cap;
    }
    d->fired[d->nfired++] = (struct wm_fired){.cpu = cpu, .kind = kind};
}

static void cb_irq(void *opaque, uint32_t cpu)
{
    record(opaque, cpu, WM_IRQ);
}

static void cb_reset(void *opaque, uint32_t cpu)
{
    record(opaque, cpu, WM_RESET);
}

static int64_t cb_guest(void *opaque, uint32_t cpu)
{
    struct md *d = opaque;
    return cpu < d->m.cpus ? wm_guest(&d->m, cpu) : 0;
}

static int64_t cb_now(void *opaque)
{
    return ((struct md *)opaque)->m.now;
}

static void cb_log(void *opaque, int level, const char *msg)
{
    (void)opaque;
    (void)level;
    (void)msg;
}

static int new_device(struct md *d, int action, vmwdt **out)
{
    struct vmwdt_config cfg = {
        .size = sizeof(cfg), .cpu_count = d->m.cpus, .clock = VMWDT_CLOCK_HOST,
        .action = (uint32_t)action, .timers = VMWDT_TIMERS_EXTERNAL,
    };
    struct vmwdt_host_ops ops = {
        .size = sizeof(ops), .opaque = d, .raise_irq = cb_irq, .request_reset = cb_reset,
        .guest_time_ns = cb_guest, .now_ns = cb_now, .log = cb_log,
    };
    return vmwdt_create(&cfg, &ops, out);
}

int md_init(struct md *d, uint32_t cpus, int action, int64_t t0, const int64_t *origin)
{
    memset(d, 0, sizeof(*d));
    if (cpus < 1 || cpus > 8 || wm_init(&d->m, cpus, action, t0, origin) != 0)
        return fail(d, "bad device: %u vCPUs", cpus);
    d->msnap = calloc(cpus, sizeof(*d->msnap));
    int rc = new_device(d, action, &d->dev);
    if (rc != 0 || d->msnap == NULL)
        return fail(d, "vmwdt_create: %d", rc);
    return 0;
}

void md_fini(struct md *d)
{
    vmwdt_destroy(d->dev);
    vmwdt_free(d->doc);
    free(d->fired);
    free(d->msnap);
    wm_fini(&d->m);
    memset(d, 0, sizeof(*d));
}

/* One vmwdt_run_due() at the current time, checked against the model. */
static int run_due(struct md *d)
{
    d->nfired = 0;
    d->in_run_due = true;
    int ret = vmwdt_run_due(d->dev, d->m.now);
    d->in_run_due = false;
    d->stats.run_due_calls++;
    for (size_t i = 0; i < d->nfired; i++) {
        if (d->fired[i].kind == WM_IRQ)
            d->stats.irqs++;
        else
            d->stats.resets++;
    }
    /* Events told after they were due (a late host, or a clock that froze near the end). */
    uint64_t overdue = 0;
    for (size_t i = 0; i < d->m.nowed; i++)
        overdue += d->m.owed[i].due < d->m.now;
    if (wm_deliver(&d->m, d->fired, d->nfired, ret, d->err, sizeof(d->err)) != 0)
        return -1;
    for (size_t i = 0; i < d->m.nowed; i++)
        overdue -= d->m.owed[i].due < d->m.now;
    d->stats.late += overdue;
    return 0;
}

/* vmwdt_next_deadline_ns() is never later than the latest time the model allows. */
static int check_deadline(struct md *d, int64_t *deadline)
{
    int64_t dl = vmwdt_next_deadline_ns(d->dev);
    int64_t latest = wm_next_latest(&d->m);
    if (dl > latest)
        return fail(d, "at %lld: next_deadline_ns %lld is later than the model's next event "
                    "(latest %lld)", (long long)d->m.now, (long long)dl, (long long)latest);
    *deadline = dl;
    return 0;
}

int md_advance(struct md *d, int64_t t)
{
    int64_t last = INT64_MIN;
    int repeats = 0;
    for (;;) {
        int64_t dl = 0;
        if (check_deadline(d, &dl) != 0)
            return -1;
        if (dl > t)
            break;
        int64_t x = dl > d->m.now ? dl : d->m.now;
        repeats = x == last ? repeats + 1 : 0;
        if (repeats > 4 * (int)d->m.cpus + 8)
            return fail(d, "deadline %lld never moves (busy loop)", (long long)x);
        last = x;
        wm_advance(&d->m, x);
        if (run_due(d) != 0)
            return -1;
    }
    wm_advance(&d->m, t);
    return 0;
}

static int access_rc(struct md *d, uint32_t cpu, uint32_t reg, uint32_t val, bool write,
                     uint32_t *out)
{
    uint8_t b[4] = {(uint8_t)val, (uint8_t)(val >> 8), (uint8_t)(val >> 16),
                    (uint8_t)(val >> 24)};
    uint64_t off = (uint64_t)cpu * VMWDT_REG_STRIDE + reg;
    int rc = write ? vmwdt_mmio_write(d->dev, off, b, 4) : vmwdt_mmio_read(d->dev, off, b, 4);
    if (out != NULL)
        *out = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
               (uint32_t)b[3] << 24;
    return rc;
}

static int do_write(struct md *d, uint32_t cpu, uint32_t reg, uint32_t val)
{
    int rc = access_rc(d, cpu, reg, val, true, NULL);
    if (reg == VMWDT_REG_STATUS || reg == VMWDT_REG_LOAD_CNT)
        wm_touch(&d->m, cpu);
    int want = wm_write(&d->m, cpu, reg, val);
    if (rc != want)
        return fail(d, "at %lld: write of %u to cpu %u reg 0x%x returned %d, the model %d",
                    (long long)d->m.now, val, cpu, reg, rc, want);
    return 0;
}

static int do_read(struct md *d, uint32_t cpu, uint32_t reg)
{
    uint32_t got;
    int rc = access_rc(d, cpu, reg, 0, false, &got);
    if (reg == VMWDT_REG_STATUS || reg == VMWDT_REG_CURRENT_CNT)
        wm_touch(&d->m, cpu);
    uint32_t want = wm_read(&d->m, cpu, reg);
    if (rc != 0 || got != want)
        return fail(d, "at %lld: cpu %u reg 0x%x read %u (rc %d), the model %u",
                    (long long)d->m.now, cpu, reg, got, rc, want);
    return 0;
}

/* A refused access: past the last vCPU, unaligned, or not 4 bytes. Nothing changes. */
static int do_bad(struct md *d, uint32_t val)
{
    uint8_t b[8] = {1, 0, 0, 0, 0, 0, 0, 0};
    uint64_t offs[] = {(uint64_t)d->m.cpus * VMWDT_REG_STRIDE, 1, 2, 0x4 + 3, UINT64_MAX - 3};
    uint64_t off = offs[val % 5];
    uint32_t len = (val / 5) % 3 == 0 ? 4 : (val / 5) % 3 == 1 ? 2 : 8;
    if (off < (uint64_t)d->m.cpus * VMWDT_REG_STRIDE && off % 4 == 0)
        len = 2;
    int rc = (val & 0x100) ? vmwdt_mmio_read(d->dev, off, b, len)
                           : vmwdt_mmio_write(d->dev, off, b, len);
    if (rc != -EINVAL)
        return fail(d, "refused access at 0x%llx len %u returned %d", (unsigned long long)off,
                    len, rc);
    return 0;
}

static int do_restore(struct md *d, bool fresh, uint32_t action)
{
    if (d->doc == NULL)
        return 0;
    if (!fresh) {
        int rc = vmwdt_restore_json(d->dev, d->doc);
        if (rc != 0)
            return fail(d, "restore of the kept snapshot: %d", rc);
        wm_restore(&d->m, d->msnap, false, d->m.action);
        return 0;
    }
    vmwdt *dev;
    int rc = new_device(d, (int)action, &dev);
    if (rc == 0 && (rc = vmwdt_restore_json(dev, d->doc)) != 0)
        vmwdt_destroy(dev);
    if (rc != 0)
        return fail(d, "fresh restore (action %u): %d", action, rc);
    vmwdt_destroy(d->dev);
    d->dev = dev;
    wm_restore(&d->m, d->msnap, true, (int)action);
    return 0;
}

static int apply(struct md *d, const struct md_op *op, uint32_t cpu)
{
    switch (op->kind) {
    case MD_WRITE:
        return do_write(d, cpu, op->reg & 0xC, op->val);
    case MD_READ:
        return do_read(d, cpu, op->reg & 0xC);
    case MD_ADVANCE:
        return md_advance(d, d->m.now + op->dt);
    case MD_LATE:
        wm_advance(&d->m, d->m.now + op->dt);
        return 0;
    case MD_RUN:
        return run_due(d);
    case MD_FREEZE:
    case MD_THAW:
        wm_clock_run(&d->m, cpu, op->kind == MD_THAW);
        return 0;
    case MD_SLEEP:
        wm_sleep(&d->m);
        return vmwdt_sleep(d->dev) == 0 ? 0 : fail(d, "vmwdt_sleep failed");
    case MD_WAKE:
        wm_wake(&d->m);
        return vmwdt_wake(d->dev) == 0 ? 0 : fail(d, "vmwdt_wake failed");
    case MD_SNAPSHOT: {
        char *doc = NULL;
        int rc = vmwdt_snapshot_json(d->dev, &doc);
        if (rc != 0)
            return fail(d, "vmwdt_snapshot_json: %d", rc);
        vmwdt_free(d->doc);
        d->doc = doc;
        wm_snapshot(&d->m, d->msnap);
        return 0;
    }
    case MD_RESTORE:
    case MD_FRESH:
        return do_restore(d, op->kind == MD_FRESH, op->val % 4);
    case MD_BAD:
        return do_bad(d, op->val);
    default:
        return fail(d, "unknown operation %u", op->kind);
    }
}

int md_step(struct md *d, const struct md_op *op)
{
    uint32_t cpu = op->cpu % d->m.cpus;
    int64_t dl = 0;
    d->stats.ops++;
    d->nfired = 0;
    if (apply(d, op, cpu) != 0)
        return -1;
    if (op->check && (do_read(d, cpu, VMWDT_REG_STATUS) != 0 ||
                      do_read(d, cpu, VMWDT_REG_CURRENT_CNT) != 0))
        return -1;
    if (d->outside != 0)
        return fail(d, "%d interrupts or resets came outside vmwdt_run_due", d->outside);
    return check_deadline(d, &dl);
}
