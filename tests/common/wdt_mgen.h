/*
 * Random operations for the model test (wdt_mdrive.h): a seeded generator whose windows, time
 * steps and clock pauses are of the sizes where events are late or lost if the library gets
 * them wrong (around a millisecond, the recheck floor, and around the windows themselves).
 */
#ifndef WDT_MGEN_H
#define WDT_MGEN_H

#include <stdint.h>

#include "wdt_mdrive.h"

struct mg {
    uint64_t s;
};

uint64_t mg_next(struct mg *g);
/* Uniform in [0, n). */
uint64_t mg_below(struct mg *g, uint64_t n);

/* A new device's shape: vCPU count, action, start time and guest-clock origins (any sign). */
void mg_device(struct mg *g, uint32_t *cpus, int *action, int64_t *t0, int64_t *origin);

/* One operation for a device of cpus vCPUs. */
void mg_op(struct mg *g, uint32_t cpus, struct md_op *op);

#endif /* WDT_MGEN_H */
