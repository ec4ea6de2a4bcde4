/*
 * vmwdt-replay [--plugin PATH] TRACE.jsonl
 *
 * Replays a trace (DESIGN.md section 6) against a vmwdt plugin loaded through the host loader,
 * in virtual time: the device runs with VMWDT_TIMERS_EXTERNAL and VMWDT_CLOCK_HOST, now_ns()
 * is the virtual time and each vCPU's guest clock is a virtual clock that runs at host rate
 * from t = 0 unless the trace pauses it.
 *
 * Output on stdout: one line per event, {"t": T, "event": "irq"|"reset", "cpu": C}, in the
 * order the plugin reported them, then one summary line. Diagnostics go to stderr, each
 * naming the trace line. Exit status: 0 every expectation held; 1 one did not (or the plugin
 * refused a call the trace needs: sleep, wake, snapshot, restore, run_due); 2 the trace cannot
 * be read; 3 the replay could not start (bad usage, the plugin did not load, the device could
 * not be created).
 *
 * The exact semantics chosen where the contract leaves room:
 * - The whole trace is read and checked before anything runs, so a trace that cannot be read
 *   exits 2 without printing any event.
 * - Lines holding only white space are skipped. The first other line is the header:
 *   {"vmwdt_trace": 1, "cpus": N, "action": A}, N in 1..4096, A optional (default
 *   "irq_then_reset"). Every later line is an object with an integer "t" (0..2^63-1, never
 *   below the previous record's) and an "op". Keys that the op does not define are an error,
 *   except "comment", which any line may carry (any JSON value). Integers must be JSON
 *   integers: 1.0 is refused.
 * - write: either "cpu", "reg", "value" (0..2^32-1), or "offset" (0..2^63-1) and "data" (hex,
 *   two digits a byte, either case, empty allowed); mixing the two forms is an error. A write
 *   the plugin refuses is reported on stderr and counted in the summary ("refused"); it is no
 *   failure, since refusing bad guest input is the device's job.
 * - read: "cpu", "reg", optional "expect" (0..2^32-1). With "expect", a refused read or another
 *   value is a failure; without it the value is not checked.
 * - "cpu" must name an existing vCPU (0..cpus-1), also inside expect lists.
 * - guest: "running" false freezes the vCPU's guest clock at its reading at t; true lets it run
 *   again from t. Repeating the current state changes nothing.
 * - restore: needs an earlier snapshot record in the file (else the trace is unreadable). It
 *   restores the last snapshot taken. "fresh": true destroys the device and creates a new one
 *   with the same configuration before restoring (migration); events the old device had
 *   pending are lost with it. The guest clocks carry on as they are. A restored device is
 *   asleep: the trace wakes it with a "wake" record. A refused restore is a failure.
 * - expect: "irq" and "reset", each optional (missing means none), lists of [t, cpu]. The events
 *   of each kind reported since the previous expect record (or since the start) must equal the
 *   list as a multiset; order does not matter. Every expect record starts a new window, even
 *   when it fails.
 * - Timers: before a record at time t is applied, d = next_deadline_ns() is polled and, while
 *   d <= t (INT64_MAX meaning none), the virtual time is set to d (never moved back: a deadline
 *   already in the past runs at the current time) and run_due() is called with it. Events are
 *   stamped with the virtual time of the call that reported them. Then the virtual time becomes
 *   t and the record is applied. So an event due at exactly a record's t comes before that
 *   record takes effect. If the deadline stays put while run_due() reports nothing 1000 times
 *   in a row, the plugin is stuck: a failure, and the replay stops. So is a plugin that needs
 *   10000000 calls of run_due() in a row without an event before one record: a plugin exact
 *   in virtual time polls a vCPU whose guest clock is frozen once per remaining budget, and a
 *   budget of a few nanoseconds across a long pause would keep the replay busy for years.
 * - action: "action" as in the header; vmwdt_set_action (ABI 1.1) from t on. A plugin of ABI
 *   1.0 lacks it: a failure that says so.
 * - end: timers due up to its t run, then the replay stops. Records after it are an error. A
 *   trace without end stops after its last record (timers due up to that record's t ran).
 * - A failed expectation does not stop the replay: every failure is reported, then exit 1.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "vmwdt_loader.h"

#define EXIT_EXPECT 1
#define EXIT_TRACE 2
#define EXIT_SETUP 3
#define STUCK_LIMIT 1000
#define POLL_LIMIT 10000000

enum op {
    OP_WRITE,
    OP_WRITE_RAW,
    OP_READ,
    OP_GUEST,
    OP_SLEEP,
    OP_WAKE,
    OP_SNAPSHOT,
    OP_RESTORE,
    OP_EXPECT,
    OP_ACTION,
    OP_END
};

struct event {
    int64_t t;
    uint32_t cpu;
};

struct event_list {
    struct event *v;
    size_t n, cap;
};

struct record {
    size_t line;
    enum op op;
    int64_t t;
    uint32_t cpu, reg, value;
    bool has_expect;
    uint32_t expect;
    uint64_t offset;
    uint8_t *data;
    uint32_t len;
    bool flag; /* guest: running; restore: fresh */
    struct event_list irq, reset;
};

struct trace {
    uint32_t cpus;
    uint32_t action;
    struct record *rec;
    size_t n, cap;
};

/* A vCPU's virtual guest clock: base while frozen, base + (now - since) while running. */
struct guest_clock {
    bool running;
    int64_t base, since;
};

struct replay {
    struct vmwdt_plugin *plugin;
    vmwdt *dev;
    struct vmwdt_config cfg;
    struct vmwdt_host_ops ops;
    const struct trace *tr;
    int64_t now;
    struct guest_clock *clock;
    struct event_list irq, reset; /* since the previous expect */
    char *snapshot;
    size_t records, expects, failures, refused, irqs, resets;
};

static const char *const reg_names[] = {"STATUS", "LOAD_CNT", "CURRENT_CNT", "CLOCK_FREQ_HZ"};
static const char *const action_names[] = {"irq_then_reset", "irq_only", "reset", "none"};

static const char *g_trace_path = "-";

/* ---- Reading the trace ------------------------------------------------------------------ */

static void trace_error(size_t line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "vmwdt-replay: %s: line %zu: ", g_trace_path, line);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static int events_push(struct event_list *l, int64_t t, uint32_t cpu)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        struct event *v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return -ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = (struct event){t, cpu};
    return 0;
}

/* Every key of obj must be one of allowed (NULL-terminated) or "comment". */
static bool keys_allowed(json_t *obj, const char *const *allowed, size_t line, const char *what)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        bool ok = strcmp(key, "comment") == 0;
        for (size_t i = 0; !ok && allowed[i]; i++)
            ok = strcmp(key, allowed[i]) == 0;
        if (!ok) {
            trace_error(line, "%s: unknown field \"%s\"", what, key);
            return false;
        }
    }
    return true;
}

static bool get_int(json_t *obj, const char *key, int64_t min, int64_t max, int64_t *out,
                    size_t line, const char *what)
{
    json_t *v = json_object_get(obj, key);
    if (!v) {
        trace_error(line, "%s: missing field \"%s\"", what, key);
        return false;
    }
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
        trace_error(line, "%s: \"%s\" must be an integer from %" PRId64 " to %" PRId64, what, key,
                    min, max);
        return false;
    }
    *out = json_integer_value(v);
    return true;
}

static bool get_u32(json_t *obj, const char *key, uint32_t max, uint32_t *out, size_t line,
                    const char *what)
{
    int64_t v;
    if (!get_int(obj, key, 0, max, &v, line, what))
        return false;
    *out = (uint32_t)v;
    return true;
}

static bool get_bool(json_t *obj, const char *key, bool *out, size_t line, const char *what)
{
    json_t *v = json_object_get(obj, key);
    if (!v) {
        trace_error(line, "%s: missing field \"%s\"", what, key);
        return false;
    }
    if (!json_is_boolean(v)) {
        trace_error(line, "%s: \"%s\" must be true or false", what, key);
        return false;
    }
    *out = json_is_true(v);
    return true;
}

static bool get_reg(json_t *obj, uint32_t *out, size_t line, const char *what)
{
    json_t *v = json_object_get(obj, "reg");
    if (!v) {
        trace_error(line, "%s: missing field \"reg\"", what);
        return false;
    }
    for (uint32_t i = 0; i < 4; i++)
        if (json_is_string(v) && strcmp(json_string_value(v), reg_names[i]) == 0) {
            *out = i * 4;
            return true;
        }
    trace_error(line, "%s: \"reg\" must be STATUS, LOAD_CNT, CURRENT_CNT or CLOCK_FREQ_HZ", what);
    return false;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)tolower((unsigned char)c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static bool get_hex(json_t *obj, struct record *r, size_t line)
{
    json_t *v = json_object_get(obj, "data");
    if (!json_is_string(v)) {
        trace_error(line, "write: %s", v ? "\"data\" must be a hex string" : "missing field \"data\"");
        return false;
    }
    size_t n = json_string_length(v);
    const char *s = json_string_value(v);
    if (n % 2 != 0 || n / 2 > UINT32_MAX) {
        trace_error(line, "write: \"data\" has an odd number of hex digits (%zu)", n);
        return false;
    }
    r->len = (uint32_t)(n / 2);
    r->data = malloc(r->len ? r->len : 1);
    if (!r->data) {
        trace_error(line, "out of memory");
        return false;
    }
    for (size_t i = 0; i < n; i += 2) {
        int hi = hex_digit(s[i]), lo = hex_digit(s[i + 1]);
        if (hi < 0 || lo < 0) {
            trace_error(line, "write: \"data\" has a character that is not a hex digit at %zu",
                        i + (hi < 0 ? 0 : 1));
            return false;
        }
        r->data[i / 2] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

static bool get_events(json_t *obj, const char *key, struct event_list *l, uint32_t cpus,
                       size_t line)
{
    json_t *list = json_object_get(obj, key), *e;
    size_t i;
    if (!list)
        return true;
    if (!json_is_array(list)) {
        trace_error(line, "expect: \"%s\" must be a list of [t, cpu]", key);
        return false;
    }
    json_array_foreach(list, i, e)
    {
        json_t *t = json_array_get(e, 0), *c = json_array_get(e, 1);
        if (!json_is_array(e) || json_array_size(e) != 2 || !json_is_integer(t) ||
            !json_is_integer(c) || json_integer_value(t) < 0) {
            trace_error(line, "expect: \"%s\"[%zu] must be [t, cpu] with integer t >= 0", key, i);
            return false;
        }
        if (json_integer_value(c) < 0 || json_integer_value(c) >= cpus) {
            trace_error(line, "expect: \"%s\"[%zu]: cpu %" JSON_INTEGER_FORMAT
                              " is out of range (the trace has %u vCPUs)",
                        key, i, json_integer_value(c), cpus);
            return false;
        }
        if (events_push(l, json_integer_value(t), (uint32_t)json_integer_value(c)) < 0) {
            trace_error(line, "out of memory");
            return false;
        }
    }
    return true;
}

static bool get_cpu(json_t *obj, uint32_t cpus, uint32_t *out, size_t line, const char *what)
{
    json_t *v = json_object_get(obj, "cpu");
    if (v && json_is_integer(v) && (json_integer_value(v) < 0 || json_integer_value(v) >= cpus)) {
        trace_error(line, "%s: cpu %" JSON_INTEGER_FORMAT " is out of range (the trace has %u vCPUs)",
                    what, json_integer_value(v), cpus);
        return false;
    }
    return get_u32(obj, "cpu", cpus - 1, out, line, what);
}

static bool parse_write(json_t *obj, struct record *r, uint32_t cpus)
{
    static const char *const reg_form[] = {"t", "op", "cpu", "reg", "value", NULL};
    static const char *const raw_form[] = {"t", "op", "offset", "data", NULL};
    bool raw = json_object_get(obj, "offset") || json_object_get(obj, "data");
    if (raw) {
        int64_t off;
        r->op = OP_WRITE_RAW;
        if (!keys_allowed(obj, raw_form, r->line, "write (raw form: offset, data)") ||
            !get_int(obj, "offset", 0, INT64_MAX, &off, r->line, "write"))
            return false;
        r->offset = (uint64_t)off;
        return get_hex(obj, r, r->line);
    }
    return keys_allowed(obj, reg_form, r->line, "write") &&
           get_cpu(obj, cpus, &r->cpu, r->line, "write") && get_reg(obj, &r->reg, r->line, "write") &&
           get_u32(obj, "value", UINT32_MAX, &r->value, r->line, "write");
}

/* "action": one of action_names, as its index (enum vmwdt_action). */
static bool get_action(json_t *obj, uint32_t *out, size_t line, const char *what)
{
    json_t *a = json_object_get(obj, "action");
    for (uint32_t i = 0; a && i < 4; i++)
        if (json_is_string(a) && strcmp(json_string_value(a), action_names[i]) == 0) {
            *out = i;
            return true;
        }
    trace_error(line, "%s: %s", what, a ? "\"action\" must be irq_then_reset, irq_only, reset or none"
                                        : "missing field \"action\"");
    return false;
}

static bool parse_op_fields(json_t *obj, const char *op, struct record *r, uint32_t cpus)
{
    static const char *const bare[] = {"t", "op", NULL};
    static const char *const read_f[] = {"t", "op", "cpu", "reg", "expect", NULL};
    static const char *const guest_f[] = {"t", "op", "cpu", "running", NULL};
    static const char *const restore_f[] = {"t", "op", "fresh", NULL};
    static const char *const expect_f[] = {"t", "op", "irq", "reset", NULL};
    static const struct {
        const char *name;
        enum op op;
    } simple[] = {{"sleep", OP_SLEEP}, {"wake", OP_WAKE}, {"snapshot", OP_SNAPSHOT}, {"end", OP_END}};
    size_t line = r->line;

    if (strcmp(op, "write") == 0)
        return parse_write(obj, r, cpus);
    if (strcmp(op, "read") == 0) {
        r->op = OP_READ;
        r->has_expect = json_object_get(obj, "expect") != NULL;
        return keys_allowed(obj, read_f, line, op) && get_cpu(obj, cpus, &r->cpu, line, op) &&
               get_reg(obj, &r->reg, line, op) &&
               (!r->has_expect || get_u32(obj, "expect", UINT32_MAX, &r->expect, line, op));
    }
    if (strcmp(op, "guest") == 0) {
        r->op = OP_GUEST;
        return keys_allowed(obj, guest_f, line, op) && get_cpu(obj, cpus, &r->cpu, line, op) &&
               get_bool(obj, "running", &r->flag, line, op);
    }
    if (strcmp(op, "restore") == 0) {
        r->op = OP_RESTORE;
        return keys_allowed(obj, restore_f, line, op) &&
               (!json_object_get(obj, "fresh") || get_bool(obj, "fresh", &r->flag, line, op));
    }
    if (strcmp(op, "action") == 0) {
        static const char *const action_f[] = {"t", "op", "action", NULL};
        r->op = OP_ACTION;
        return keys_allowed(obj, action_f, line, op) && get_action(obj, &r->value, line, op);
    }
    if (strcmp(op, "expect") == 0) {
        r->op = OP_EXPECT;
        return keys_allowed(obj, expect_f, line, op) &&
               get_events(obj, "irq", &r->irq, cpus, line) &&
               get_events(obj, "reset", &r->reset, cpus, line);
    }
    for (size_t i = 0; i < sizeof simple / sizeof simple[0]; i++)
        if (strcmp(op, simple[i].name) == 0) {
            r->op = simple[i].op;
            return keys_allowed(obj, bare, line, op);
        }
    trace_error(line, "unknown op \"%s\"", op);
    return false;
}

static bool parse_header(json_t *obj, struct trace *tr, size_t line)
{
    static const char *const keys[] = {"vmwdt_trace", "cpus", "action", NULL};
    int64_t version;
    if (!json_object_get(obj, "vmwdt_trace")) {
        trace_error(line, "the first line must be the header {\"vmwdt_trace\": 1, \"cpus\": N}");
        return false;
    }
    if (!get_int(obj, "vmwdt_trace", 0, INT64_MAX, &version, line, "header"))
        return false;
    if (version != 1) {
        trace_error(line, "header: trace format version %" PRId64 " is not supported (1 is)",
                    version);
        return false;
    }
    int64_t cpus;
    if (!keys_allowed(obj, keys, line, "header") ||
        !get_int(obj, "cpus", 1, VMWDT_MAX_CPUS, &cpus, line, "header"))
        return false;
    tr->cpus = (uint32_t)cpus;
    json_t *a = json_object_get(obj, "action");
    tr->action = VMWDT_ACTION_IRQ_THEN_RESET;
    if (!a)
        return true;
    for (uint32_t i = 0; i < 4; i++)
        if (json_is_string(a) && strcmp(json_string_value(a), action_names[i]) == 0) {
            tr->action = i;
            return true;
        }
    trace_error(line, "header: \"action\" must be irq_then_reset, irq_only, reset or none");
    return false;
}

static struct record *new_record(struct trace *tr, size_t line)
{
    if (tr->n == tr->cap) {
        size_t cap = tr->cap ? tr->cap * 2 : 64;
        struct record *v = realloc(tr->rec, cap * sizeof *v);
        if (!v)
            return NULL;
        tr->rec = v;
        tr->cap = cap;
    }
    struct record *r = &tr->rec[tr->n++];
    memset(r, 0, sizeof *r);
    r->line = line;
    return r;
}

/* Parses one record line; checks t's order, end, and restore's need of a snapshot. */
static bool parse_record(json_t *obj, struct trace *tr, size_t line, bool *have_snapshot)
{
    if (tr->n > 0 && tr->rec[tr->n - 1].op == OP_END) {
        trace_error(line, "a record after end (line %zu)", tr->rec[tr->n - 1].line);
        return false;
    }
    struct record *r = new_record(tr, line);
    if (!r) {
        trace_error(line, "out of memory");
        return false;
    }
    json_t *op = json_object_get(obj, "op");
    if (!op || !json_is_string(op)) {
        trace_error(line, op ? "\"op\" must be a string" : "missing field \"op\"");
        return false;
    }
    if (!get_int(obj, "t", 0, INT64_MAX, &r->t, line, json_string_value(op)))
        return false;
    if (tr->n > 1 && r->t < tr->rec[tr->n - 2].t) {
        trace_error(line, "t %" PRId64 " is before the previous record's t %" PRId64 " (line %zu)",
                    r->t, tr->rec[tr->n - 2].t, tr->rec[tr->n - 2].line);
        return false;
    }
    if (!parse_op_fields(obj, json_string_value(op), r, tr->cpus))
        return false;
    if (r->op == OP_SNAPSHOT)
        *have_snapshot = true;
    if (r->op == OP_RESTORE && !*have_snapshot) {
        trace_error(line, "restore: no snapshot record comes before it");
        return false;
    }
    return true;
}

static bool blank(const char *s)
{
    while (*s && isspace((unsigned char)*s))
        s++;
    return *s == '\0';
}

static void free_trace(struct trace *tr)
{
    for (size_t i = 0; i < tr->n; i++) {
        free(tr->rec[i].data);
        free(tr->rec[i].irq.v);
        free(tr->rec[i].reset.v);
    }
    free(tr->rec);
    memset(tr, 0, sizeof *tr);
}

/* Reads the whole trace; returns false (after saying why) when it cannot be read. */
static bool read_trace(FILE *f, struct trace *tr)
{
    char *buf = NULL;
    size_t cap = 0, line = 0;
    ssize_t len;
    bool header = false, have_snapshot = false, ok = true;
    while (ok && (len = getline(&buf, &cap, f)) >= 0) {
        line++;
        if (strlen(buf) != (size_t)len) {
            trace_error(line, "not JSON: the line holds a NUL byte");
            ok = false;
            break;
        }
        if (blank(buf))
            continue;
        json_error_t jerr;
        json_t *obj = json_loadb(buf, (size_t)len, JSON_REJECT_DUPLICATES, &jerr);
        if (!obj) {
            trace_error(line, "not JSON: %s (column %d)", jerr.text, jerr.column);
            ok = false;
        } else if (!json_is_object(obj)) {
            trace_error(line, "a trace line must be a JSON object");
            ok = false;
        } else if (!header) {
            ok = parse_header(obj, tr, line);
            header = true;
        } else {
            ok = parse_record(obj, tr, line, &have_snapshot);
        }
        json_decref(obj);
    }
    if (ok && ferror(f)) {
        trace_error(line + 1, "cannot read: %s", strerror(errno));
        ok = false;
    }
    if (ok && !header) {
        trace_error(line + 1, "the trace is empty: the header line is missing");
        ok = false;
    }
    free(buf);
    return ok;
}

/* ---- Replaying it ----------------------------------------------------------------------- */

static int64_t guest_read(const struct guest_clock *c, int64_t now)
{
    return c->running ? c->base + (now - c->since) : c->base;
}

static void print_event(const char *what, int64_t t, uint32_t cpu)
{
    printf("{\"t\": %" PRId64 ", \"event\": \"%s\", \"cpu\": %" PRIu32 "}\n", t, what, cpu);
}

static void on_irq(void *opaque, uint32_t cpu)
{
    struct replay *rp = opaque;
    rp->irqs++;
    print_event("irq", rp->now, cpu);
    if (events_push(&rp->irq, rp->now, cpu) < 0)
        rp->failures++;
}

static void on_reset(void *opaque, uint32_t cpu)
{
    struct replay *rp = opaque;
    rp->resets++;
    print_event("reset", rp->now, cpu);
    if (events_push(&rp->reset, rp->now, cpu) < 0)
        rp->failures++;
}

static int64_t on_guest_time(void *opaque, uint32_t cpu)
{
    struct replay *rp = opaque;
    return cpu < rp->tr->cpus ? guest_read(&rp->clock[cpu], rp->now) : 0;
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

static void failure(struct replay *rp, size_t line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "vmwdt-replay: %s: line %zu: FAILED: ", g_trace_path, line);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    rp->failures++;
}

static const char *why(struct replay *rp, int rc)
{
    const char *s = vmwdt_plugin_strerror(rp->plugin, rc);
    return s ? s : strerror(rc < 0 ? -rc : rc);
}

/* Runs every timer due at or before t, then sets the virtual time to t. */
static bool advance(struct replay *rp, int64_t t, size_t line)
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

static int cmp_event(const void *a, const void *b)
{
    const struct event *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    return x->cpu < y->cpu ? -1 : x->cpu > y->cpu;
}

static void format_events(char *buf, size_t len, const struct event_list *l)
{
    size_t off = (size_t)snprintf(buf, len, "[");
    for (size_t i = 0; i < l->n && off < len; i++) {
        if (i == 16) {
            off += (size_t)snprintf(buf + off, len - off, ", ... (%zu in all)", l->n);
            break;
        }
        off += (size_t)snprintf(buf + off, len - off, "%s[%" PRId64 ", %" PRIu32 "]", i ? ", " : "",
                                l->v[i].t, l->v[i].cpu);
    }
    if (off < len)
        snprintf(buf + off, len - off, "]");
}

/* The events reported must equal the expected ones as multisets; both lists get sorted. */
static void compare_events(struct replay *rp, size_t line, const char *kind, struct event_list *got,
                           struct event_list *want)
{
    /* An empty list may have no array at all, which qsort() must not be given. */
    if (got->n)
        qsort(got->v, got->n, sizeof *got->v, cmp_event);
    if (want->n)
        qsort(want->v, want->n, sizeof *want->v, cmp_event);
    bool same = got->n == want->n;
    for (size_t i = 0; same && i < got->n; i++)
        same = cmp_event(&got->v[i], &want->v[i]) == 0;
    if (!same) {
        char w[1024], g[1024];
        format_events(w, sizeof w, want);
        format_events(g, sizeof g, got);
        failure(rp, line, "expect: %s events differ: expected %s, got %s", kind, w, g);
    }
    got->n = 0;
}

static int create_device(struct replay *rp)
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

static bool apply(struct replay *rp, struct record *r)
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

static void print_summary(const struct replay *rp)
{
    printf("{\"summary\": \"%s\", \"records\": %zu, \"irq\": %zu, \"reset\": %zu, "
           "\"expects\": %zu, \"failures\": %zu, \"refused\": %zu, \"t\": %" PRId64 "}\n",
           rp->failures ? "fail" : "pass", rp->records, rp->irqs, rp->resets, rp->expects,
           rp->failures, rp->refused, rp->now);
}

static int replay(struct replay *rp)
{
    for (size_t i = 0; i < rp->tr->n; i++) {
        struct record *r = &rp->tr->rec[i];
        rp->records++;
        if (!advance(rp, r->t, r->line) || !apply(rp, r))
            break;
        if (r->op == OP_END)
            break;
    }
    print_summary(rp);
    return rp->failures ? EXIT_EXPECT : EXIT_SUCCESS;
}

static int setup_and_replay(const char *plugin_path, const struct trace *tr)
{
    struct replay rp = {.tr = tr};
    char err[512];
    int rc = vmwdt_plugin_open(plugin_path, 0, &rp.plugin, err, sizeof err);
    if (rc < 0) {
        fprintf(stderr, "vmwdt-replay: %s\n", err);
        return EXIT_SETUP;
    }
    rp.clock = calloc(tr->cpus, sizeof *rp.clock);
    for (uint32_t i = 0; rp.clock && i < tr->cpus; i++)
        rp.clock[i].running = true;
    rp.cfg = (struct vmwdt_config){.size = sizeof rp.cfg, .cpu_count = tr->cpus,
                                   .clock = VMWDT_CLOCK_HOST, .action = tr->action,
                                   .timers = VMWDT_TIMERS_EXTERNAL};
    rp.ops = (struct vmwdt_host_ops){.size = sizeof rp.ops, .opaque = &rp, .raise_irq = on_irq,
                                     .request_reset = on_reset, .guest_time_ns = on_guest_time,
                                     .now_ns = on_now, .log = on_log};
    int status = EXIT_SETUP;
    rc = rp.clock ? create_device(&rp) : -ENOMEM;
    if (rc < 0)
        fprintf(stderr, "vmwdt-replay: %s: creating the device failed: %s\n",
                vmwdt_plugin_path(rp.plugin), why(&rp, rc));
    else
        status = replay(&rp);
    vmwdt_plugin_destroy(rp.plugin, rp.dev);
    vmwdt_plugin_free(rp.plugin, rp.snapshot);
    vmwdt_plugin_close(rp.plugin);
    free(rp.irq.v);
    free(rp.reset.v);
    free(rp.clock);
    return status;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: vmwdt-replay [--plugin PATH] TRACE.jsonl\n"
                 "Replays a vmwdt trace in virtual time; prints each event as a JSON line.\n"
                 "Exit: 0 every expectation held, 1 one failed, 2 the trace cannot be read,\n"
                 "3 the plugin could not be loaded. TRACE may be - for standard input.\n"
                 "The plugin defaults to $VMWDT_PLUGIN, else the library this tree built.\n");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"plugin", required_argument, NULL, 'p'}, {"help", no_argument, NULL, 'h'}, {0}};
    const char *plugin = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "p:h", opts, NULL)) != -1) {
        if (c == 'p') {
            plugin = optarg;
        } else if (c == 'h') {
            usage(stdout);
            return EXIT_SUCCESS;
        } else {
            usage(stderr);
            return EXIT_SETUP;
        }
    }
    if (optind + 1 != argc) {
        usage(stderr);
        return EXIT_SETUP;
    }
    g_trace_path = argv[optind];
    FILE *f = strcmp(g_trace_path, "-") == 0 ? stdin : fopen(g_trace_path, "r");
    if (!f) {
        fprintf(stderr, "vmwdt-replay: %s: %s\n", g_trace_path, strerror(errno));
        return EXIT_TRACE;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    struct trace tr = {0};
    bool ok = read_trace(f, &tr);
    if (f != stdin)
        fclose(f);
    int status = ok ? setup_and_replay(plugin, &tr) : EXIT_TRACE;
    free_trace(&tr);
    return status;
}
