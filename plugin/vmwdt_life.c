/*
 * The lifecycle exports of libvmwdt.so.1: sleep, wake, snapshot and restore. They serialise on
 * the device's life_lock; the register accesses and the rest of the exports are in vmwdt.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "wdt_device.h"
#include "wdt_snapshot.h"
#include "wdt_worker.h"

/* Freezes every vCPU's budget; the device is asleep (life_lock held). */
static void wdt_freeze_all(struct vmwdt *dev)
{
    wdt_rt_sleep(dev);
    for (uint32_t i = 0; i < dev->cpu_count; i++) {
        struct wdt_slot *s = &dev->slots[i];
        int64_t guest = wdt_guest_now(dev, i);
        pthread_mutex_lock(&s->lock);
        /* Expiries already due are kept as events, reported after wake. */
        wdt_slot_settle(dev, s, guest);
        wdt_vcpu_freeze(&s->core, guest);
        pthread_mutex_unlock(&s->lock);
    }
}

VMWDT_EXPORT int vmwdt_sleep(vmwdt *dev)
{
    if (dev == NULL)
        return -EINVAL;
    wdt_worker_poll(dev, false);
    pthread_mutex_lock(&dev->life_lock);
    if (!dev->rt.asleep)
        wdt_freeze_all(dev);
    pthread_mutex_unlock(&dev->life_lock);
    return 0;
}

VMWDT_EXPORT int vmwdt_wake(vmwdt *dev)
{
    if (dev == NULL)
        return -EINVAL;
    wdt_worker_poll(dev, false);
    pthread_mutex_lock(&dev->life_lock);
    if (dev->rt.asleep) {
        wdt_rt_wake(dev);
        for (uint32_t i = 0; i < dev->cpu_count; i++) {
            struct wdt_slot *s = &dev->slots[i];
            int64_t guest = wdt_guest_now(dev, i);
            int64_t now = wdt_host_now(dev);
            pthread_mutex_lock(&s->lock);
            wdt_vcpu_thaw(&s->core, guest);
            int64_t deadline = wdt_slot_update_deadline(s, guest, now);
            pthread_mutex_unlock(&s->lock);
            wdt_rt_queue(dev, i, deadline);
        }
    }
    pthread_mutex_unlock(&dev->life_lock);
    return 0;
}

/* One vCPU's state as the snapshot document states it. */
static void wdt_snap_from_core(struct wdt_snap_vcpu *d, const struct wdt_vcpu *v, int64_t guest)
{
    int64_t left = wdt_vcpu_remaining(v, guest);
    memset(d, 0, sizeof(*d));
    d->is_enabled = v->enabled;
    d->timer_freq_hz = v->freq;
    d->load_cnt = v->load;
    d->last_guest_time_ms = v->base_ns / 1000000;
    d->budget_ns = left > 0 ? left : 0;
    d->window_ns = v->window_ns;
    d->stall_evt_ppi_triggered = v->raised;
    d->stopped = v->phase == WDT_PHASE_STOPPED;
}

/* The core state a snapshot entry describes, frozen (the device restores asleep). */
static void wdt_core_from_snap(struct wdt_vcpu *v, const struct wdt_snap_vcpu *d)
{
    wdt_vcpu_init(v);
    v->freq = d->timer_freq_hz;
    v->load = d->load_cnt;
    v->win_freq = d->timer_freq_hz;
    v->enabled = d->is_enabled;
    v->raised = d->stall_evt_ppi_triggered;
    v->frozen = true;
    v->window_ns = d->window_ns;
    v->budget_ns = d->budget_ns;
    if (!d->is_enabled)
        v->phase = WDT_PHASE_IDLE;
    else if (d->stopped)
        v->phase = WDT_PHASE_STOPPED;
    else if (d->stall_evt_ppi_triggered)
        v->phase = WDT_PHASE_SECOND;
    else
        v->phase = WDT_PHASE_FIRST;
}

VMWDT_EXPORT int vmwdt_snapshot_json(vmwdt *dev, char **json)
{
    if (dev == NULL || json == NULL)
        return -EINVAL;
    wdt_worker_poll(dev, false);
    struct wdt_snap snap = {.cpu_count = dev->cpu_count};
    snap.vcpus = calloc(dev->cpu_count, sizeof(*snap.vcpus));
    if (snap.vcpus == NULL)
        return -ENOMEM;
    pthread_mutex_lock(&dev->life_lock);
    snap.activated = atomic_load(&dev->activated);
    for (uint32_t i = 0; i < dev->cpu_count; i++) {
        struct wdt_slot *s = &dev->slots[i];
        int64_t guest = wdt_guest_now(dev, i);
        pthread_mutex_lock(&s->lock);
        /* The document shows every expiry already due; their events are reported as usual. */
        bool settled = wdt_slot_settle(dev, s, guest);
        wdt_snap_from_core(&snap.vcpus[i], &s->core, guest);
        pthread_mutex_unlock(&s->lock);
        if (settled)
            wdt_slot_requeue(dev, i, guest);
        /* vCPUs keep writing while the snapshot is taken, and an enable sets the flag only
         * after it has released the slot's lock: an enabled vCPU in the document is what
         * makes it activated. */
        if (snap.vcpus[i].is_enabled)
            snap.activated = true;
    }
    pthread_mutex_unlock(&dev->life_lock);
    int rc = wdt_snap_encode(&snap, json);
    free(snap.vcpus);
    return rc;
}

static void wdt_snap_log(void *ctx, int level, const char *msg)
{
    wdt_logf(ctx, level, "vmwdt_restore_json: %s", msg);
}

VMWDT_EXPORT int vmwdt_restore_json(vmwdt *dev, const char *json)
{
    struct wdt_snap snap;
    if (dev == NULL || json == NULL)
        return -EINVAL;
    wdt_worker_poll(dev, false);
    int rc = wdt_snap_decode(json, dev->cpu_count, &snap, wdt_snap_log, &dev->logger);
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&dev->life_lock);
    if (!dev->rt.asleep)
        wdt_freeze_all(dev);
    for (uint32_t i = 0; i < dev->cpu_count; i++) {
        struct wdt_slot *s = &dev->slots[i];
        pthread_mutex_lock(&s->lock);
        /* Events already applied stay to be reported; the new windows start unobserved. */
        wdt_core_from_snap(&s->core, &snap.vcpus[i]);
        s->seen = false;
        wdt_stats_reset(&s->stats); /* statistics are not part of the snapshot */
        pthread_mutex_unlock(&s->lock);
    }
    atomic_store(&dev->activated, snap.activated);
    atomic_store(&dev->refused_outside, 0);
    pthread_mutex_unlock(&dev->life_lock);
    wdt_snap_release(&snap);
    return 0;
}
