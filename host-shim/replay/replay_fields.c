/*
 * The trace's field readers: each checks one member's presence, type and range and, when it
 * is wrong, says so naming the line.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "replay_fields.h"

static const char *const reg_names[] = {"STATUS", "LOAD_CNT", "CURRENT_CNT", "CLOCK_FREQ_HZ"};

FILE *replay_diag;
const char *replay_trace_path = "-";

void trace_error(size_t line, const char *fmt, ...)
{
    if (replay_diag == NULL)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(replay_diag, "vmwdt-replay: %s: line %zu: ", replay_trace_path, line);
    vfprintf(replay_diag, fmt, ap);
    fputc('\n', replay_diag);
    va_end(ap);
}

int events_push(struct event_list *l, int64_t t, uint32_t cpu)
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
/*
 * The members of the line being parsed, in their order: one json_object_foreach() serves every
 * lookup of the record's fields, where a json_object_get() per field would hash each key again.
 * A line of more members than fit is looked up in jansson's table instead.
 */
#define INDEX_MAX 16
static struct {
    const json_t *obj;
    size_t n;
    size_t members; /* members of every object in obj, obj's own and nested ones */
    const char *key[INDEX_MAX];
    json_t *val[INDEX_MAX];
} idx;

size_t fields_members(const json_t *v)
{
    size_t n = 0;
    if (v == idx.obj)
        return idx.members;
    if (json_is_object(v)) {
        const char *key;
        json_t *m;
        n = json_object_size(v);
        json_object_foreach((json_t *)v, key, m)
            n += fields_members(m);
    } else if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++)
            n += fields_members(json_array_get(v, i));
    }
    return n;
}

void fields_index(const json_t *obj)
{
    const char *key;
    json_t *v;
    idx.obj = NULL;
    idx.n = 0;
    if (!json_is_object(obj) || json_object_size(obj) > INDEX_MAX)
        return;
    idx.members = json_object_size(obj);
    json_object_foreach((json_t *)obj, key, v)
    {
        idx.key[idx.n] = key;
        idx.val[idx.n++] = v;
        if (json_is_object(v) || json_is_array(v))
            idx.members += fields_members(v);
    }
    idx.obj = obj;
}

void fields_forget(void)
{
    idx.obj = NULL;
    idx.n = 0;
}

static bool same_key(const char *a, const char *b)
{
    return a[0] == b[0] && strcmp(a, b) == 0;
}

json_t *field_get(const json_t *obj, const char *key)
{
    if (obj != idx.obj)
        return json_object_get(obj, key);
    for (size_t i = 0; i < idx.n; i++)
        if (same_key(idx.key[i], key))
            return idx.val[i];
    return NULL;
}

static bool key_allowed(const char *key, const char *const *allowed)
{
    for (size_t i = 0; allowed[i]; i++)
        if (same_key(key, allowed[i]))
            return true;
    return same_key(key, "comment");
}

bool keys_allowed(json_t *obj, const char *const *allowed, size_t line, const char *what)
{
    const char *key;
    json_t *v;
    if (obj == idx.obj) {
        for (size_t i = 0; i < idx.n; i++)
            if (!key_allowed(idx.key[i], allowed)) {
                trace_error(line, "%s: unknown field \"%s\"", what, idx.key[i]);
                return false;
            }
        return true;
    }
    json_object_foreach(obj, key, v)
    {
        if (!key_allowed(key, allowed)) {
            trace_error(line, "%s: unknown field \"%s\"", what, key);
            return false;
        }
    }
    return true;
}

bool get_int(json_t *obj, const char *key, int64_t min, int64_t max, int64_t *out,
                    size_t line, const char *what)
{
    json_t *v = field_get(obj, key);
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

bool get_u32(json_t *obj, const char *key, uint32_t max, uint32_t *out, size_t line,
                    const char *what)
{
    int64_t v;
    if (!get_int(obj, key, 0, max, &v, line, what))
        return false;
    *out = (uint32_t)v;
    return true;
}

bool get_bool(json_t *obj, const char *key, bool *out, size_t line, const char *what)
{
    json_t *v = field_get(obj, key);
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

bool get_reg(json_t *obj, uint32_t *out, size_t line, const char *what)
{
    json_t *v = field_get(obj, "reg");
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

bool get_hex(json_t *obj, struct record *r, size_t line)
{
    json_t *v = field_get(obj, "data");
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

bool get_events(json_t *obj, const char *key, struct event_list *l, uint32_t cpus,
                       size_t line)
{
    json_t *list = field_get(obj, key), *e;
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

bool get_cpu(json_t *obj, uint32_t cpus, uint32_t *out, size_t line, const char *what)
{
    json_t *v = field_get(obj, "cpu");
    if (v && json_is_integer(v) && (json_integer_value(v) < 0 || json_integer_value(v) >= cpus)) {
        trace_error(line, "%s: cpu %" JSON_INTEGER_FORMAT " is out of range (the trace has %u vCPUs)",
                    what, json_integer_value(v), cpus);
        return false;
    }
    return get_u32(obj, "cpu", cpus - 1, out, line, what);
}

