/*
 * Snapshot, restore and migration through the public ABI in virtual time (EXTERNAL timers).
 *
 * Every reachable per-vCPU state is snapshotted on a source device and restored into a fresh
 * one created at another host time with guest clocks starting over at 0; after wake, the fresh
 * device must produce the same events as the source, shifted by the difference of the wake
 * times. The contract's migration example is checked to the nanosecond, and failed restores
 * must leave the device exactly as it was.
 */
#include <check.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snap_host.h"
#include "vmwdt_test.h"

static const char *const ACTION_NAME[] = { "irq_then_reset", "irq_only", "reset", "none" };

/* A member of vm_wdts[cpu] in a snapshot document. */
static json_t *vcpu_member(json_t *root, uint32_t cpu, const char *key)
{
    json_t *v = json_object_get(json_array_get(json_object_get(root, "vm_wdts"), cpu), key);
    ck_assert_msg(v != NULL, "vm_wdts[%u].%s missing", cpu, key);
    return v;
}

static json_t *parse(const char *doc)
{
    json_error_t e;
    json_t *root = json_loads(doc, JSON_REJECT_DUPLICATES, &e);
    ck_assert_msg(root != NULL, "snapshot is not JSON: %s", e.text);
    return root;
}

static void expect_flags(json_t *root, uint32_t cpu, bool enabled, bool triggered, bool stopped)
{
    ck_assert_msg(json_is_true(vcpu_member(root, cpu, "is_enabled")) == enabled,
                  "vm_wdts[%u].is_enabled", cpu);
    ck_assert_msg(json_is_true(vcpu_member(root, cpu, "stall_evt_ppi_triggered")) == triggered,
                  "vm_wdts[%u].stall_evt_ppi_triggered", cpu);
    ck_assert_msg(json_is_true(vcpu_member(root, cpu, "stopped")) == stopped,
                  "vm_wdts[%u].stopped", cpu);
}

static int64_t budget_ns(json_t *root, uint32_t cpu)
{
    return json_integer_value(vcpu_member(root, cpu, "next_expiration_interval_ns"));
}

/* The document without last_guest_time_ms, which is informative and depends on the clock. */
static char *canonical(const char *doc)
{
    json_t *root = parse(doc);
    json_t *arr = json_object_get(root, "vm_wdts");
    for (size_t i = 0; i < json_array_size(arr); i++)
        json_object_del(json_array_get(arr, i), "last_guest_time_ms");
    char *s = json_dumps(root, JSON_SORT_KEYS | JSON_COMPACT);
    json_decref(root);
    return s;
}

static void enable(struct sh *h, uint32_t cpu, uint32_t freq, uint32_t load)
{
    ck_assert_int_eq(sh_write(h, cpu, VMWDT_REG_CLOCK_FREQ_HZ, freq), 0);
    ck_assert_int_eq(sh_write(h, cpu, VMWDT_REG_LOAD_CNT, load), 0);
    ck_assert_int_eq(sh_write(h, cpu, VMWDT_REG_STATUS, 1), 0);
}

/*
 * The contract's migration: pet at t0 (f = 10, LOAD_CNT = 80: an 8 s window), sleep and
 * snapshot at t0 + 3 s, destroy; a fresh device created later with guest clocks at 0 restores
 * and wakes at T: the interrupt comes at exactly T + 5 s and the reset at exactly T + 13 s.
 */
static void migrate_example(enum vmwdt_clock clock)
{
    const int64_t t0 = SH_S(1010);
    struct sh *src = sh_new(2, clock, VMWDT_ACTION_IRQ_THEN_RESET, SH_S(1000));
    sh_advance_to(src, t0 - SH_S(4));
    enable(src, 0, 10, 80);
    sh_advance_to(src, t0);
    ck_assert_int_eq(sh_write(src, 0, VMWDT_REG_LOAD_CNT, 80), 0); /* the pet */
    sh_advance_to(src, t0 + SH_S(3));
    ck_assert_int_eq(vmwdt_sleep(src->dev), 0);
    sh_advance_to(src, t0 + SH_S(60)); /* asleep: nothing may fire */
    ck_assert_int_eq(src->nev, 0);
    char *doc = sh_snapshot(src);
    sh_free(src);

    json_t *root = parse(doc);
    ck_assert(json_is_true(json_object_get(root, "activated")));
    expect_flags(root, 0, true, false, false);
    expect_flags(root, 1, false, false, false);
    ck_assert_int_eq(budget_ns(root, 0), SH_S(5));
    ck_assert_int_eq(json_integer_value(vcpu_member(root, 0, "next_expiration_interval_ms")),
                     5000);
    ck_assert_int_eq(json_integer_value(vcpu_member(root, 0, "window_ns")), SH_S(8));
    json_decref(root);

    const int64_t created = SH_S(50000), T = created + SH_S(47);
    struct sh *dst = sh_new(2, clock, VMWDT_ACTION_IRQ_THEN_RESET, created);
    sh_advance_to(dst, created + SH_S(7));
    ck_assert_int_eq(vmwdt_restore_json(dst->dev, doc), 0);
    ck_assert_int_eq(vmwdt_next_deadline_ns(dst->dev), INT64_MAX);
    sh_advance_to(dst, T); /* restored devices count nothing before wake */
    ck_assert_int_eq(dst->nev, 0);
    ck_assert_int_eq(vmwdt_wake(dst->dev), 0);
    ck_assert_int_eq(vmwdt_next_deadline_ns(dst->dev), T + SH_S(5));
    sh_advance_to(dst, T + SH_S(60));
    struct sh_event ev[8];
    int n = sh_events_since(dst, T, ev, 8);
    ck_assert_int_eq(n, 4);
    ck_assert_int_eq(ev[0].kind, SH_IRQ);
    ck_assert_int_eq(ev[0].cpu, 0);
    ck_assert_int_eq(ev[0].t, SH_S(5));
    ck_assert_int_eq(ev[1].kind, SH_FIRED);
    ck_assert_int_eq(ev[2].kind, SH_RESET);
    ck_assert_int_eq(ev[2].cpu, 0);
    ck_assert_int_eq(ev[2].t, SH_S(13));
    ck_assert_int_eq(ev[3].kind, SH_FIRED);
    free(doc);
    sh_free(dst);
}

START_TEST(migration_example_host_clock)
{
    migrate_example(VMWDT_CLOCK_HOST);
}
END_TEST

START_TEST(migration_example_monotonic_clock)
{
    migrate_example(VMWDT_CLOCK_MONOTONIC);
}
END_TEST

/* The rebasing is on guest time: a vCPU frozen on the destination keeps its budget. */
START_TEST(migration_counts_destination_guest_time)
{
    struct sh *src = sh_new(1, VMWDT_CLOCK_HOST, VMWDT_ACTION_IRQ_THEN_RESET, 0);
    enable(src, 0, 10, 80);
    sh_advance_to(src, SH_S(3));
    ck_assert_int_eq(vmwdt_sleep(src->dev), 0);
    char *doc = sh_snapshot(src);
    sh_free(src);

    struct sh *dst = sh_new(1, VMWDT_CLOCK_HOST, VMWDT_ACTION_IRQ_THEN_RESET, SH_S(100));
    ck_assert_int_eq(vmwdt_restore_json(dst->dev, doc), 0);
    ck_assert_int_eq(vmwdt_wake(dst->dev), 0);
    sh_advance_to(dst, SH_S(102));
    sh_guest_run(dst, 0, false);
    sh_advance_to(dst, SH_S(112)); /* 10 s frozen: not counted */
    ck_assert_int_eq(dst->nev, 0);
    sh_guest_run(dst, 0, true);
    sh_advance_to(dst, SH_S(200));
    ck_assert_int_ge(dst->nev, 1);
    ck_assert_int_eq(dst->ev[0].kind, SH_IRQ);
    ck_assert_int_eq(dst->ev[0].t, SH_S(115));
    free(doc);
    sh_free(dst);
}
END_TEST

/*
 * Every reachable state on four vCPUs at S = 5.5 s (guest clocks from 0 s):
 *   0: enabled, petted, then disabled;
 *   1: counting its first window (f = 10, 8 s, petted at 2 s; with the HOST clock its guest
 *      clock was frozen from 3 s to 4 s);
 *   2: 3 s window from 1 s: first expiry at 4 s (IRQ_THEN_RESET: second window until 7 s);
 *   3: 1 s window from 1 s: final expiry long past (stopped).
 */
#define STATE_S SH_MS(5500)

static struct sh *build_states(enum vmwdt_clock clock, enum vmwdt_action action, int64_t origin)
{
    struct sh *h = sh_new(4, clock, action, origin);
    sh_advance_to(h, origin + SH_S(1));
    enable(h, 0, 10, 20);
    enable(h, 1, 10, 80);
    enable(h, 2, 100, 300);
    enable(h, 3, 1000, 1000);
    sh_advance_to(h, origin + SH_S(2));
    ck_assert_int_eq(sh_write(h, 1, VMWDT_REG_LOAD_CNT, 80), 0);
    ck_assert_int_eq(sh_write(h, 0, VMWDT_REG_LOAD_CNT, 20), 0);
    ck_assert_int_eq(sh_write(h, 0, VMWDT_REG_STATUS, 0), 0);
    sh_advance_to(h, origin + SH_S(3));
    sh_guest_run(h, 1, false);
    sh_advance_to(h, origin + SH_S(4));
    sh_guest_run(h, 1, true);
    sh_advance_to(h, origin + STATE_S);
    return h;
}

/* What the document must say of each vCPU at S. */
static void check_state_document(const char *doc, enum vmwdt_clock clock,
                                 enum vmwdt_action action)
{
    json_t *root = parse(doc);
    bool irq = action == VMWDT_ACTION_IRQ_THEN_RESET || action == VMWDT_ACTION_IRQ_ONLY;
    ck_assert(json_is_true(json_object_get(root, "activated")));
    ck_assert_int_eq(json_integer_value(json_object_get(root, "cpu_count")), 4);
    expect_flags(root, 0, false, false, false);
    expect_flags(root, 1, true, false, false);
    /* HOST: 2.5 s of guest time since the pet; MONOTONIC: host time, 3.5 s. */
    ck_assert_int_eq(budget_ns(root, 1),
                     clock == VMWDT_CLOCK_HOST ? SH_MS(5500) : SH_MS(4500));
    if (action == VMWDT_ACTION_IRQ_THEN_RESET) {
        expect_flags(root, 2, true, true, false);
        ck_assert_int_eq(budget_ns(root, 2), SH_MS(1500));
    } else {
        expect_flags(root, 2, true, irq, true);
    }
    expect_flags(root, 3, true, irq, true);
    json_decref(root);
}

/* Register values of every vCPU, for comparing two devices. */
static void read_all(struct sh *h, uint32_t regs[4][4])
{
    for (uint32_t cpu = 0; cpu < 4; cpu++)
        for (uint32_t r = 0; r < 4; r++)
            regs[cpu][r] = sh_read(h, cpu, r * 4);
}

static void assert_same_events(const struct sh_event *a, int na, const struct sh_event *b,
                               int nb, const char *what)
{
    ck_assert_msg(na == nb, "%s: %d events on the source, %d after restore", what, na, nb);
    for (int i = 0; i < na; i++) {
        ck_assert_msg(a[i].t == b[i].t && a[i].kind == b[i].kind && a[i].cpu == b[i].cpu,
                      "%s: event %d differs: (%lld, %d, %u) vs (%lld, %d, %u)", what, i,
                      (long long)a[i].t, a[i].kind, a[i].cpu, (long long)b[i].t, b[i].kind,
                      b[i].cpu);
    }
}

static void round_trip_states(enum vmwdt_clock clock, enum vmwdt_action action)
{
    char what[64];
    snprintf(what, sizeof(what), "%s, %s clock", ACTION_NAME[action],
             clock == VMWDT_CLOCK_HOST ? "HOST" : "MONOTONIC");

    /* The source: sleep, snapshot and wake at S, then run on. */
    struct sh *src = build_states(clock, action, SH_S(7));
    const int64_t s_at = src->now;
    ck_assert_int_eq(vmwdt_sleep(src->dev), 0);
    char *doc = sh_snapshot(src);
    uint32_t src_regs[4][4];
    read_all(src, src_regs);
    ck_assert_int_eq(vmwdt_wake(src->dev), 0);
    check_state_document(doc, clock, action);

    /* The destination: created elsewhere in time, restored, woken 20 s later. */
    struct sh *dst = sh_new(4, clock, action, SH_S(3000));
    sh_advance_to(dst, SH_S(3001));
    ck_assert_int_eq(vmwdt_restore_json(dst->dev, doc), 0);
    char *again = sh_snapshot(dst);
    char *c1 = canonical(doc), *c2 = canonical(again);
    ck_assert_msg(strcmp(c1, c2) == 0, "%s: restored state differs:\n%s\n%s", what, c1, c2);
    free(c1);
    free(c2);
    free(again);
    uint32_t dst_regs[4][4];
    read_all(dst, dst_regs);
    ck_assert_msg(memcmp(src_regs, dst_regs, sizeof(src_regs)) == 0,
                  "%s: registers differ after restore", what);
    sh_advance_to(dst, SH_S(3021));
    ck_assert_int_eq(dst->nev, 0);
    const int64_t w_at = dst->now;
    ck_assert_int_eq(vmwdt_wake(dst->dev), 0);

    /* Both run 30 s unattended, then the guest pets the stopped vCPU 3 and vCPU 0 re-enables. */
    for (int phase = 0; phase < 2; phase++) {
        struct sh *both[2] = { src, dst };
        const int64_t base[2] = { s_at, w_at };
        for (int k = 0; k < 2; k++) {
            if (phase == 1) {
                ck_assert_int_eq(sh_write(both[k], 3, VMWDT_REG_LOAD_CNT, 500), 0);
                ck_assert_int_eq(sh_write(both[k], 0, VMWDT_REG_STATUS, 1), 0);
            }
            sh_advance_to(both[k], base[k] + SH_S(30) * (phase + 1));
        }
    }
    struct sh_event a[SH_MAX_EVENTS], b[SH_MAX_EVENTS];
    int na = sh_events_since(src, s_at, a, SH_MAX_EVENTS);
    int nb = sh_events_since(dst, w_at, b, SH_MAX_EVENTS);
    assert_same_events(a, na, b, nb, what);
    /* Not vacuous: something fires in each run (NONE counts its logged expiries). */
    ck_assert_msg(na >= 2, "%s: nothing fired", what);
    if (action == VMWDT_ACTION_IRQ_THEN_RESET && clock == VMWDT_CLOCK_HOST) {
        /* vCPU 2 resets 1.5 s in; vCPU 1 interrupts at 5.5 s and resets at 13.5 s. */
        ck_assert_int_eq(b[0].kind, SH_RESET);
        ck_assert_int_eq(b[0].cpu, 2);
        ck_assert_int_eq(b[0].t, SH_MS(1500));
        ck_assert_int_eq(b[2].kind, SH_IRQ);
        ck_assert_int_eq(b[2].cpu, 1);
        ck_assert_int_eq(b[2].t, SH_MS(5500));
        ck_assert_int_eq(b[4].kind, SH_RESET);
        ck_assert_int_eq(b[4].cpu, 1);
        ck_assert_int_eq(b[4].t, SH_MS(13500));
    }
    free(doc);
    sh_free(src);
    sh_free(dst);
}

START_TEST(round_trip_every_state)
{
    static const enum vmwdt_clock clocks[] = { VMWDT_CLOCK_HOST, VMWDT_CLOCK_MONOTONIC };
    round_trip_states(clocks[_i / 4], (enum vmwdt_action)(_i % 4));
}
END_TEST

/* A fresh device has not been activated; enabling a vCPU activates it. */
START_TEST(activated_flag)
{
    struct sh *h = sh_new(2, VMWDT_CLOCK_HOST, VMWDT_ACTION_IRQ_THEN_RESET, 0);
    char *doc = sh_snapshot(h);
    json_t *root = parse(doc);
    ck_assert(json_is_false(json_object_get(root, "activated")));
    expect_flags(root, 0, false, false, false);
    json_decref(root);
    free(doc);
    enable(h, 1, 10, 10);
    doc = sh_snapshot(h);
    root = parse(doc);
    ck_assert(json_is_true(json_object_get(root, "activated")));
    expect_flags(root, 1, true, false, false);
    json_decref(root);
    free(doc);
    sh_free(h);
}
END_TEST

/*
 * A vCPU enabled while a snapshot is being taken: the document is consistent (activated is
 * true when an entry is enabled) instead of being refused by the encoder. The enable is made
 * from the guest_time_ns callback, which the snapshot calls for vCPU 0 before it reads vCPU 1.
 */
struct racer {
    vmwdt *dev;
    bool armed;
};

static int64_t racer_guest_time(void *opaque, uint32_t cpu)
{
    struct racer *r = opaque;

    if (r->armed && cpu == 0) {
        uint8_t one[4] = { 1, 0, 0, 0 };
        r->armed = false;
        ck_assert_int_eq(vmwdt_mmio_write(r->dev, VMWDT_REG_STRIDE + VMWDT_REG_STATUS, one, 4),
                         0);
    }
    return 0;
}

static int64_t racer_now(void *opaque)
{
    (void)opaque;
    return 0;
}

START_TEST(enable_during_snapshot)
{
    struct racer r = { 0 };
    struct vmwdt_config cfg = { sizeof(cfg), 2, VMWDT_CLOCK_HOST, VMWDT_ACTION_IRQ_THEN_RESET,
                                VMWDT_TIMERS_EXTERNAL, 0 };
    struct vmwdt_host_ops ops = { .size = sizeof(ops), .opaque = &r,
                                  .guest_time_ns = racer_guest_time, .now_ns = racer_now };
    uint8_t b[4] = { 10, 0, 0, 0 };
    char *doc = NULL;

    ck_assert_int_eq(vmwdt_create(&cfg, &ops, &r.dev), 0);
    ck_assert_int_eq(vmwdt_mmio_write(r.dev, VMWDT_REG_STRIDE + VMWDT_REG_CLOCK_FREQ_HZ, b, 4),
                     0);
    ck_assert_int_eq(vmwdt_mmio_write(r.dev, VMWDT_REG_STRIDE + VMWDT_REG_LOAD_CNT, b, 4), 0);
    r.armed = true;
    ck_assert_int_eq(vmwdt_snapshot_json(r.dev, &doc), 0);
    ck_assert(!r.armed);
    json_t *root = parse(doc);
    ck_assert(json_is_true(json_object_get(root, "activated")));
    expect_flags(root, 1, true, false, false);
    json_decref(root);
    /* The document restores. */
    ck_assert_int_eq(vmwdt_restore_json(r.dev, doc), 0);
    vmwdt_free(doc);
    vmwdt_destroy(r.dev);
}
END_TEST

static const char *const BAD_DOCS[] = {
    "not json",
    "{\"format\":\"vmwdt-snapshot\",\"version\":2}",
    "{\"format\":\"vmwdt-snapshot\",\"version\":1,\"cpu_count\":1,\"activated\":false,"
    "\"vm_wdts\":[]}",
    "{\"activated\":true,\"vm_wdts\":[{\"is_enabled\":true,\"timer_freq_hz\":4294967296,"
    "\"last_guest_time_ms\":0,\"next_expiration_interval_ms\":1}]}",
};

/* A failed restore leaves an awake device awake and counting exactly as before. */
START_TEST(failed_restore_keeps_device_awake)
{
    struct sh *h = sh_new(1, VMWDT_CLOCK_HOST, VMWDT_ACTION_IRQ_THEN_RESET, SH_S(5));
    enable(h, 0, 10, 80);
    sh_advance_to(h, SH_S(8));
    char *before = sh_snapshot(h);
    int64_t deadline = vmwdt_next_deadline_ns(h->dev);
    ck_assert_int_eq(deadline, SH_S(13));
    static const int want[] = { -EINVAL, -ENOTSUP, -EINVAL, -ERANGE };
    for (size_t i = 0; i < sizeof(BAD_DOCS) / sizeof(BAD_DOCS[0]); i++) {
        ck_assert_int_eq(vmwdt_restore_json(h->dev, BAD_DOCS[i]), want[i]);
        char *after = sh_snapshot(h);
        ck_assert_str_eq(after, before);
        free(after);
        ck_assert_int_eq(vmwdt_next_deadline_ns(h->dev), deadline);
    }
    ck_assert_int_eq(vmwdt_restore_json(h->dev, NULL), -EINVAL);
    sh_advance_to(h, SH_S(30));
    ck_assert_int_eq(h->nev, 4);
    ck_assert_int_eq(h->ev[0].kind, SH_IRQ);
    ck_assert_int_eq(h->ev[0].t, SH_S(13));
    ck_assert_int_eq(h->ev[2].kind, SH_RESET);
    ck_assert_int_eq(h->ev[2].t, SH_S(21));
    free(before);
    sh_free(h);
}
END_TEST

/* A failed restore leaves a sleeping device asleep, its budget intact. */
START_TEST(failed_restore_keeps_device_asleep)
{
    struct sh *h = sh_new(1, VMWDT_CLOCK_HOST, VMWDT_ACTION_IRQ_THEN_RESET, 0);
    enable(h, 0, 10, 80);
    sh_advance_to(h, SH_S(2));
    ck_assert_int_eq(vmwdt_sleep(h->dev), 0);
    ck_assert_int_eq(vmwdt_restore_json(h->dev, BAD_DOCS[1]), -ENOTSUP);
    ck_assert_int_eq(vmwdt_next_deadline_ns(h->dev), INT64_MAX);
    sh_advance_to(h, SH_S(50));
    ck_assert_int_eq(h->nev, 0);
    ck_assert_int_eq(vmwdt_wake(h->dev), 0);
    sh_advance_to(h, SH_S(60));
    ck_assert_int_ge(h->nev, 1);
    ck_assert_int_eq(h->ev[0].t, SH_S(56));
    sh_free(h);
}
END_TEST

/* A successful restore into an awake device leaves it asleep until wake. */
START_TEST(restore_leaves_device_asleep)
{
    struct sh *h = sh_new(1, VMWDT_CLOCK_HOST, VMWDT_ACTION_IRQ_THEN_RESET, 0);
    enable(h, 0, 10, 80);
    sh_advance_to(h, SH_S(1));
    char *doc = sh_snapshot(h); /* taken awake: 7 s left */
    ck_assert_int_eq(vmwdt_restore_json(h->dev, doc), 0);
    ck_assert_int_eq(vmwdt_next_deadline_ns(h->dev), INT64_MAX);
    sh_advance_to(h, SH_S(100));
    ck_assert_int_eq(h->nev, 0);
    ck_assert_int_eq(vmwdt_wake(h->dev), 0);
    ck_assert_int_eq(vmwdt_next_deadline_ns(h->dev), SH_S(107));
    free(doc);
    sh_free(h);
}
END_TEST

/* A crosvm document restores: its budget counts from wake, its second window resets. */
START_TEST(crosvm_document_restores)
{
    const char *doc =
        "{\"vm_wdts\":["
        "{\"is_enabled\":true,\"timer_freq_hz\":2,\"last_guest_time_ms\":41250,"
        "\"thread_id\":4242,\"process_id\":4200,\"next_expiration_interval_ms\":6500,"
        "\"stall_evt_ppi_triggered\":false,\"repeating_interval\":null},"
        "{\"is_enabled\":true,\"timer_freq_hz\":2,\"last_guest_time_ms\":40000,"
        "\"thread_id\":4243,\"process_id\":4200,\"next_expiration_interval_ms\":250,"
        "\"stall_evt_ppi_triggered\":true,"
        "\"repeating_interval\":{\"secs\":0,\"nanos\":500000000}}"
        "],\"activated\":true}";
    struct sh *h = sh_new(2, VMWDT_CLOCK_HOST, VMWDT_ACTION_IRQ_THEN_RESET, SH_S(9));
    ck_assert_int_eq(vmwdt_restore_json(h->dev, doc), 0);
    ck_assert_int_eq(vmwdt_wake(h->dev), 0);
    sh_advance_to(h, SH_S(30));
    struct sh_event ev[16];
    int n = sh_events_since(h, SH_S(9), ev, 16);
    /* vCPU 1 resets 250 ms in; vCPU 0 interrupts at 6.5 s, resets 6.5 s later (window = budget). */
    ck_assert_int_eq(n, 6);
    ck_assert_int_eq(ev[0].kind, SH_RESET);
    ck_assert_int_eq(ev[0].cpu, 1);
    ck_assert_int_eq(ev[0].t, SH_MS(250));
    ck_assert_int_eq(ev[2].kind, SH_IRQ);
    ck_assert_int_eq(ev[2].cpu, 0);
    ck_assert_int_eq(ev[2].t, SH_MS(6500));
    ck_assert_int_eq(ev[4].kind, SH_RESET);
    ck_assert_int_eq(ev[4].cpu, 0);
    ck_assert_int_eq(ev[4].t, SH_S(13));
    /* Its frequency and (absent) load count read back. */
    ck_assert_uint_eq(sh_read(h, 0, VMWDT_REG_CLOCK_FREQ_HZ), 2);
    ck_assert_uint_eq(sh_read(h, 0, VMWDT_REG_LOAD_CNT), 0);
    sh_free(h);
}
END_TEST

/*
 * A document at the edge of every range is valid: a 136-year budget left at f = 2^32 - 1.
 * CURRENT_CNT then saturates at 0xFFFFFFFF (the ticks left do not fit 32 bits) rather than
 * wrapping around, and the countdown ends after the whole budget.
 */
START_TEST(extreme_document_restores)
{
    const char *doc =
        "{\"format\":\"vmwdt-snapshot\",\"version\":1,\"cpu_count\":1,\"activated\":true,"
        "\"vm_wdts\":[{\"is_enabled\":true,\"timer_freq_hz\":4294967295,"
        "\"load_cnt\":4294967295,\"last_guest_time_ms\":0,"
        "\"next_expiration_interval_ms\":4294967295000,\"repeating_interval\":null,"
        "\"stall_evt_ppi_triggered\":false,\"stopped\":false,"
        "\"next_expiration_interval_ns\":4294967295000000000,"
        "\"window_ns\":4294967295000000000}]}";
    const int64_t budget = 4294967295000000000LL;
    struct sh *h = sh_new(1, VMWDT_CLOCK_HOST, VMWDT_ACTION_IRQ_THEN_RESET, SH_S(1));

    ck_assert_int_eq(vmwdt_restore_json(h->dev, doc), 0);
    ck_assert_uint_eq(sh_read(h, 0, VMWDT_REG_STATUS), 1);
    ck_assert_uint_eq(sh_read(h, 0, VMWDT_REG_CURRENT_CNT), 0xFFFFFFFFu);
    ck_assert_int_eq(vmwdt_wake(h->dev), 0);
    ck_assert_int_eq(vmwdt_next_deadline_ns(h->dev), SH_S(1) + budget);
    /* Budget times f overflows 64 bits: a wrapped product read below 2^32 at 2, 6, 10, 15
     * and 19 s. */
    for (int k = 0; k < 20; k++) {
        sh_advance_to(h, SH_S(1 + k));
        ck_assert_msg(sh_read(h, 0, VMWDT_REG_CURRENT_CNT) == 0xFFFFFFFFu,
                      "CURRENT_CNT 0x%x after %d s", sh_read(h, 0, VMWDT_REG_CURRENT_CNT), k);
    }
    /* 1 ns before the end, 4.29 ticks at 2^32 - 1 Hz are left: 5, rounded up. */
    sh_advance_to(h, SH_S(1) + budget - 1);
    ck_assert_uint_eq(sh_read(h, 0, VMWDT_REG_CURRENT_CNT), 5);
    ck_assert_int_eq(h->nev, 0);
    sh_advance_to(h, SH_S(1) + budget);
    ck_assert_int_eq(h->nev, 2);
    ck_assert_int_eq(h->ev[0].kind, SH_IRQ);
    ck_assert_int_eq(h->ev[0].t, SH_S(1) + budget);
    sh_free(h);
}
END_TEST

static Suite *migrate_suite(void)
{
    Suite *s = suite_create("snapshot_migrate");
    TCase *tc = tcase_create("migrate");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, migration_example_host_clock);
    tcase_add_test(tc, migration_example_monotonic_clock);
    tcase_add_test(tc, migration_counts_destination_guest_time);
    tcase_add_loop_test(tc, round_trip_every_state, 0, 8);
    tcase_add_test(tc, activated_flag);
    tcase_add_test(tc, enable_during_snapshot);
    tcase_add_test(tc, failed_restore_keeps_device_awake);
    tcase_add_test(tc, failed_restore_keeps_device_asleep);
    tcase_add_test(tc, restore_leaves_device_asleep);
    tcase_add_test(tc, crosvm_document_restores);
    tcase_add_test(tc, extreme_document_restores);
    suite_add_tcase(s, tc);
    return s;
}

VMWDT_SUITE_MAIN(migrate_suite)
