/*
 * The snapshot codec's field readers (see wdt_snap_fields.h). Decoding is defensive: the text
 * comes from outside the process, so every member is checked for type and range before the
 * decoder uses it.
 */
#include "wdt_snap_fields.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <syslog.h>

int wdt_snap_refuse(const struct dec *d, int err, const char *field, const char *fmt, ...)
{
    char msg[384];
    int n = snprintf(msg, sizeof(msg), "snapshot refused: %s: ", field);
    if (n < 0 || (size_t)n >= sizeof(msg))
        n = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
    va_end(ap);
    if (d->log)
        d->log(d->log_ctx, LOG_ERR, msg);
    return err;
}

const char *wdt_snap_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a real number";
    case JSON_TRUE: return "true";
    case JSON_FALSE: return "false";
    case JSON_NULL: return "null";
    }
    return "an unknown value";
}

void wdt_snap_field_name(char *buf, struct at a, const char *key)
{
    char head[FIELD_LEN / 2] = "";
    if (a.cpu >= 0)
        snprintf(head, sizeof(head), "vm_wdts[%d].", a.cpu);
    if (a.parent)
        snprintf(buf, FIELD_LEN, "%s%s.%s", head, a.parent, key);
    else
        snprintf(buf, FIELD_LEN, "%s%s", head, key);
}

int wdt_snap_member(const struct dec *d, const json_t *obj, struct at a, const char *key,
                  bool required, json_t **out)
{
    *out = json_object_get(obj, key);
    if (*out == NULL && required) {
        char f[FIELD_LEN];
        wdt_snap_field_name(f, a, key);
        return wdt_snap_refuse(d, -EINVAL, f, "missing");
    }
    return 0;
}

int wdt_snap_get_bool(const struct dec *d, const json_t *obj, struct at a, const char *key,
                    bool required, bool *out)
{
    json_t *v;
    int rc = wdt_snap_member(d, obj, a, key, required, &v);
    if (rc < 0 || v == NULL)
        return rc;
    if (!json_is_boolean(v)) {
        char f[FIELD_LEN];
        wdt_snap_field_name(f, a, key);
        return wdt_snap_refuse(d, -EINVAL, f, "wrong type: expected true or false, found %s",
                      wdt_snap_type_name(v));
    }
    *out = json_is_true(v);
    return 0;
}

int wdt_snap_get_int(const struct dec *d, const json_t *obj, struct at a, const char *key,
                   bool required, int64_t min, int64_t max, int64_t *out, bool *present)
{
    json_t *v;
    int rc = wdt_snap_member(d, obj, a, key, required, &v);
    if (present)
        *present = v != NULL;
    if (rc < 0 || v == NULL)
        return rc;
    char f[FIELD_LEN];
    if (!json_is_integer(v)) {
        wdt_snap_field_name(f, a, key);
        return wdt_snap_refuse(d, -EINVAL, f, "wrong type: expected an integer, found %s", wdt_snap_type_name(v));
    }
    json_int_t i = json_integer_value(v);
    if (i < min || i > max) {
        wdt_snap_field_name(f, a, key);
        return wdt_snap_refuse(d, -ERANGE, f, "out of range: %lld not in [%" PRId64 ", %" PRId64 "]",
                      (long long)i, min, max);
    }
    *out = (int64_t)i;
    return 0;
}

