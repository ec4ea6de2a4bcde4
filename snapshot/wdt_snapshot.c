/*
 * The snapshot codec (see wdt_snapshot.h and SCHEMA.md): struct wdt_snap to and from the JSON
 * document of DESIGN.md section 5, and crosvm's serde_json-era document on input.
 *
 * Decoding is defensive: the text comes from outside the process (a file, a migration stream).
 * Before jansson sees it, its length and nesting depth are bounded; jansson then rejects
 * duplicate keys and NUL characters; every field is checked for type, range and consistency
 * before anything is written to the caller's struct. Each refusal logs exactly one message that
 * names the field.
 */
#include "wdt_snapshot.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#define NS_PER_MS INT64_C(1000000)
#define NS_PER_S INT64_C(1000000000)

/* The longest window the registers can express: LOAD_CNT = 2^32 - 1 at 1 Hz. */
#define MAX_WINDOW_NS ((int64_t)UINT32_MAX * NS_PER_S)
#define MAX_WINDOW_MS (MAX_WINDOW_NS / NS_PER_MS)

/* The ABI's VMWDT_MAX_CPUS; the codec does not include the public header. */
#define MAX_CPUS 4096u

/* Our document is 4 levels deep; unknown keys may add a few, never hundreds. */
#define MAX_DEPTH 32

/*
 * A document never needs more than a few hundred bytes per vCPU, even pretty-printed and with
 * crosvm's extra keys. Refusing longer text up front bounds what the parser allocates.
 */
#define BASE_BYTES ((size_t)64 * 1024)
#define BYTES_PER_CPU ((size_t)4096)

/* Room for "vm_wdts[4095].next_expiration_interval_ns" and the like. */
#define FIELD_LEN 96

struct dec {
    wdt_snap_log_fn log;
    void *log_ctx;
    bool crosvm; /* The document is crosvm's: no format, version, cpu_count, load_cnt, stopped. */
};

/* Logs one refusal naming the field and returns err. */
static int refuse(const struct dec *d, int err, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int refuse(const struct dec *d, int err, const char *field, const char *fmt, ...)
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

static const char *type_name(const json_t *v)
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

/*
 * Where a member lives, for messages: vCPU cpu (negative: the root) and, inside it, an
 * optional parent object such as repeating_interval.
 */
struct at {
    int cpu;
    const char *parent;
};

static const struct at ROOT = { -1, NULL };

static struct at in_vcpu(int cpu)
{
    return (struct at){ cpu, NULL };
}

static void field_name(char *buf, struct at a, const char *key)
{
    char head[FIELD_LEN / 2] = "";
    if (a.cpu >= 0)
        snprintf(head, sizeof(head), "vm_wdts[%d].", a.cpu);
    if (a.parent)
        snprintf(buf, FIELD_LEN, "%s%s.%s", head, a.parent, key);
    else
        snprintf(buf, FIELD_LEN, "%s%s", head, key);
}

/*
 * Looks up obj[key]. Returns 0 with *out set (NULL when absent and optional), or -EINVAL when
 * a required member is missing.
 */
static int member(const struct dec *d, const json_t *obj, struct at a, const char *key,
                  bool required, json_t **out)
{
    *out = json_object_get(obj, key);
    if (*out == NULL && required) {
        char f[FIELD_LEN];
        field_name(f, a, key);
        return refuse(d, -EINVAL, f, "missing");
    }
    return 0;
}

/* Reads a boolean member; an absent optional one leaves *out as it was. */
static int get_bool(const struct dec *d, const json_t *obj, struct at a, const char *key,
                    bool required, bool *out)
{
    json_t *v;
    int rc = member(d, obj, a, key, required, &v);
    if (rc < 0 || v == NULL)
        return rc;
    if (!json_is_boolean(v)) {
        char f[FIELD_LEN];
        field_name(f, a, key);
        return refuse(d, -EINVAL, f, "wrong type: expected true or false, found %s",
                      type_name(v));
    }
    *out = json_is_true(v);
    return 0;
}

/*
 * Reads an integer member within [min, max]: -EINVAL for another type (a real such as 80.0
 * included), -ERANGE outside. *present (may be NULL) says whether it was there.
 */
static int get_int(const struct dec *d, const json_t *obj, struct at a, const char *key,
                   bool required, int64_t min, int64_t max, int64_t *out, bool *present)
{
    json_t *v;
    int rc = member(d, obj, a, key, required, &v);
    if (present)
        *present = v != NULL;
    if (rc < 0 || v == NULL)
        return rc;
    char f[FIELD_LEN];
    if (!json_is_integer(v)) {
        field_name(f, a, key);
        return refuse(d, -EINVAL, f, "wrong type: expected an integer, found %s", type_name(v));
    }
    json_int_t i = json_integer_value(v);
    if (i < min || i > max) {
        field_name(f, a, key);
        return refuse(d, -ERANGE, f, "out of range: %lld not in [%" PRId64 ", %" PRId64 "]",
                      (long long)i, min, max);
    }
    *out = (int64_t)i;
    return 0;
}

/*
 * repeating_interval: null or a serde Duration {"secs": s, "nanos": n} whose length in
 * nanoseconds fits an int64. Its value is not kept: the budget says all that matters.
 */
static int check_duration(const struct dec *d, const json_t *obj, int cpu, bool required)
{
    static const char key[] = "repeating_interval";
    struct at a = in_vcpu(cpu);
    json_t *v;
    int rc = member(d, obj, a, key, required, &v);
    if (rc < 0 || v == NULL || json_is_null(v))
        return rc;
    if (!json_is_object(v)) {
        char f[FIELD_LEN];
        field_name(f, a, key);
        return refuse(d, -EINVAL, f,
                      "wrong type: expected null or {\"secs\": s, \"nanos\": n}, found %s",
                      type_name(v));
    }
    struct at inner = { cpu, key };
    int64_t secs = 0, nanos = 0;
    if ((rc = get_int(d, v, inner, "secs", true, 0, INT64_MAX / NS_PER_S - 1, &secs, NULL)) < 0)
        return rc;
    return get_int(d, v, inner, "nanos", true, 0, NS_PER_S - 1, &nanos, NULL);
}

/* The budget in ns from next_expiration_interval_ms and, when present, the exact _ns key. */
static int get_budget(const struct dec *d, const json_t *o, int cpu, int64_t *budget_ns)
{
    int64_t ms = 0, ns = 0;
    bool has_ns = false;
    int rc = get_int(d, o, in_vcpu(cpu), "next_expiration_interval_ms", true, 0, MAX_WINDOW_MS, &ms, NULL);
    if (rc < 0)
        return rc;
    rc = get_int(d, o, in_vcpu(cpu), "next_expiration_interval_ns", false, 0, MAX_WINDOW_NS, &ns, &has_ns);
    if (rc < 0)
        return rc;
    if (!has_ns) {
        *budget_ns = ms * NS_PER_MS;
        return 0;
    }
    /* |ns / 1e6 - ms| < 1, in integers: both values are bounded, nothing overflows. */
    int64_t diff = ns - ms * NS_PER_MS;
    if (diff <= -NS_PER_MS || diff >= NS_PER_MS) {
        char f[FIELD_LEN];
        field_name(f, in_vcpu(cpu), "next_expiration_interval_ns");
        return refuse(d, -EINVAL, f,
                      "%" PRId64 " disagrees with next_expiration_interval_ms %" PRId64, ns, ms);
    }
    *budget_ns = ns;
    return 0;
}

/*
 * The window length: window_ns when present (it must hold the budget), else load_cnt / f when
 * both are known, else the budget. A derived window never falls short of the budget: the
 * frequency may have been rewritten since the window started.
 */
static int get_window(const struct dec *d, const json_t *o, int cpu, bool has_load,
                      struct wdt_snap_vcpu *v)
{
    int64_t w = 0;
    bool has_w = false;
    int rc = get_int(d, o, in_vcpu(cpu), "window_ns", false, 0, MAX_WINDOW_NS, &w, &has_w);
    if (rc < 0)
        return rc;
    if (has_w) {
        if (w < v->budget_ns) {
            char f[FIELD_LEN];
            field_name(f, in_vcpu(cpu), "window_ns");
            return refuse(d, -EINVAL, f, "%" PRId64 " is shorter than the budget left %" PRId64,
                          w, v->budget_ns);
        }
        v->window_ns = w;
        return 0;
    }
    if (has_load && v->timer_freq_hz > 0)
        w = (int64_t)v->load_cnt * NS_PER_S / v->timer_freq_hz;
    v->window_ns = w > v->budget_ns ? w : v->budget_ns;
    return 0;
}

/* Decodes and checks vm_wdts[cpu]. */
static int decode_vcpu(const struct dec *d, const json_t *o, int cpu, struct wdt_snap_vcpu *v)
{
    bool ours = !d->crosvm;
    bool has_load = false;
    int64_t n = 0;
    int rc;

    if (!json_is_object(o)) {
        char f[FIELD_LEN];
        snprintf(f, sizeof(f), "vm_wdts[%d]", cpu);
        return refuse(d, -EINVAL, f, "wrong type: expected an object, found %s", type_name(o));
    }
    memset(v, 0, sizeof(*v));
    if ((rc = get_bool(d, o, in_vcpu(cpu), "is_enabled", true, &v->is_enabled)) < 0)
        return rc;
    if ((rc = get_int(d, o, in_vcpu(cpu), "timer_freq_hz", true, 0, UINT32_MAX, &n, NULL)) < 0)
        return rc;
    v->timer_freq_hz = (uint32_t)n;
    n = 0;
    if ((rc = get_int(d, o, in_vcpu(cpu), "load_cnt", ours, 0, UINT32_MAX, &n, &has_load)) < 0)
        return rc;
    v->load_cnt = (uint32_t)n;
    /* Informative, but bounded so that it turns into nanoseconds without overflow. */
    if ((rc = get_int(d, o, in_vcpu(cpu), "last_guest_time_ms", true, INT64_MIN / NS_PER_MS,
                      INT64_MAX / NS_PER_MS, &v->last_guest_time_ms, NULL)) < 0)
        return rc;
    if ((rc = get_budget(d, o, cpu, &v->budget_ns)) < 0)
        return rc;
    if ((rc = get_window(d, o, cpu, has_load, v)) < 0)
        return rc;
    if ((rc = check_duration(d, o, cpu, ours)) < 0)
        return rc;
    if ((rc = get_bool(d, o, in_vcpu(cpu), "stall_evt_ppi_triggered", ours,
                       &v->stall_evt_ppi_triggered)) < 0)
        return rc;
    if ((rc = get_bool(d, o, in_vcpu(cpu), "stopped", ours, &v->stopped)) < 0)
        return rc;
    /* A countdown stops only after an expiry, and a disabled vCPU has none. */
    if (v->stopped && !v->is_enabled) {
        char f[FIELD_LEN];
        field_name(f, in_vcpu(cpu), "stopped");
        return refuse(d, -EINVAL, f, "true on a vCPU that is not enabled");
    }
    return 0;
}

/* strlen(s), or max + 1 when s is longer than max (strnlen is POSIX, not C11). */
static size_t bounded_len(const char *s, size_t max)
{
    size_t n = 0;
    while (n <= max && s[n] != '\0')
        n++;
    return n;
}

/* Rejects text that is too long or nested too deeply before the parser allocates for it. */
static int prescan(const struct dec *d, const char *json, uint32_t cpus)
{
    size_t limit = BASE_BYTES + BYTES_PER_CPU * cpus;
    size_t len = bounded_len(json, limit);
    if (len > limit)
        return refuse(d, -EINVAL, "document", "longer than %zu bytes", limit);
    int depth = 0;
    bool in_str = false, esc = false;
    for (size_t i = 0; i < len; i++) {
        char c = json[i];
        if (in_str) {
            if (esc)
                esc = false;
            else if (c == '\\')
                esc = true;
            else if (c == '"')
                in_str = false;
        } else if (c == '"') {
            in_str = true;
        } else if (c == '{' || c == '[') {
            if (++depth > MAX_DEPTH)
                return refuse(d, -EINVAL, "document", "nested deeper than %d levels", MAX_DEPTH);
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return 0;
}

static json_t *parse(const struct dec *d, const char *json, int *err)
{
    json_error_t e;
    json_t *root = json_loads(json, JSON_REJECT_DUPLICATES, &e);
    if (root != NULL)
        return root;
    switch (json_error_code(&e)) {
    case json_error_out_of_memory:
        *err = refuse(d, -ENOMEM, "document", "out of memory");
        break;
    case json_error_numeric_overflow:
        *err = refuse(d, -ERANGE, "document", "number out of range: %s (line %d, column %d)",
                      e.text, e.line, e.column);
        break;
    default:
        *err = refuse(d, -EINVAL, "document", "not a JSON document: %s (line %d, column %d)",
                      e.text, e.line, e.column);
        break;
    }
    return NULL;
}

/* format, version and cpu_count; decides whether the document is crosvm's. */
static int decode_header(struct dec *d, const json_t *root, uint32_t expect_cpus)
{
    json_t *fmt = json_object_get(root, "format");
    int64_t n = 0;
    int rc;

    if (fmt == NULL) {
        /* crosvm writes none of these; a document with one of them has lost its format. */
        if (json_object_get(root, "version") || json_object_get(root, "cpu_count"))
            return refuse(d, -EINVAL, "format", "missing");
        d->crosvm = true;
        return 0;
    }
    if (!json_is_string(fmt) || strcmp(json_string_value(fmt), WDT_SNAP_FORMAT) != 0)
        return refuse(d, -EINVAL, "format", "expected the string \"%s\"", WDT_SNAP_FORMAT);
    if ((rc = get_int(d, root, ROOT, "version", true, 1, INT64_MAX, &n, NULL)) < 0)
        return rc;
    if (n > WDT_SNAP_VERSION)
        return refuse(d, -ENOTSUP, "version", "%" PRId64 " is newer than %d, the newest known",
                      n, WDT_SNAP_VERSION);
    if ((rc = get_int(d, root, ROOT, "cpu_count", true, INT64_MIN, INT64_MAX, &n, NULL)) < 0)
        return rc;
    if (n != (int64_t)expect_cpus)
        return refuse(d, -EINVAL, "cpu_count", "%" PRId64 " does not match the device's %u vCPUs",
                      n, expect_cpus);
    return 0;
}

static int decode_root(struct dec *d, const json_t *root, uint32_t expect_cpus,
                       struct wdt_snap *out)
{
    bool activated = false;
    json_t *arr;
    int rc;

    if (!json_is_object(root))
        return refuse(d, -EINVAL, "document", "wrong type: expected an object, found %s",
                      type_name(root));
    if ((rc = decode_header(d, root, expect_cpus)) < 0)
        return rc;
    if ((rc = get_bool(d, root, ROOT, "activated", true, &activated)) < 0)
        return rc;
    if ((rc = member(d, root, ROOT, "vm_wdts", true, &arr)) < 0)
        return rc;
    if (!json_is_array(arr))
        return refuse(d, -EINVAL, "vm_wdts", "wrong type: expected an array, found %s",
                      type_name(arr));
    /* The length is checked before anything is iterated or allocated. */
    if (json_array_size(arr) != expect_cpus)
        return refuse(d, -EINVAL, "vm_wdts", "%zu entries, expected %u", json_array_size(arr),
                      expect_cpus);

    struct wdt_snap_vcpu *v = calloc(expect_cpus, sizeof(*v));
    if (v == NULL)
        return refuse(d, -ENOMEM, "vm_wdts", "out of memory");
    for (uint32_t i = 0; i < expect_cpus; i++) {
        if ((rc = decode_vcpu(d, json_array_get(arr, i), (int)i, &v[i])) < 0)
            goto fail;
        /* activated says a vCPU was enabled since create or restore. */
        if (v[i].is_enabled && !activated) {
            rc = refuse(d, -EINVAL, "activated", "false although vm_wdts[%u] is enabled", i);
            goto fail;
        }
    }
    out->cpu_count = expect_cpus;
    out->activated = activated;
    out->vcpus = v;
    return 0;
fail:
    free(v);
    return rc;
}

int wdt_snap_decode(const char *json, uint32_t expect_cpus, struct wdt_snap *out,
                    wdt_snap_log_fn log, void *log_ctx)
{
    struct dec d = { .log = log, .log_ctx = log_ctx, .crosvm = false };
    int rc = 0;

    if (json == NULL || out == NULL)
        return refuse(&d, -EINVAL, "document", "missing (NULL)");
    if (expect_cpus == 0 || expect_cpus > MAX_CPUS)
        return refuse(&d, -EINVAL, "cpu_count", "the device's %u vCPUs is not in [1, %u]",
                      expect_cpus, MAX_CPUS);
    if ((rc = prescan(&d, json, expect_cpus)) < 0)
        return rc;
    json_t *root = parse(&d, json, &rc);
    if (root == NULL)
        return rc;
    rc = decode_root(&d, root, expect_cpus, out);
    json_decref(root);
    return rc;
}

void wdt_snap_release(struct wdt_snap *s)
{
    if (s == NULL)
        return;
    free(s->vcpus);
    s->vcpus = NULL;
    s->cpu_count = 0;
}

/* Encoding */

/* Whether the encoder may write v: the same rules the decoder enforces. */
static bool vcpu_encodable(const struct wdt_snap_vcpu *v, bool activated)
{
    if (v->budget_ns < 0 || v->budget_ns > MAX_WINDOW_NS)
        return false;
    if (v->window_ns < v->budget_ns || v->window_ns > MAX_WINDOW_NS)
        return false;
    if (v->last_guest_time_ms < INT64_MIN / NS_PER_MS || v->last_guest_time_ms > INT64_MAX / NS_PER_MS)
        return false;
    if (v->stopped && !v->is_enabled)
        return false;
    return activated || !v->is_enabled;
}

/* json_object_set_new for a chain of calls: any failure (NULL value, no memory) sticks. */
static void put(json_t *obj, const char *key, json_t *val, bool *ok)
{
    if (json_object_set_new(obj, key, val) != 0)
        *ok = false;
}

/*
 * next_expiration_interval_ms is the budget rounded up to the next millisecond: a consumer that
 * reads only milliseconds (crosvm) never fires before the exact budget has passed, and a
 * non-zero budget never reads as an expired 0.
 */
static json_t *encode_vcpu(const struct wdt_snap_vcpu *v)
{
    json_t *o = json_object();
    bool ok = o != NULL;
    int64_t ms = (v->budget_ns + NS_PER_MS - 1) / NS_PER_MS;

    if (!ok)
        return NULL;
    put(o, "is_enabled", json_boolean(v->is_enabled), &ok);
    put(o, "timer_freq_hz", json_integer(v->timer_freq_hz), &ok);
    put(o, "load_cnt", json_integer(v->load_cnt), &ok);
    put(o, "last_guest_time_ms", json_integer(v->last_guest_time_ms), &ok);
    put(o, "next_expiration_interval_ms", json_integer(ms), &ok);
    put(o, "repeating_interval", json_null(), &ok);
    put(o, "stall_evt_ppi_triggered", json_boolean(v->stall_evt_ppi_triggered), &ok);
    put(o, "stopped", json_boolean(v->stopped), &ok);
    put(o, "next_expiration_interval_ns", json_integer(v->budget_ns), &ok);
    put(o, "window_ns", json_integer(v->window_ns), &ok);
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *encode_root(const struct wdt_snap *s)
{
    json_t *root = json_object();
    json_t *arr = json_array();
    bool ok = root != NULL && arr != NULL;

    if (!ok) {
        json_decref(root);
        json_decref(arr);
        return NULL;
    }
    put(root, "format", json_string(WDT_SNAP_FORMAT), &ok);
    put(root, "version", json_integer(WDT_SNAP_VERSION), &ok);
    put(root, "cpu_count", json_integer(s->cpu_count), &ok);
    put(root, "activated", json_boolean(s->activated), &ok);
    for (uint32_t i = 0; ok && i < s->cpu_count; i++) {
        if (json_array_append_new(arr, encode_vcpu(&s->vcpus[i])) != 0)
            ok = false;
    }
    put(root, "vm_wdts", arr, &ok);
    if (!ok) {
        json_decref(root);
        return NULL;
    }
    return root;
}

int wdt_snap_encode(const struct wdt_snap *s, char **json_out)
{
    if (s == NULL || json_out == NULL || s->vcpus == NULL || s->cpu_count == 0 ||
        s->cpu_count > MAX_CPUS)
        return -EINVAL;
    for (uint32_t i = 0; i < s->cpu_count; i++) {
        if (!vcpu_encodable(&s->vcpus[i], s->activated))
            return -EINVAL;
    }
    json_t *root = encode_root(s);
    if (root == NULL)
        return -ENOMEM;
    /*
     * Dumped into a buffer from malloc() rather than with json_dumps(), whose allocator the
     * host process may have replaced: the caller frees the result with free().
     */
    size_t len = json_dumpb(root, NULL, 0, 0);
    char *buf = len > 0 ? malloc(len + 1) : NULL;
    if (buf == NULL || json_dumpb(root, buf, len, 0) != len) {
        free(buf);
        json_decref(root);
        return -ENOMEM;
    }
    buf[len] = '\0';
    json_decref(root);
    *json_out = buf;
    return 0;
}
