/*
 * Per-vCPU statistics (ABI 1.1, vmwdt_vcpu_stats): what the guest's accesses and the device's
 * expiries did, counted from vmwdt_create() and from each successful restore.
 *
 * The counters must cost the pet path nothing measurable. Pets and enables are plain integers
 * counted while the vCPU's own slot lock is held, which the write holds anyway; they share that
 * slot's cache lines and no other vCPU's. Refused accesses and expiry events are counted on
 * paths that hold no slot lock, with relaxed atomics: each is a single increment, and readers
 * only need each counter's own value, not an order between them.
 *
 * Building with WDT_STATS_OFF leaves every counter out, so that a benchmark can measure the
 * pet path without them from the same sources.
 */
#ifndef WDT_STATS_H
#define WDT_STATS_H

#include <stdatomic.h>
#include <stdint.h>

#include "wdt_core.h"

struct wdt_stats {
    uint64_t pets;    /* accepted LOAD_CNT writes; the slot's lock guards it */
    uint64_t enables; /* STATUS writes that enabled a disabled vCPU; the slot's lock guards it */
    _Atomic uint64_t refused;
    _Atomic uint64_t interrupts;
    _Atomic uint64_t resets;
};

/* A guest write's outcome, with the slot's lock held. */
static inline void wdt_stats_count_write(struct wdt_stats *st, uint32_t reg,
                                         enum wdt_write_result res)
{
#ifndef WDT_STATS_OFF
    if (res == WDT_WRITE_ARMED || res == WDT_WRITE_DONE) {
        if (reg == 0x4)
            st->pets++;
        else if (reg == 0x0 && res == WDT_WRITE_ARMED)
            st->enables++;
    } else {
        atomic_fetch_add_explicit(&st->refused, 1, memory_order_relaxed);
    }
#else
    (void)st, (void)reg, (void)res;
#endif
}

/* A refused access, counted with or without a lock. */
static inline void wdt_stats_count_refused(_Atomic uint64_t *counter)
{
#ifndef WDT_STATS_OFF
    atomic_fetch_add_explicit(counter, 1, memory_order_relaxed);
#else
    (void)counter;
#endif
}

/* An expiry event, counted just before the host is called back for it. */
static inline void wdt_stats_count_event(struct wdt_stats *st, enum wdt_event ev)
{
#ifndef WDT_STATS_OFF
    if (ev == WDT_EVENT_IRQ)
        atomic_fetch_add_explicit(&st->interrupts, 1, memory_order_relaxed);
    else if (ev == WDT_EVENT_RESET)
        atomic_fetch_add_explicit(&st->resets, 1, memory_order_relaxed);
#else
    (void)st, (void)ev;
#endif
}

/* Every counter back to 0 (create, restore); the slot's lock held or the slot not yet shared. */
static inline void wdt_stats_reset(struct wdt_stats *st)
{
    st->pets = 0;
    st->enables = 0;
    atomic_store_explicit(&st->refused, 0, memory_order_relaxed);
    atomic_store_explicit(&st->interrupts, 0, memory_order_relaxed);
    atomic_store_explicit(&st->resets, 0, memory_order_relaxed);
}

#endif /* WDT_STATS_H */
