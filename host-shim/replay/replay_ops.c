/*
 * Applying a trace's records to the plugin in virtual time: the host callbacks that give it
 * time, running the timers due before a record, and one case per op in apply().
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replay.h"

static const char *const reg_names[] = {"STATUS", "LOAD_CNT", "CURRENT_CNT", "CLOCK_FREQ_HZ"};

int64_t guest_read(const struct guest_clock *c, int64_t now)
{
    return c->running ? c->base + (now - c->since) : c->base;
}

static int64_t on_guest_time(void *opaque, uint32_t cpu)
{
    struct replay *rp = opaque;
    return cpu < rp->cpus ? guest_read(&rp->clock[cpu], rp->now) : 0;
}

static int64_t on_now(void *opaque)
{
    return ((struct replay *)opaque)->now;
}

static void on_log(void *opaque, int level, const char *msg)
{
    fprintf(stderr, "vmwdt-replay: plugin (level %d) at t=%" PRId64 ": %s\n", level,
            ((struct replay *)opaque)->now, msg);
}

/* The device's configuration and host callbacks: virtual time, EXTERNAL timers. */
void replay_host_ops(struct replay *rp, uint32_t action)
{
    rp->cfg = (struct vmwdt_config){.size = sizeof rp->cfg, .cpu_count = rp->cpus,
                                   .clock = VMWDT_CLOCK_HOST, .action = action,
                                   .timers = VMWDT_TIMERS_EXTERNAL};
    rp->ops = (struct vmwdt_host_ops){.size = sizeof rp->ops, .opaque = rp, .raise_irq = on_irq,
                                     .request_reset = on_reset, .guest_time_ns = on_guest_time,
                                     .now_ns = on_now, .log = on_log};
}

const char *why(struct replay *rp, int rc)
{
    const char *s = vmwdt_plugin_strerror(rp->plugin, rc);
    return s ? s : strerror(rc < 0 ? -rc : rc);
}

bool advance(struct replay *rp, int64_t t, size_t line)
{
    int stuck = 0;
    long empty = 0;
    for (;;) {
        int64_t d = vmwdt_plugin_next_deadline_ns(rp->plugin, rp->dev);
        if (d == INT64_MAX || d > t)
            break;
        if (d > rp->now)
            rp->now = d;
        int rc = vmwdt_plugin_run_due(rp->plugin, rp->dev, rp->now);
        if (rc < 0) {
            failure(rp, line, "run_due(%" PRId64 ") failed: %s", rp->now, why(rp, rc));
            return false;
        }
        if (rc == 0 && vmwdt_plugin_next_deadline_ns(rp->plugin, rp->dev) == d) {
            if (++stuck >= STUCK_LIMIT) {
                failure(rp, line, "the plugin is stuck: its deadline stays at %" PRId64
                                  " and run_due() reports nothing", d);
                return false;
            }
        } else {
            stuck = 0;
        }
        /* Deadlines that move on without an event (a frozen guest clock near the end of its
         * window) would take time without bound before a record far ahead. */
        empty = rc == 0 ? empty + 1 : 0;
        if (empty >= POLL_LIMIT) {
            failure(rp, line, "run_due() was called %ld times in a row without an event, up to "
                              "t=%" PRId64 " of %" PRId64 " (a guest clock frozen close to the "
                              "end of its window?); the replay stops", empty, rp->now, t);
            return false;
        }
    }
    if (t > rp->now)
        rp->now = t;
    return true;
}

int create_device(struct replay *rp)
{
    return vmwdt_plugin_create(rp->plugin, &rp->cfg, &rp->ops, &rp->dev);
}

static void do_read(struct replay *rp, const struct record *r)
{
    uint8_t b[4];
    int rc = vmwdt_plugin_mmio_read(rp->plugin, rp->dev, r->cpu * VMWDT_REG_STRIDE + r->reg, b, 4);
    uint32_t v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    const char *reg = reg_names[r->reg / 4];
    if (rc < 0 && r->has_expect)
        failure(rp, r->line, "read of cpu %u %s was refused (%s), expected %" PRIu32, r->cpu, reg,
                why(rp, rc), r->expect);
    else if (rc < 0)
        fprintf(stderr, "vmwdt-replay: line %zu: read of cpu %u %s refused: %s\n", r->line,
                r->cpu, reg, why(rp, rc));
    else if (r->has_expect && v != r->expect)
        failure(rp, r->line, "read of cpu %u %s returned %" PRIu32 ", expected %" PRIu32, r->cpu,
                reg, v, r->expect);
}

static void do_write(struct replay *rp, const struct record *r)
{
    uint8_t b[4] = {(uint8_t)r->value, (uint8_t)(r->value >> 8), (uint8_t)(r->value >> 16),
                    (uint8_t)(r->value >> 24)};
    const void *data = r->op == OP_WRITE ? b : r->data;
    uint32_t len = r->op == OP_WRITE ? 4 : r->len;
    uint64_t off = r->op == OP_WRITE ? r->cpu * VMWDT_REG_STRIDE + r->reg : r->offset;
    int rc = vmwdt_plugin_mmio_write(rp->plugin, rp->dev, off, data, len);
    if (rc < 0) {
        rp->refused++;
        fprintf(stderr, "vmwdt-replay: line %zu: write of %" PRIu32 " bytes at 0x%" PRIx64
                        " refused: %s\n", r->line, len, off, why(rp, rc));
    }
}

static void do_guest(struct replay *rp, const struct record *r)
{
    struct guest_clock *c = &rp->clock[r->cpu];
    if (c->running && !r->flag) {
        c->base = guest_read(c, rp->now);
        c->running = false;
    } else if (!c->running && r->flag) {
        c->since = rp->now;
        c->running = true;
    }
}

/* Returns false when the replay cannot go on (the device is gone). */
static bool do_restore(struct replay *rp, const struct record *r)
{
    if (r->flag) {
        vmwdt_plugin_destroy(rp->plugin, rp->dev);
        rp->dev = NULL;
        int rc = create_device(rp);
        if (rc < 0) {
            failure(rp, r->line, "restore: creating the new device failed: %s", why(rp, rc));
            return false;
        }
    }
    int rc = vmwdt_plugin_restore_json(rp->plugin, rp->dev, rp->snapshot);
    if (rc < 0)
        failure(rp, r->line, "restore refused: %s", why(rp, rc));
    return true;
}

bool apply(struct replay *rp, struct record *r)
{
    int rc = 0;
    const char *name = NULL;
    switch (r->op) {
    case OP_WRITE:
    case OP_WRITE_RAW:
        do_write(rp, r);
        break;
    case OP_READ:
        do_read(rp, r);
        break;
    case OP_GUEST:
        do_guest(rp, r);
        break;
    case OP_SLEEP:
        name = "sleep";
        rc = vmwdt_plugin_sleep(rp->plugin, rp->dev);
        break;
    case OP_WAKE:
        name = "wake";
        rc = vmwdt_plugin_wake(rp->plugin, rp->dev);
        break;
    case OP_SNAPSHOT: {
        char *json = NULL;
        name = "snapshot";
        rc = vmwdt_plugin_snapshot_json(rp->plugin, rp->dev, &json);
        if (rc >= 0) {
            vmwdt_plugin_free(rp->plugin, rp->snapshot);
            rp->snapshot = json;
        }
        break;
    }
    case OP_RESTORE:
        return do_restore(rp, r);
    case OP_EXPECT:
        rp->expects++;
        compare_events(rp, r->line, "irq", &rp->irq, &r->irq);
        compare_events(rp, r->line, "reset", &rp->reset, &r->reset);
        break;
    case OP_ACTION: {
        char err[512];
        name = "action";
        rc = vmwdt_plugin_set_action(rp->plugin, rp->dev, r->value);
        if (rc == -ENOSYS && vmwdt_plugin_check_fn(rp->plugin, "vmwdt_set_action", err,
                                                   sizeof err) == -ENOSYS) {
            failure(rp, r->line, "action: %s", err);
            rc = 0;
        }
        break;
    }
    case OP_END:
        break;
    }
    if (rc < 0)
        failure(rp, r->line, "%s failed: %s", name, why(rp, rc));
    return true;
}

