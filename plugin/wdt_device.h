/*
 * The device: per-vCPU slots (core state, clock, place in the timer heap) and the timer runtime.
 *
 * Locks, and what each guards:
 * - slot->lock: that vCPU's core state. Taken by that vCPU's MMIO calls and by the timer
 *   runtime when it checks that vCPU; never held across a clock read or a callback.
 * - rt.lock: the deadline heap and the worker's state. Held only for heap operations; a pet
 *   that moves its deadline later does not take it (see wdt_rt_queue).
 * - life_lock: serialises sleep, wake, snapshot and restore with each other.
 * Order: life_lock, then slot->lock, then rt.lock. No callback runs with any of them held.
 */
#ifndef WDT_DEVICE_H
#define WDT_DEVICE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "vmwdt.h"
#include "wdt_clock.h"
#include "wdt_core.h"
#include "wdt_log.h"
#include "wdt_stats.h"

/* A countdown whose guest clock lagged host time is checked again no sooner than this. */
#define WDT_RECHECK_MIN_NS 1000000ll

struct wdt_heap_entry {
    int64_t key; /* host time at which to check the vCPU */
    uint32_t cpu;
};

struct wdt_slot {
    pthread_mutex_t lock;
    struct wdt_vcpu core;
    struct wdt_stats stats; /* vmwdt_vcpu_stats (see wdt_stats.h for what guards each) */
    struct wdt_vclock clock;
    /* The earliest host time at which the countdown can end (INT64_MAX: not counting). Written
     * with the slot's lock held, so that it always matches the latest core state. */
    _Atomic int64_t deadline;
    /* The heap key this vCPU sits under (INT64_MAX: not in the heap). It is never later than
     * deadline: a pet that moves the deadline later leaves the heap alone, and the runtime
     * corrects the key when it reaches the top of the heap. */
    _Atomic int64_t heap_key;
    uint32_t heap_pos; /* guarded by rt.lock */
    /* Expiries applied but not yet reported to the host (guarded by lock): an access that
     * finds its window already over in guest time applies the expiry before the write, and
     * the worker or the next vmwdt_run_due() makes the callbacks. */
    uint32_t pend_irq;
    uint32_t pend_reset;
    uint32_t pend_logged;
    /* The last look at this vCPU's clock within its current window (guarded by lock): a check
     * that finds the guest clock where it was then knows that the clock is frozen. */
    bool seen;
    int64_t seen_guest;
    int64_t seen_host;
} __attribute__((aligned(64)));

struct wdt_runtime {
    pthread_mutex_t lock;
    struct wdt_heap_entry *heap; /* binary min-heap on key, one entry per vCPU at most */
    uint32_t heap_len;
    bool asleep;        /* the device sleeps: nothing is queued */
    bool closing;       /* vmwdt_destroy has begun: the device sleeps for good */
    bool external;      /* VMWDT_TIMERS_EXTERNAL */
    /* THREAD timers only (see wdt_worker.c). */
    pthread_cond_t wake; /* signals the worker; waited on with CLOCK_MONOTONIC */
    pthread_t worker;    /* runs from its start to vmwdt_destroy */
    bool worker_ready;   /* the worker has started */
    int64_t armed;       /* host time the worker waits for; INT64_MAX: none; INT64_MIN: busy */
    /* A worker runs, or none is needed (EXTERNAL). Every API call reads it, relaxed, and only
     * while it is false tries to start the worker that could not start (wdt_worker_poll). */
    atomic_bool worker_running;
    bool worker_started;   /* a worker was created, which destroy joins */
    uint64_t start_fails;  /* failed starts of the current outage (0: none) */
    int64_t outage_began;  /* CLOCK_MONOTONIC of its first failure */
    int64_t retry_gap;     /* the back-off between retries that are not armings */
    int64_t retry_at;      /* CLOCK_MONOTONIC before which such a retry waits */
};

struct vmwdt {
    uint32_t cpu_count;
    /* Atomic: vmwdt_set_action may change it from any thread while expiries read it. */
    _Atomic enum wdt_action action;
    struct vmwdt_host_ops ops;
    struct wdt_logger logger;
    struct wdt_ratelimit guest_log;
    /* Expiry messages: a guest that pets with a 0 ns window causes one per pet. A limit of their
     * own, so that a flood of refused accesses cannot hide them. */
    struct wdt_ratelimit stall_log;
    struct wdt_slot *slots;
    struct wdt_runtime rt;
    pthread_mutex_t life_lock;
    atomic_bool activated;
    _Atomic uint64_t refused_outside; /* refused accesses at offsets past the last vCPU */
    struct wdt_clocks clocks; /* the clock kind and what every vCPU clock shares */
};

/* Host time: ops.now_ns(), or CLOCK_MONOTONIC. */
static inline int64_t wdt_host_now(struct vmwdt *dev)
{
    return wdt_clocks_host_now(&dev->clocks);
}

/* The vCPU's guest clock as its device's clock kind measures it. Takes no lock but the clock's. */
static inline int64_t wdt_guest_now(struct vmwdt *dev, uint32_t cpu)
{
    return wdt_clocks_guest_now(&dev->clocks, &dev->slots[cpu].clock, cpu);
}

/* Saturating host_now + delta, below INT64_MAX (which means "nothing"). */
int64_t wdt_deadline_after(int64_t host_now, int64_t delta);

/*
 * Sets up the runtime, and with THREAD timers tries to start the worker: 0, or -ENOMEM. A worker
 * that cannot start is not an error: the start is logged and retried (see wdt_worker.h).
 * wdt_rt_fini() stops and joins the worker, if one started: no callback runs after it returns.
 */
int wdt_rt_init(struct vmwdt *dev, bool external);
void wdt_rt_fini(struct vmwdt *dev);

/*
 * Applies every expiry that the vCPU's guest clock has reached at guest, and keeps its events
 * for the worker or the next vmwdt_run_due() to report; the slot's lock must be held. Every
 * access that reads a vCPU's clock does this first, so that a pet, enable or disable that comes
 * after the end of a window never erases its event. Returns true when it applied one.
 */
bool wdt_slot_settle(struct vmwdt *dev, struct wdt_slot *s, int64_t guest);

/*
 * Sets the vCPU's deadline (host time, INT64_MAX: none) from its core state at guest time
 * guest and host time host_now: host_now itself while events wait to be reported. The slot's
 * lock must be held. Returns the deadline.
 */
int64_t wdt_slot_update_deadline(struct wdt_slot *s, int64_t guest, int64_t host_now);

/*
 * Queues a vCPU whose expiries an access has just applied at guest time guest, so that their
 * events are reported at once; no lock held (host time is read here, outside the slot's lock).
 */
void wdt_slot_requeue(struct vmwdt *dev, uint32_t cpu, int64_t guest);

/* The part of wdt_rt_queue() that takes rt.lock: the deadline may lie before the heap key. */
void wdt_rt_queue_earlier(struct vmwdt *dev, uint32_t cpu, int64_t deadline);

/*
 * Makes sure the heap checks vCPU cpu no later than its deadline; no slot lock held. The common
 * pet moves the deadline later, and the key already lies no later than it: one comparison,
 * inline. The deadline was stored before this load, which wdt_heap_settle relies on when it
 * raises a key without this vCPU's lock.
 */
static inline void wdt_rt_queue(struct vmwdt *dev, uint32_t cpu, int64_t deadline)
{
    if (deadline < atomic_load(&dev->slots[cpu].heap_key))
        wdt_rt_queue_earlier(dev, cpu, deadline);
}

/* Handles every check due at or before now; returns how many events fired. */
int wdt_rt_run_due(struct vmwdt *dev, int64_t now);

/* The earliest queued check; INT64_MAX when none. */
int64_t wdt_rt_next_deadline(struct vmwdt *dev);

/*
 * Sleep: empties the queue (the worker, if any, then waits with no deadline). Wake: lets checks
 * be queued again.
 */
void wdt_rt_sleep(struct vmwdt *dev);
void wdt_rt_wake(struct vmwdt *dev);

#endif /* WDT_DEVICE_H */
