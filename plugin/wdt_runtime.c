/*
 * The timer runtime: each vCPU publishes its deadline, the earliest host time its window can
 * end (guest clocks never run faster than host time), and the deadline heap (wdt_heap.c) is
 * served either by the worker thread (wdt_worker.c, THREAD) or by the host's calls to
 * vmwdt_run_due() (EXTERNAL). Neither holds a descriptor.
 *
 * A vCPU whose key comes up is checked against its guest clock, which says whether the window
 * really ended, and queued again if not. Events are exact in guest time: a check that finds
 * the window short by some amount comes back after exactly that amount of host time, except
 * when the guest clock has not moved at all since the last look in this window; only then is
 * the next check held back to WDT_RECHECK_MIN_NS, so that a halted vCPU cannot make the host
 * spin.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "wdt_heap.h"
#include "wdt_worker.h"

int64_t wdt_deadline_after(int64_t host_now, int64_t delta)
{
    if (delta < 0)
        delta = 0;
    if (host_now > 0 && delta >= INT64_MAX - 1 - host_now)
        return INT64_MAX - 1;
    return host_now + delta;
}

/* Adds one to a pending count, which saturates rather than wraps. */
static void wdt_pend_add(uint32_t *n)
{
    if (*n != UINT32_MAX)
        (*n)++;
}

bool wdt_slot_settle(struct vmwdt *dev, struct wdt_slot *s, int64_t guest)
{
    bool any = false;
    int64_t left;
    /* A countdown has at most two expiries before it stops, so this ends. */
    for (;;) {
        enum wdt_event ev = wdt_vcpu_expire(&s->core, dev->action, guest, &left);
        if (ev == WDT_EVENT_NONE)
            return any;
        any = true;
        if (ev == WDT_EVENT_IRQ)
            wdt_pend_add(&s->pend_irq);
        else if (ev == WDT_EVENT_RESET)
            wdt_pend_add(&s->pend_reset);
        else
            wdt_pend_add(&s->pend_logged);
    }
}

int64_t wdt_slot_update_deadline(struct wdt_slot *s, int64_t guest, int64_t host_now)
{
    int64_t deadline;
    if (s->pend_irq != 0 || s->pend_reset != 0 || s->pend_logged != 0) {
        deadline = host_now;
    } else {
        int64_t left = wdt_vcpu_remaining(&s->core, guest);
        deadline = left < 0 ? INT64_MAX : wdt_deadline_after(host_now, left);
    }
    s->seen = true;
    s->seen_guest = guest;
    s->seen_host = host_now;
    atomic_store(&s->deadline, deadline);
    return deadline;
}

void wdt_slot_requeue(struct vmwdt *dev, uint32_t cpu, int64_t guest)
{
    struct wdt_slot *s = &dev->slots[cpu];
    int64_t now = wdt_host_now(dev);
    pthread_mutex_lock(&s->lock);
    int64_t deadline = wdt_slot_update_deadline(s, guest, now);
    pthread_mutex_unlock(&s->lock);
    wdt_rt_queue(dev, cpu, deadline);
}

void wdt_rt_queue_earlier(struct vmwdt *dev, uint32_t cpu, int64_t deadline)
{
    struct wdt_slot *s = &dev->slots[cpu];
    struct wdt_runtime *rt = &dev->rt;
    pthread_mutex_lock(&rt->lock);
    if (!rt->asleep && deadline < atomic_load(&s->heap_key)) {
        wdt_heap_lower(dev, cpu, deadline);
        wdt_worker_kick(dev, deadline);
    }
    pthread_mutex_unlock(&rt->lock);
}

/* Calls the host back for an expiry reported at host time now, and logs it within the limit. */
static void wdt_fire(struct vmwdt *dev, uint32_t cpu, enum wdt_event ev, int64_t now)
{
    const struct vmwdt_host_ops *ops = &dev->ops;
    uint64_t dropped = 0;
    /* The guest decides how often its vCPU expires (a 0 ns window expires at every pet), so
     * these messages are rate-limited like every other one the guest can cause. */
    bool log = wdt_ratelimit_allow(&dev->stall_log, now, &dropped);
    wdt_stats_count_event(&dev->slots[cpu].stats, ev);
    if (dropped != 0)
        wdt_logf(&dev->logger, LOG_WARNING, "%llu stall messages suppressed",
                 (unsigned long long)dropped);
    switch (ev) {
    case WDT_EVENT_IRQ:
        if (log)
            wdt_logf(&dev->logger, LOG_WARNING, "vCPU %u stalled: raising its interrupt", cpu);
        if (ops->raise_irq != NULL)
            ops->raise_irq(ops->opaque, cpu);
        break;
    case WDT_EVENT_RESET:
        if (log)
            wdt_logf(&dev->logger, LOG_ERR, "vCPU %u stalled: requesting a VM reset", cpu);
        if (ops->request_reset != NULL)
            ops->request_reset(ops->opaque, cpu);
        break;
    default:
        if (log)
            wdt_logf(&dev->logger, LOG_WARNING, "vCPU %u stalled (action: none)", cpu);
        break;
    }
}

/* Checks one vCPU whose deadline came up at host time now; returns how many events fired. */
static int wdt_service(struct vmwdt *dev, uint32_t cpu, int64_t now)
{
    struct wdt_slot *s = &dev->slots[cpu];
    int64_t guest = wdt_guest_now(dev, cpu);
    pthread_mutex_lock(&s->lock);
    wdt_slot_settle(dev, s, guest);
    uint32_t irq = s->pend_irq, reset = s->pend_reset, logged = s->pend_logged;
    s->pend_irq = s->pend_reset = s->pend_logged = 0;
    bool frozen = s->seen && now > s->seen_host && guest == s->seen_guest;
    int64_t left = wdt_vcpu_remaining(&s->core, guest);
    int64_t deadline = wdt_slot_update_deadline(s, guest, now);
    /* Host time passed and the guest clock did not move, with less than the floor left: the
     * vCPU is halted just short of its window, and is polled no faster than the floor. */
    if (frozen && left > 0 && left < WDT_RECHECK_MIN_NS) {
        deadline = wdt_deadline_after(now, WDT_RECHECK_MIN_NS);
        atomic_store(&s->deadline, deadline);
    }
    pthread_mutex_unlock(&s->lock);
    wdt_rt_queue(dev, cpu, deadline);
    /* In the order they happen: an interrupt always comes before the reset it leads to. */
    for (uint32_t i = 0; i < irq; i++)
        wdt_fire(dev, cpu, WDT_EVENT_IRQ, now);
    for (uint32_t i = 0; i < reset; i++)
        wdt_fire(dev, cpu, WDT_EVENT_RESET, now);
    for (uint32_t i = 0; i < logged; i++)
        wdt_fire(dev, cpu, WDT_EVENT_LOGGED, now);
    uint64_t n = (uint64_t)irq + reset + logged;
    return n > INT32_MAX ? INT32_MAX : (int)n;
}

int wdt_rt_run_due(struct vmwdt *dev, int64_t now)
{
    struct wdt_runtime *rt = &dev->rt;
    int fired = 0;
    /*
     * Deadlines saturate at INT64_MAX - 1. A vCPU whose guest clock is still short of its
     * window when checked at or after that time would be queued again at a time that is already
     * due, and checked again without end: such a check stays queued instead.
     */
    if (now > INT64_MAX - 2)
        now = INT64_MAX - 2;
    for (;;) {
        pthread_mutex_lock(&rt->lock);
        wdt_heap_settle(dev);
        if (rt->asleep || wdt_heap_top(dev) > now) {
            pthread_mutex_unlock(&rt->lock);
            return fired;
        }
        uint32_t cpu = wdt_heap_pop(dev);
        pthread_mutex_unlock(&rt->lock);
        int n = wdt_service(dev, cpu, now);
        fired = n > INT32_MAX - fired ? INT32_MAX : fired + n;
    }
}

int64_t wdt_rt_next_deadline(struct vmwdt *dev)
{
    struct wdt_runtime *rt = &dev->rt;
    pthread_mutex_lock(&rt->lock);
    wdt_heap_settle(dev);
    int64_t next = rt->asleep ? INT64_MAX : wdt_heap_top(dev);
    pthread_mutex_unlock(&rt->lock);
    return next;
}

void wdt_rt_sleep(struct vmwdt *dev)
{
    struct wdt_runtime *rt = &dev->rt;
    pthread_mutex_lock(&rt->lock);
    rt->asleep = true;
    wdt_heap_clear(dev);
    /* The worker keeps running and now waits with no deadline; wake queues every countdown
     * again, which gives it one. */
    wdt_worker_kick(dev, INT64_MIN + 1);
    pthread_mutex_unlock(&rt->lock);
}

void wdt_rt_wake(struct vmwdt *dev)
{
    struct wdt_runtime *rt = &dev->rt;
    pthread_mutex_lock(&rt->lock);
    /* A callback still running while destroy joins the worker may wake the device: it stays
     * asleep, so that nothing is queued for a worker that is ending. */
    if (!rt->closing)
        rt->asleep = false;
    pthread_mutex_unlock(&rt->lock);
}

int wdt_rt_init(struct vmwdt *dev, bool external)
{
    struct wdt_runtime *rt = &dev->rt;
    pthread_condattr_t attr;
    memset(rt, 0, sizeof(*rt));
    rt->heap = calloc(dev->cpu_count, sizeof(*rt->heap));
    if (rt->heap == NULL)
        return -ENOMEM;
    pthread_mutex_init(&rt->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&rt->wake, &attr);
    pthread_condattr_destroy(&attr);
    rt->external = external;
    rt->armed = INT64_MIN;
    /* EXTERNAL timers need no worker: the flag that says one runs is set for good. */
    atomic_init(&rt->worker_running, external);
    if (!external)
        wdt_worker_start(dev);
    return 0;
}

void wdt_rt_fini(struct vmwdt *dev)
{
    struct wdt_runtime *rt = &dev->rt;
    /* Under life_lock, which sleep, wake and restore hold while they look at rt.asleep: a
     * callback may be making one of them right now. */
    pthread_mutex_lock(&dev->life_lock);
    pthread_mutex_lock(&rt->lock);
    rt->closing = true;
    pthread_mutex_unlock(&rt->lock);
    wdt_rt_sleep(dev);
    pthread_mutex_unlock(&dev->life_lock);
    if (!rt->external)
        wdt_worker_join(dev);
    pthread_cond_destroy(&rt->wake);
    pthread_mutex_destroy(&rt->lock);
    free(rt->heap);
}
