/*
 * The exports that ABI 1.1 added (symbol version VMWDT_1.1): per-vCPU statistics and a run-time
 * change of the action.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <syslog.h>

#include "wdt_device.h"
#include "wdt_worker.h"

/*
 * Whether out->size is one that a caller can have compiled: at least the size field and one
 * more, ending on the boundary of a field this library knows, or past them all on a multiple of
 * the struct's alignment (sizeof of any later, longer version of the struct is one).
 */
static int wdt_stats_size_ok(uint32_t size)
{
    static const uint32_t ends[] = {
        offsetof(struct vmwdt_vcpu_stats, clock),      offsetof(struct vmwdt_vcpu_stats, action),
        offsetof(struct vmwdt_vcpu_stats, pets),       offsetof(struct vmwdt_vcpu_stats, enables),
        offsetof(struct vmwdt_vcpu_stats, refused),    offsetof(struct vmwdt_vcpu_stats, interrupts),
        offsetof(struct vmwdt_vcpu_stats, resets),     offsetof(struct vmwdt_vcpu_stats, window_ns),
        offsetof(struct vmwdt_vcpu_stats, remaining_ns), sizeof(struct vmwdt_vcpu_stats)};
    if (size > sizeof(struct vmwdt_vcpu_stats))
        return size % _Alignof(struct vmwdt_vcpu_stats) == 0;
    for (size_t i = 0; i < sizeof(ends) / sizeof(ends[0]); i++)
        if (size == ends[i])
            return 1;
    return 0;
}

/* One vCPU's figures. Its lock is held only while its state is copied. */
static void wdt_stats_one(struct vmwdt *dev, uint32_t cpu, struct vmwdt_vcpu_stats *st)
{
    struct wdt_slot *s = &dev->slots[cpu];
    pthread_mutex_lock(&s->lock);
    struct wdt_vcpu core = s->core;
    st->pets = s->stats.pets;
    st->enables = s->stats.enables;
    pthread_mutex_unlock(&s->lock);
    st->refused = atomic_load_explicit(&s->stats.refused, memory_order_relaxed);
    st->interrupts = atomic_load_explicit(&s->stats.interrupts, memory_order_relaxed);
    st->resets = atomic_load_explicit(&s->stats.resets, memory_order_relaxed);
    st->status = wdt_vcpu_read(&core, VMWDT_REG_STATUS, 0);
    st->clock = wdt_clocks_measuring(&dev->clocks, &dev->slots[cpu].clock);
    if (wdt_vcpu_counting(&core)) {
        st->window_ns = core.window_ns;
        /* The clock is read with no lock held, as every access reads it; a frozen (asleep)
         * vCPU's budget needs no reading. */
        int64_t guest = core.frozen ? 0 : wdt_guest_now(dev, cpu);
        st->remaining_ns = wdt_vcpu_remaining(&core, guest);
    } else {
        st->window_ns = 0;
        st->remaining_ns = -1;
    }
}

/* Sums over every vCPU, and the refusals that no vCPU owns. */
static void wdt_stats_all(struct vmwdt *dev, struct vmwdt_vcpu_stats *st)
{
    st->clock = dev->clocks.kind;
    st->refused = atomic_load_explicit(&dev->refused_outside, memory_order_relaxed);
    for (uint32_t i = 0; i < dev->cpu_count; i++) {
        struct wdt_slot *s = &dev->slots[i];
        pthread_mutex_lock(&s->lock);
        st->pets += s->stats.pets;
        st->enables += s->stats.enables;
        pthread_mutex_unlock(&s->lock);
        st->refused += atomic_load_explicit(&s->stats.refused, memory_order_relaxed);
        st->interrupts += atomic_load_explicit(&s->stats.interrupts, memory_order_relaxed);
        st->resets += atomic_load_explicit(&s->stats.resets, memory_order_relaxed);
    }
}

VMWDT_EXPORT int vmwdt_vcpu_stats(vmwdt *dev, uint32_t cpu, struct vmwdt_vcpu_stats *out)
{
    uint32_t size;
    if (dev == NULL || out == NULL)
        return -EINVAL;
    wdt_worker_poll(dev, false);
    memcpy(&size, out, sizeof(size));
    if (!wdt_stats_size_ok(size) || (cpu != VMWDT_ALL_CPUS && cpu >= dev->cpu_count))
        return -EINVAL;
    struct vmwdt_vcpu_stats st;
    memset(&st, 0, sizeof(st));
    if (cpu == VMWDT_ALL_CPUS)
        wdt_stats_all(dev, &st);
    else
        wdt_stats_one(dev, cpu, &st);
    st.action = atomic_load(&dev->action);
    /* The size field is the caller's own; everything after it is written, up to its size. */
    size_t known = sizeof(st) < size ? sizeof(st) : size;
    unsigned char *bytes = (unsigned char *)out;
    memcpy(bytes + sizeof(uint32_t), (const unsigned char *)&st + sizeof(uint32_t),
           known - sizeof(uint32_t));
    if (size > known)
        memset(bytes + known, 0, size - known);
    return 0;
}

VMWDT_EXPORT int vmwdt_set_action(vmwdt *dev, uint32_t action)
{
    static const char *const names[] = {"irq_then_reset", "irq_only", "reset", "none"};
    if (dev == NULL)
        return -EINVAL;
    wdt_worker_poll(dev, false);
    if (action > VMWDT_ACTION_NONE)
        return -EINVAL;
    enum wdt_action old = atomic_exchange(&dev->action, (enum wdt_action)action);
    if (old != (enum wdt_action)action)
        wdt_logf(&dev->logger, LOG_INFO, "action changed from %s to %s", names[old],
                 names[action]);
    return 0;
}
