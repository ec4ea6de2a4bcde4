/*
 * Reading a trace (DESIGN.md section 6) one line at a time: each line is parsed and checked
 * against the rules that depend on earlier lines (header first, t never decreasing, a snapshot
 * before a restore, nothing after end), keeping only what those rules need. Memory does not
 * depend on the trace's length.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "replay.h"
#include "replay_fields.h"

static const char *const action_names[] = {"irq_then_reset", "irq_only", "reset", "none"};

/* "action": one of action_names, as its index (enum vmwdt_action). */
static bool get_action(json_t *obj, uint32_t *out, size_t line, const char *what)
{
    json_t *a = field_get(obj, "action");
    for (uint32_t i = 0; a && i < 4; i++)
        if (json_is_string(a) && strcmp(json_string_value(a), action_names[i]) == 0) {
            *out = i;
            return true;
        }
    trace_error(line, "%s: %s", what,
                a ? "\"action\" must be irq_then_reset, irq_only, reset or none"
                  : "missing field \"action\"");
    return false;
}


static bool parse_write(json_t *obj, struct record *r, uint32_t cpus)
{
    static const char *const reg_form[] = {"t", "op", "cpu", "reg", "value", NULL};
    static const char *const raw_form[] = {"t", "op", "offset", "data", NULL};
    bool raw = field_get(obj, "offset") || field_get(obj, "data");
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
        r->has_expect = field_get(obj, "expect") != NULL;
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
               (!field_get(obj, "fresh") || get_bool(obj, "fresh", &r->flag, line, op));
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

static bool parse_header(json_t *obj, struct reader *rd, size_t line)
{
    static const char *const keys[] = {"vmwdt_trace", "cpus", "action", NULL};
    int64_t version;
    if (!field_get(obj, "vmwdt_trace")) {
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
    rd->cpus = (uint32_t)cpus;
    rd->action = VMWDT_ACTION_IRQ_THEN_RESET;
    return !field_get(obj, "action") || get_action(obj, &rd->action, line, "header");
}

/* Checks a record's place in the trace: after the header, before end, t never decreasing. */
static bool record_in_order(struct reader *rd, struct record *r)
{
    if (rd->end_line != 0) {
        trace_error(r->line, "a record after end (line %zu)", rd->end_line);
        return false;
    }
    if (rd->prev_line != 0 && r->t < rd->prev_t) {
        trace_error(r->line, "t %" PRId64 " is before the previous record's t %" PRId64 " (line %zu)",
                    r->t, rd->prev_t, rd->prev_line);
        return false;
    }
    return true;
}

/* Parses one record object; checks t's order, end, and restore's need of a snapshot. */
static bool parse_record(json_t *obj, struct reader *rd, struct record *r)
{
    size_t line = rd->line;
    memset(r, 0, sizeof *r);
    r->line = line;
    json_t *op = field_get(obj, "op");
    if (!op || !json_is_string(op)) {
        trace_error(line, op ? "\"op\" must be a string" : "missing field \"op\"");
        return false;
    }
    if (!get_int(obj, "t", 0, INT64_MAX, &r->t, line, json_string_value(op)) ||
        !record_in_order(rd, r) || !parse_op_fields(obj, json_string_value(op), r, rd->cpus))
        return false;
    if (r->op == OP_SNAPSHOT)
        rd->have_snapshot = true;
    if (r->op == OP_RESTORE && !rd->have_snapshot) {
        trace_error(line, "restore: no snapshot record comes before it");
        return false;
    }
    if (r->op == OP_END)
        rd->end_line = line;
    rd->prev_t = r->t;
    rd->prev_line = line;
    return true;
}

static bool blank(const char *s)
{
    while (*s && isspace((unsigned char)*s))
        s++;
    return *s == '\0';
}

/* The name separators of a line: ':' outside strings. */
static size_t separators(const char *p)
{
    size_t colons = 0;
    for (;;) {
        p += strcspn(p, "\":");
        if (*p == '\0')
            return colons;
        if (*p++ == ':') {
            colons++;
            continue;
        }
        /* Inside a string: up to the quote that ends it. */
        for (;;) {
            p += strcspn(p, "\"\\");
            if (*p == '\0')
                return colons;
            if (*p++ == '"')
                break;
            if (*p != '\0')
                p++;
        }
    }
}

/*
 * Whether the line (len bytes, no NUL: that was checked), which parsed as JSON, names a key
 * twice in one object. jansson keeps the last of duplicate keys, so its objects then hold fewer
 * members than the text has name separators. Checked here rather than with
 * JSON_REJECT_DUPLICATES, which looks every key up once more while parsing. Every ':' of the
 * line is counted first: as many as the members kept rules duplicates out, since strings can
 * only add to that count; only otherwise are strings told apart.
 */
static bool has_duplicate_key(const char *buf, size_t len, const json_t *obj)
{
    size_t members = fields_members(obj), all = 0;
    for (const char *p = buf, *end = buf + len; (p = memchr(p, ':', (size_t)(end - p))) != NULL; p++)
        all++;
    return all != members && separators(buf) != members;
}

void record_clear(struct record *r)
{
    free(r->data);
    free(r->irq.v);
    free(r->reset.v);
    memset(r, 0, sizeof *r);
}

int reader_line(struct reader *rd, const char *buf, size_t len, struct record *r)
{
    size_t line = rd->line;
    if (strlen(buf) != len) {
        trace_error(line, "not JSON: the line holds a NUL byte");
        return READ_ERROR;
    }
    if (blank(buf))
        return READ_SKIPPED;
    json_error_t jerr;
    json_t *obj = json_loadb(buf, len, 0, &jerr);
    if (!obj) {
        trace_error(line, "not JSON: %s (column %d)", jerr.text, jerr.column);
        return READ_ERROR;
    }
    fields_index(obj);
    int rc = READ_ERROR;
    if (has_duplicate_key(buf, len, obj)) {
        trace_error(line, "not JSON: duplicate object key");
    } else if (!json_is_object(obj)) {
        trace_error(line, "a trace line must be a JSON object");
    } else if (!rd->header) {
        rd->header = true;
        rc = parse_header(obj, rd, line) ? READ_SKIPPED : READ_ERROR;
    } else if (parse_record(obj, rd, r)) {
        rc = READ_RECORD;
    } else {
        record_clear(r);
    }
    fields_forget();
    json_decref(obj);
    return rc;
}

int reader_next(struct reader *rd, struct record *r)
{
    ssize_t len;
    while ((len = getline(&rd->buf, &rd->cap, rd->f)) >= 0) {
        rd->line++;
        int rc = reader_line(rd, rd->buf, (size_t)len, r);
        if (rc != READ_SKIPPED)
            return rc;
    }
    if (ferror(rd->f)) {
        trace_error(rd->line + 1, "cannot read: %s", strerror(errno));
        return READ_ERROR;
    }
    return READ_DONE;
}

int reader_start(struct reader *rd)
{
    struct record unused;
    ssize_t len;
    while (!rd->header && (len = getline(&rd->buf, &rd->cap, rd->f)) >= 0) {
        rd->line++;
        if (reader_line(rd, rd->buf, (size_t)len, &unused) == READ_ERROR)
            return -1;
    }
    if (rd->header)
        return 0;
    if (ferror(rd->f))
        trace_error(rd->line + 1, "cannot read: %s", strerror(errno));
    else
        trace_error(rd->line + 1, "the trace is empty: the header line is missing");
    return -1;
}

void reader_free(struct reader *rd)
{
    free(rd->buf);
    rd->buf = NULL;
    rd->cap = 0;
}
