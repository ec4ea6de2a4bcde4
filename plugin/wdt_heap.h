/*
 * The deadline heap of the timer runtime: a binary min-heap of host times, one entry per vCPU
 * at most, kept in struct wdt_runtime. Every function here needs rt.lock held.
 *
 * A heap key is only ever a lower bound of its vCPU's published deadline: pets, which move
 * deadlines later, only publish them, and wdt_heap_settle() corrects a stale key when it
 * reaches the top of the heap.
 */
#ifndef WDT_HEAP_H
#define WDT_HEAP_H

#include "wdt_device.h"

/* Queues vCPU cpu under key, inserting it or moving its key earlier. */
void wdt_heap_lower(struct vmwdt *dev, uint32_t cpu, int64_t key);

/* Takes the earliest entry out of the heap and returns its vCPU. */
uint32_t wdt_heap_pop(struct vmwdt *dev);

/* Empties the heap. */
void wdt_heap_clear(struct vmwdt *dev);

/* Corrects stale keys at the top until the top is a vCPU's true deadline. */
void wdt_heap_settle(struct vmwdt *dev);

/* The earliest key after wdt_heap_settle(); INT64_MAX when the heap is empty. */
int64_t wdt_heap_top(struct vmwdt *dev);

#endif /* WDT_HEAP_H */
