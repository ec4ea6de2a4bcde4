/*
 * The snapshot codec's field readers, shared by the decoder's parts: each checks one member's
 * type and range and, on a refusal, logs exactly one message that names the field.
 */
#ifndef WDT_SNAP_FIELDS_H
#define WDT_SNAP_FIELDS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "wdt_snapshot.h"

#define NS_PER_MS INT64_C(1000000)
#define NS_PER_S INT64_C(1000000000)

/* The longest window the registers can express: LOAD_CNT = 2^32 - 1 at 1 Hz. */
#define MAX_WINDOW_NS ((int64_t)UINT32_MAX * NS_PER_S)
#define MAX_WINDOW_MS (MAX_WINDOW_NS / NS_PER_MS)

/* The ABI's VMWDT_MAX_CPUS; the codec does not include the public header. */
#define MAX_CPUS 4096u

/* Room for "vm_wdts[4095].next_expiration_interval_ns" and the like. */
#define FIELD_LEN 96

struct dec {
    wdt_snap_log_fn log;
    void *log_ctx;
    bool crosvm; /* The document is crosvm's: no format, version, cpu_count, load_cnt, stopped. */
};

/*
 * Where a member lives, for messages: vCPU cpu (negative: the root) and, inside it, an
 * optional parent object such as repeating_interval.
 */
struct at {
    int cpu;
    const char *parent;
};

static inline struct at at_root(void)
{
    return (struct at){ -1, NULL };
}

static inline struct at in_vcpu(int cpu)
{
    return (struct at){ cpu, NULL };
}

/* Logs one refusal naming the field and returns err. */
int wdt_snap_refuse(const struct dec *d, int err, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* "an object", "an integer"...: what a value is, for messages. */
const char *wdt_snap_type_name(const json_t *v);

/* The member's full name, such as vm_wdts[3].repeating_interval.secs, into buf[FIELD_LEN]. */
void wdt_snap_field_name(char *buf, struct at a, const char *key);

/*
 * Looks up obj[key]. Returns 0 with *out set (NULL when absent and optional), or -EINVAL when
 * a required member is missing.
 */
int wdt_snap_member(const struct dec *d, const json_t *obj, struct at a, const char *key,
                    bool required, json_t **out);

/* Reads a boolean member; an absent optional one leaves *out as it was. */
int wdt_snap_get_bool(const struct dec *d, const json_t *obj, struct at a, const char *key,
                      bool required, bool *out);

/*
 * Reads an integer member within [min, max]: -EINVAL for another type (a real such as 80.0
 * included), -ERANGE outside. *present (may be NULL) says whether it was there.
 */
int wdt_snap_get_int(const struct dec *d, const json_t *obj, struct at a, const char *key,
                     bool required, int64_t min, int64_t max, int64_t *out, bool *present);

#endif /* WDT_SNAP_FIELDS_H */
