/* The virtual-time VMM of the snapshot suites; see snap_host.h. */
#include "snap_host.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct sh *self(void *opaque)
{
    return opaque;
}

static void record(struct sh *h, int kind, uint32_t cpu)
{
    ck_assert_int_lt(h->nev, SH_MAX_EVENTS);
    h->ev[h->nev++] = (struct sh_event){ h->now, kind, cpu };
}

static void on_irq(void *opaque, uint32_t cpu)
{
    record(self(opaque), SH_IRQ, cpu);
}

static void on_reset(void *opaque, uint32_t cpu)
{
    record(self(opaque), SH_RESET, cpu);
}

static int64_t on_guest_time(void *opaque, uint32_t cpu)
{
    struct sh *h = self(opaque);
    ck_assert_uint_lt(cpu, h->cpus);
    return sh_guest_now(h, cpu);
}

static int64_t on_now(void *opaque)
{
    return self(opaque)->now;
}

static void on_log(void *opaque, int level, const char *msg)
{
    struct sh *h = self(opaque);
    (void)level;
    h->nlog++;
    snprintf(h->last_log, sizeof(h->last_log), "%s", msg);
}

struct sh *sh_new(uint32_t cpus, enum vmwdt_clock clock, enum vmwdt_action action, int64_t start)
{
    ck_assert_uint_le(cpus, SH_MAX_CPUS);
    struct sh *h = calloc(1, sizeof(*h));
    ck_assert_ptr_nonnull(h);
    h->cpus = cpus;
    h->now = start;
    for (uint32_t i = 0; i < cpus; i++) {
        h->running[i] = true;
        h->guest_since[i] = start;
    }
    struct vmwdt_config cfg = { sizeof(cfg), cpus, clock, action, VMWDT_TIMERS_EXTERNAL, 0 };
    struct vmwdt_host_ops ops = { sizeof(ops), h, on_irq, on_reset, on_guest_time, on_now,
                                  on_log };
    ck_assert_int_eq(vmwdt_create(&cfg, &ops, &h->dev), 0);
    return h;
}

void sh_free(struct sh *h)
{
    if (h == NULL)
        return;
    vmwdt_destroy(h->dev);
    free(h);
}

int64_t sh_guest_now(const struct sh *h, uint32_t cpu)
{
    if (!h->running[cpu])
        return h->guest_base[cpu];
    return h->guest_base[cpu] + (h->now - h->guest_since[cpu]);
}

void sh_guest_run(struct sh *h, uint32_t cpu, bool running)
{
    h->guest_base[cpu] = sh_guest_now(h, cpu);
    h->guest_since[cpu] = h->now;
    h->running[cpu] = running;
}

void sh_advance_to(struct sh *h, int64_t t)
{
    ck_assert_int_ge(t, h->now);
    for (int guard = 0;; guard++) {
        ck_assert_msg(guard < 10000, "deadlines do not advance");
        int64_t d = vmwdt_next_deadline_ns(h->dev);
        if (d > t)
            break;
        if (d > h->now)
            h->now = d;
        int n = vmwdt_run_due(h->dev, h->now);
        ck_assert_int_ge(n, 0);
        if (n > 0)
            record(h, SH_FIRED, (uint32_t)n);
    }
    h->now = t;
}

int sh_write(struct sh *h, uint32_t cpu, uint32_t reg, uint32_t val)
{
    uint8_t b[4] = { val & 0xff, (val >> 8) & 0xff, (val >> 16) & 0xff, val >> 24 };
    return vmwdt_mmio_write(h->dev, (uint64_t)cpu * VMWDT_REG_STRIDE + reg, b, 4);
}

uint32_t sh_read(struct sh *h, uint32_t cpu, uint32_t reg)
{
    uint8_t b[4];
    ck_assert_int_eq(vmwdt_mmio_read(h->dev, (uint64_t)cpu * VMWDT_REG_STRIDE + reg, b, 4), 0);
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

char *sh_snapshot(struct sh *h)
{
    char *lib = NULL;
    ck_assert_int_eq(vmwdt_snapshot_json(h->dev, &lib), 0);
    ck_assert_ptr_nonnull(lib);
    char *copy = strdup(lib);
    vmwdt_free(lib);
    ck_assert_ptr_nonnull(copy);
    return copy;
}

int sh_events_since(const struct sh *h, int64_t t, struct sh_event *out, int max)
{
    int n = 0;
    for (int i = 0; i < h->nev; i++) {
        if (h->ev[i].t < t)
            continue;
        ck_assert_int_lt(n, max);
        out[n] = h->ev[i];
        out[n].t -= t;
        n++;
    }
    return n;
}

char *sh_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);
    ck_assert_ptr_nonnull(buf);
    for (;;) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap)
            break;
        cap *= 2;
        buf = realloc(buf, cap + 1);
        ck_assert_ptr_nonnull(buf);
    }
    fclose(f);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}
