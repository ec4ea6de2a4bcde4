/*
 * The snapshot decoder (see wdt_snapshot.h and SCHEMA.md): the JSON document of DESIGN.md
 * section 5, or crosvm's serde_json-era one, into struct wdt_snap.
 *
 * The text comes from outside the process (a file, a migration stream). Before jansson sees
 * it, its length and nesting depth are bounded and the memory its parse needs is reserved
 * (wdt_json_arena.c); jansson then rejects duplicate keys and NUL characters; every field is
 * checked for type, range and consistency before anything is written to the caller's struct.
 * Each refusal logs exactly one message that names the field.
 */
#include "wdt_snapshot.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "wdt_json_arena.h"
#include "wdt_snap_fields.h"

/* Our document is 4 levels deep; unknown keys may add a few, never hundreds. */
#define MAX_DEPTH 32

/*
 * A document never needs more than a few hundred bytes per vCPU, even pretty-printed and with
 * crosvm's extra keys. Refusing longer text up front bounds what the parser allocates.
 */
#define BASE_BYTES ((size_t)64 * 1024)
#define BYTES_PER_CPU ((size_t)4096)

/*
 * repeating_interval: null or a serde Duration {"secs": s, "nanos": n} whose length in
 * nanoseconds fits an int64. Its value is not kept: the budget says all that matters.
 */
static int check_duration(const struct dec *d, const json_t *obj, int cpu, bool required)
{
    static const char key[] = "repeating_interval";
    struct at a = in_vcpu(cpu);
    json_t *v;
    int rc = wdt_snap_member(d, obj, a, key, required, &v);
    if (rc < 0 || v == NULL || json_is_null(v))
        return rc;
    if (!json_is_object(v)) {
        char f[FIELD_LEN];
        wdt_snap_field_name(f, a, key);
        return wdt_snap_refuse(d, -EINVAL, f,
                      "wrong type: expected null or {\"secs\": s, \"nanos\": n}, found %s",
                      wdt_snap_type_name(v));
    }
    struct at inner = { cpu, key };
    int64_t secs = 0, nanos = 0;
    if ((rc = wdt_snap_get_int(d, v, inner, "secs", true, 0, INT64_MAX / NS_PER_S - 1, &secs, NULL)) < 0)
        return rc;
    return wdt_snap_get_int(d, v, inner, "nanos", true, 0, NS_PER_S - 1, &nanos, NULL);
}

/* The budget in ns from next_expiration_interval_ms and, when present, the exact _ns key. */
static int get_budget(const struct dec *d, const json_t *o, int cpu, int64_t *budget_ns)
{
    int64_t ms = 0, ns = 0;
    bool has_ns = false;
    int rc = wdt_snap_get_int(d, o, in_vcpu(cpu), "next_expiration_interval_ms", true, 0, MAX_WINDOW_MS, &ms, NULL);
    if (rc < 0)
        return rc;
    rc = wdt_snap_get_int(d, o, in_vcpu(cpu), "next_expiration_interval_ns", false, 0, MAX_WINDOW_NS, &ns, &has_ns);
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
        wdt_snap_field_name(f, in_vcpu(cpu), "next_expiration_interval_ns");
        return wdt_snap_refuse(d, -EINVAL, f,
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
    int rc = wdt_snap_get_int(d, o, in_vcpu(cpu), "window_ns", false, 0, MAX_WINDOW_NS, &w, &has_w);
    if (rc < 0)
        return rc;
    if (has_w) {
        if (w < v->budget_ns) {
            char f[FIELD_LEN];
            wdt_snap_field_name(f, in_vcpu(cpu), "window_ns");
            return wdt_snap_refuse(d, -EINVAL, f, "%" PRId64 " is shorter than the budget left %" PRId64,
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
        return wdt_snap_refuse(d, -EINVAL, f, "wrong type: expected an object, found %s", wdt_snap_type_name(o));
    }
    memset(v, 0, sizeof(*v));
    if ((rc = wdt_snap_get_bool(d, o, in_vcpu(cpu), "is_enabled", true, &v->is_enabled)) < 0)
        return rc;
    if ((rc = wdt_snap_get_int(d, o, in_vcpu(cpu), "timer_freq_hz", true, 0, UINT32_MAX, &n, NULL)) < 0)
        return rc;
    v->timer_freq_hz = (uint32_t)n;
    n = 0;
    if ((rc = wdt_snap_get_int(d, o, in_vcpu(cpu), "load_cnt", ours, 0, UINT32_MAX, &n, &has_load)) < 0)
        return rc;
    v->load_cnt = (uint32_t)n;
    /* Informative, but bounded so that it turns into nanoseconds without overflow. */
    if ((rc = wdt_snap_get_int(d, o, in_vcpu(cpu), "last_guest_time_ms", true, INT64_MIN / NS_PER_MS,
                      INT64_MAX / NS_PER_MS, &v->last_guest_time_ms, NULL)) < 0)
        return rc;
    if ((rc = get_budget(d, o, cpu, &v->budget_ns)) < 0)
        return rc;
    if ((rc = get_window(d, o, cpu, has_load, v)) < 0)
        return rc;
    if ((rc = check_duration(d, o, cpu, ours)) < 0)
        return rc;
    if ((rc = wdt_snap_get_bool(d, o, in_vcpu(cpu), "stall_evt_ppi_triggered", ours,
                       &v->stall_evt_ppi_triggered)) < 0)
        return rc;
    if ((rc = wdt_snap_get_bool(d, o, in_vcpu(cpu), "stopped", ours, &v->stopped)) < 0)
        return rc;
    /* A countdown stops only after an expiry, and a disabled vCPU has none. */
    if (v->stopped && !v->is_enabled) {
        char f[FIELD_LEN];
        wdt_snap_field_name(f, in_vcpu(cpu), "stopped");
        return wdt_snap_refuse(d, -EINVAL, f, "true on a vCPU that is not enabled");
    }
    return 0;
}

/* Maps the scan's refusal of the text to one message. */
static int refuse_scan(const struct dec *d, int rc, size_t limit)
{
    if (rc == -EMSGSIZE)
        return wdt_snap_refuse(d, -EINVAL, "document", "longer than %zu bytes", limit);
    return wdt_snap_refuse(d, -EINVAL, "document", "nested deeper than %d levels", MAX_DEPTH);
}

/* Parses the scanned text into a, or logs why not. */
static int parse(const struct dec *d, struct wdt_json_arena *a, const char *json,
                 const struct wdt_json_scan *s, json_t **root)
{
    json_error_t e;
    int rc = wdt_json_arena_loads(a, json, s, JSON_REJECT_DUPLICATES, &e, root);
    if (rc == 0)
        return 0;
    if (rc == -ENOMEM)
        return wdt_snap_refuse(d, -ENOMEM, "document", "out of memory");
    switch (json_error_code(&e)) {
    case json_error_out_of_memory:
        return wdt_snap_refuse(d, -ENOMEM, "document", "out of memory");
    case json_error_numeric_overflow:
        return wdt_snap_refuse(d, -ERANGE, "document", "number out of range: %s (line %d, column %d)",
                               e.text, e.line, e.column);
    default:
        return wdt_snap_refuse(d, -EINVAL, "document", "not a JSON document: %s (line %d, column %d)",
                               e.text, e.line, e.column);
    }
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
            return wdt_snap_refuse(d, -EINVAL, "format", "missing");
        d->crosvm = true;
        return 0;
    }
    if (!json_is_string(fmt) || strcmp(json_string_value(fmt), WDT_SNAP_FORMAT) != 0)
        return wdt_snap_refuse(d, -EINVAL, "format", "expected the string \"%s\"", WDT_SNAP_FORMAT);
    if ((rc = wdt_snap_get_int(d, root, at_root(), "version", true, 1, INT64_MAX, &n, NULL)) < 0)
        return rc;
    if (n > WDT_SNAP_VERSION)
        return wdt_snap_refuse(d, -ENOTSUP, "version", "%" PRId64 " is newer than %d, the newest known",
                      n, WDT_SNAP_VERSION);
    if ((rc = wdt_snap_get_int(d, root, at_root(), "cpu_count", true, INT64_MIN, INT64_MAX, &n, NULL)) < 0)
        return rc;
    if (n != (int64_t)expect_cpus)
        return wdt_snap_refuse(d, -EINVAL, "cpu_count", "%" PRId64 " does not match the device's %u vCPUs",
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
        return wdt_snap_refuse(d, -EINVAL, "document", "wrong type: expected an object, found %s",
                      wdt_snap_type_name(root));
    if ((rc = decode_header(d, root, expect_cpus)) < 0)
        return rc;
    if ((rc = wdt_snap_get_bool(d, root, at_root(), "activated", true, &activated)) < 0)
        return rc;
    if ((rc = wdt_snap_member(d, root, at_root(), "vm_wdts", true, &arr)) < 0)
        return rc;
    if (!json_is_array(arr))
        return wdt_snap_refuse(d, -EINVAL, "vm_wdts", "wrong type: expected an array, found %s",
                      wdt_snap_type_name(arr));
    /* The length is checked before anything is iterated or allocated. */
    if (json_array_size(arr) != expect_cpus)
        return wdt_snap_refuse(d, -EINVAL, "vm_wdts", "%zu entries, expected %u", json_array_size(arr),
                      expect_cpus);

    struct wdt_snap_vcpu *v = calloc(expect_cpus, sizeof(*v));
    if (v == NULL)
        return wdt_snap_refuse(d, -ENOMEM, "vm_wdts", "out of memory");
    for (uint32_t i = 0; i < expect_cpus; i++) {
        if ((rc = decode_vcpu(d, json_array_get(arr, i), (int)i, &v[i])) < 0)
            goto fail;
        /* activated says a vCPU was enabled since create or restore. */
        if (v[i].is_enabled && !activated) {
            rc = wdt_snap_refuse(d, -EINVAL, "activated", "false although vm_wdts[%u] is enabled", i);
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
        return wdt_snap_refuse(&d, -EINVAL, "document", "missing (NULL)");
    if (expect_cpus == 0 || expect_cpus > MAX_CPUS)
        return wdt_snap_refuse(&d, -EINVAL, "cpu_count", "the device's %u vCPUs is not in [1, %u]",
                      expect_cpus, MAX_CPUS);
    /* Length and depth are bounded before the parser allocates anything. */
    size_t limit = BASE_BYTES + BYTES_PER_CPU * expect_cpus;
    struct wdt_json_scan scan;
    if ((rc = wdt_json_scan_text(json, limit, MAX_DEPTH, &scan)) < 0)
        return refuse_scan(&d, rc, limit);
    struct wdt_json_arena arena;
    json_t *root = NULL;
    if ((rc = parse(&d, &arena, json, &scan, &root)) < 0)
        return rc;
    rc = decode_root(&d, root, expect_cpus, out);
    /* The tree lives in the arena: it goes with it. */
    wdt_json_arena_release(&arena);
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

