/*
 * The device: per-vCPU slots (core state, clock, place in the timer heap) and the timer runtime.
 *
 * Locks, and what each guards:
 * - slot->lock: that vCPU's core state. Taken by that vCPU's MMIO calls and by the timer
 *   runtime when it checks that vCPU; never held across a clock read or a callback.
 * - rt.lock: the deadline heap, the timerfd and the worker's state. Held only for heap
 *   operations; a pet that moves its deadline later does not take it (see wdt_rt_queue).
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

/* A countdown whose guest clock lagged host time is checked again no sooner than this. */
#define WDT_RECHECK_MIN_NS 1000000ll

struct wdt_heap_entry {
    int64_t key; /* host time at which to check the vCPU */
    uint32_t cpu;
};

struct wdt_slot {
    pthread_mutex_t lock;
    struct wdt_vcpu core;
    struct wdt_vclock clock;
    /* The earliest host time at which the countdown can end (INT64_MAX: not counting). Written
     * with the slot's lock held, so that it always matches the latest core state. */
    _Atomic int64_t deadline;
    /* The heap key this vCPU sits under (INT64_MAX: not in the heap). It is never later than
     * deadline: a pet that moves the deadline later leaves the heap alone, and the runtime
     * corrects the key when it reaches the top of the heap. */
    _Atomic int64_t heap_key;
    uint32_t heap_pos; /* guarded by rt.lock */
} __attribute__((aligned(64)));

struct wdt_runtime {
    pthread_mutex_t lock;
    struct wdt_heap_entry *heap; /* binary min-heap on key, one entry per vCPU at most */
    uint32_t heap_len;
    bool asleep;        /* the device sleeps: nothing is queued */
    bool closing;       /* vmwdt_destroy has begun: the device sleeps for good */
    bool external;      /* VMWDT_TIMERS_EXTERNAL */
    /* THREAD timers only. */
    /* The running worker's timerfd; -1 when none runs. Each worker has its own, and a stopped
     * worker keeps and closes its own: no other thread re-arms it, so the poke that tells it
     * to stop is never lost. */
    int timer_fd;
    bool worker_running;
    uint64_t gen;       /* a worker runs while this equals the value it was started with */
    pthread_t worker;
    int64_t armed;      /* host time timer_fd is armed for; INT64_MAX: disarmed */
    pthread_t *zombies; /* stopped workers not yet joined */
    uint32_t zombie_len;
    uint32_t zombie_cap;
};

struct vmwdt {
    uint32_t cpu_count;
    enum wdt_action action;
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

int wdt_rt_init(struct vmwdt *dev, bool external);
void wdt_rt_fini(struct vmwdt *dev);

/*
 * Sets the vCPU's deadline (host time, INT64_MAX: none) from its core state at guest time
 * guest and host time host_now; the slot's lock must be held. Returns the deadline.
 */
int64_t wdt_slot_update_deadline(struct wdt_slot *s, int64_t guest, int64_t host_now);

/* Makes sure the heap checks vCPU cpu no later than its deadline; no slot lock held. */
void wdt_rt_queue(struct vmwdt *dev, uint32_t cpu, int64_t deadline, int64_t host_now);

/* Handles every check due at or before now; returns how many events fired. */
int wdt_rt_run_due(struct vmwdt *dev, int64_t now);

/* The earliest queued check; INT64_MAX when none. */
int64_t wdt_rt_next_deadline(struct vmwdt *dev);

/*
 * Sleep: empties the queue and tells the worker to stop. Wake: lets checks be queued again (the
 * worker starts with the first). Reap: joins stopped workers but the calling thread; call it
 * with no lock held, so that a worker still inside a callback can finish.
 */
void wdt_rt_sleep(struct vmwdt *dev);
void wdt_rt_wake(struct vmwdt *dev);
void wdt_rt_reap(struct vmwdt *dev);

#endif /* WDT_DEVICE_H */
