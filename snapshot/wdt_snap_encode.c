/*
 * The snapshot encoder: struct wdt_snap into the JSON document of DESIGN.md section 5, with the
 * codec's private jansson (outside a parse its allocations go to malloc()).
 */
#include "wdt_snapshot.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>

#include "wdt_json_arena.h"
#include "wdt_snap_fields.h"

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
    wdt_json_arena_install();
    json_t *root = encode_root(s);
    if (root == NULL)
        return -ENOMEM;
    /*
     * Dumped into a buffer from malloc() rather than with json_dumps(): the caller frees the
     * result with free(), whatever allocator jansson was given.
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
