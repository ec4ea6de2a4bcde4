/*
 * The exported functions of libvmwdt.so.1: argument checks, create and destroy, and the guest's
 * register accesses. The lifecycle (sleep, wake, snapshot, restore) is in vmwdt_life.c, the
 * ABI 1.1 functions in vmwdt_stats.c, the clocks in wdt_clock.c, the timers in wdt_runtime.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "wdt_device.h"
#include "wdt_worker.h"

/*
 * Reads a caller's struct that begins with uint32_t size: fields it lacks read as 0, a tail the
 * library does not know must be zero. A smaller struct must end on a field boundary (granule),
 * or hold the size field alone.
 */
static int wdt_read_sized(void *dst, size_t known, const void *src, size_t granule)
{
    uint32_t size;
    const unsigned char *bytes = src;
    memcpy(&size, src, sizeof(size));
    /* The size field alone is a struct with every other field missing. */
    if (size < sizeof(uint32_t) ||
        (size < known && size != sizeof(uint32_t) && size % granule != 0))
        return -EINVAL;
    for (size_t i = known; i < size; i++)
        if (bytes[i] != 0)
            return -EINVAL;
    memset(dst, 0, known);
    memcpy(dst, src, size < known ? size : known);
    return 0;
}

/* Logs a message the guest caused, within the rate limit. */
__attribute__((format(printf, 2, 3)))
static void wdt_guest_logf(struct vmwdt *dev, const char *fmt, ...)
{
    char msg[192];
    uint64_t dropped;
    va_list ap;
    if (!wdt_ratelimit_allow(&dev->guest_log, wdt_host_now(dev), &dropped))
        return;
    if (dropped != 0)
        wdt_logf(&dev->logger, LOG_WARNING, "%llu guest-caused messages suppressed",
                 (unsigned long long)dropped);
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    wdt_logf(&dev->logger, LOG_WARNING, "%s", msg);
}

static int wdt_check_config(const struct vmwdt_config *c, const struct vmwdt_host_ops *o,
                            const struct wdt_logger *lg)
{
    const char *why = NULL;
    if (c->cpu_count < 1 || c->cpu_count > VMWDT_MAX_CPUS)
        why = "cpu_count out of range 1..4096";
    else if (c->clock > VMWDT_CLOCK_HOST)
        why = "unknown clock";
    else if (c->action > VMWDT_ACTION_NONE)
        why = "unknown action";
    else if (c->timers > VMWDT_TIMERS_EXTERNAL)
        why = "unknown timers mode";
    else if (c->flags != 0)
        why = "unknown flags";
    else if (c->clock == VMWDT_CLOCK_HOST && o->guest_time_ns == NULL)
        why = "VMWDT_CLOCK_HOST needs host_ops.guest_time_ns";
    if (why == NULL)
        return 0;
    wdt_logf(lg, LOG_ERR, "vmwdt_create: %s", why);
    return -EINVAL;
}

static void wdt_free_device(struct vmwdt *dev)
{
    for (uint32_t i = 0; dev->slots != NULL && i < dev->cpu_count; i++) {
        struct wdt_slot *s = &dev->slots[i];
        wdt_vclock_fini(&s->clock);
        pthread_mutex_destroy(&s->lock);
    }
    wdt_ratelimit_fini(&dev->guest_log);
    wdt_ratelimit_fini(&dev->stall_log);
    wdt_clocks_fini(&dev->clocks);
    pthread_mutex_destroy(&dev->life_lock);
    free(dev->slots);
    free(dev);
}

static int wdt_alloc_slots(struct vmwdt *dev)
{
    void *mem;
    if (posix_memalign(&mem, 64, (size_t)dev->cpu_count * sizeof(struct wdt_slot)) != 0)
        return -ENOMEM;
    memset(mem, 0, (size_t)dev->cpu_count * sizeof(struct wdt_slot));
    dev->slots = mem;
    for (uint32_t i = 0; i < dev->cpu_count; i++) {
        struct wdt_slot *s = &dev->slots[i];
        pthread_mutex_init(&s->lock, NULL);
        wdt_vcpu_init(&s->core);
        wdt_vclock_init(&s->clock);
        atomic_init(&s->deadline, INT64_MAX);
        atomic_init(&s->heap_key, INT64_MAX);
    }
    return 0;
}

VMWDT_EXPORT uint32_t vmwdt_abi_version(void)
{
    return ((uint32_t)VMWDT_ABI_MAJOR << 16) | VMWDT_ABI_MINOR;
}

VMWDT_EXPORT const char *vmwdt_strerror(int err)
{
    if (err == 0)
        return "Success";
    /* Negating INT_MIN would overflow; no errno is that large anyway. */
    if (err == INT_MIN)
        return "Unknown error";
    const char *s = strerrordesc_np(err < 0 ? -err : err);
    return s != NULL ? s : "Unknown error";
}

VMWDT_EXPORT int vmwdt_create(const struct vmwdt_config *cfg, const struct vmwdt_host_ops *ops,
                              vmwdt **out)
{
    struct vmwdt_config c;
    struct vmwdt_host_ops o;
    pthread_mutexattr_t attr;
    memset(&o, 0, sizeof(o));
    if (cfg == NULL || out == NULL)
        return -EINVAL;
    if (ops != NULL && wdt_read_sized(&o, sizeof(o), ops, sizeof(void *)) != 0)
        return -EINVAL;
    struct wdt_logger lg = {.fn = o.log, .opaque = o.opaque};
    if (wdt_read_sized(&c, sizeof(c), cfg, sizeof(uint32_t)) != 0) {
        wdt_logf(&lg, LOG_ERR, "vmwdt_create: bad struct vmwdt_config size or non-zero tail");
        return -EINVAL;
    }
    int rc = wdt_check_config(&c, &o, &lg);
    if (rc != 0)
        return rc;
    struct vmwdt *dev = calloc(1, sizeof(*dev));
    if (dev == NULL)
        return -ENOMEM;
    dev->cpu_count = c.cpu_count;
    dev->action = (enum wdt_action)c.action;
    dev->ops = o;
    dev->logger = lg;
    wdt_ratelimit_init(&dev->guest_log);
    wdt_ratelimit_init(&dev->stall_log);
    wdt_clocks_init(&dev->clocks, c.clock, &dev->ops, &dev->logger);
    /* Recursive: a callback run from sleep, wake, snapshot or restore may call them again. */
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&dev->life_lock, &attr);
    pthread_mutexattr_destroy(&attr);
    atomic_init(&dev->activated, false);
    if (wdt_alloc_slots(dev) != 0) {
        wdt_free_device(dev);
        return -ENOMEM;
    }
    /* The last step: THREAD timers start the worker here. One that cannot start yet (EAGAIN)
     * is logged and retried later: the device is handed out all the same. */
    rc = wdt_rt_init(dev, c.timers == VMWDT_TIMERS_EXTERNAL);
    if (rc != 0) {
        wdt_free_device(dev);
        return rc;
    }
    *out = dev;
    return 0;
}

VMWDT_EXPORT void vmwdt_destroy(vmwdt *dev)
{
    if (dev == NULL)
        return;
    wdt_rt_fini(dev);
    wdt_free_device(dev);
}

VMWDT_EXPORT int vmwdt_set_vcpu_thread(vmwdt *dev, uint32_t cpu, int32_t pid, int32_t tid)
{
    if (dev == NULL)
        return -EINVAL;
    wdt_worker_poll(dev, false);
    if (cpu >= dev->cpu_count || pid <= 0 || tid <= 0)
        return -EINVAL;
    return wdt_clocks_set_thread(&dev->clocks, &dev->slots[cpu].clock, cpu, pid, tid);
}

/* A refused guest access, counted and logged. Kept out of line, so that the check that every
 * pet makes stays small enough to be inlined into it. */
__attribute__((cold, noinline))
static int wdt_refuse_access(struct vmwdt *dev, uint64_t offset, uint32_t len, const char *what)
{
    uint64_t cpu = offset / VMWDT_REG_STRIDE;
    wdt_stats_count_refused(cpu < dev->cpu_count ? &dev->slots[cpu].stats.refused
                                                 : &dev->refused_outside);
    wdt_guest_logf(dev, "refused guest %s of %u bytes at offset 0x%llx", what, len,
                   (unsigned long long)offset);
    return -EINVAL;
}

/* Checks a guest access; returns 0 or -EINVAL (logged). */
static int wdt_check_access(struct vmwdt *dev, uint64_t offset, const void *data, uint32_t len,
                            const char *what)
{
    if (dev == NULL || data == NULL)
        return -EINVAL;
    if (len != 4 || offset % 4 != 0 || offset / VMWDT_REG_STRIDE >= dev->cpu_count)
        return wdt_refuse_access(dev, offset, len, what);
    return 0;
}

static uint32_t wdt_le32_load(const void *p)
{
    const unsigned char *b = p;
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static void wdt_le32_store(void *p, uint32_t v)
{
    unsigned char *b = p;
    b[0] = (unsigned char)v;
    b[1] = (unsigned char)(v >> 8);
    b[2] = (unsigned char)(v >> 16);
    b[3] = (unsigned char)(v >> 24);
}

VMWDT_EXPORT int vmwdt_mmio_write(vmwdt *dev, uint64_t offset, const void *data, uint32_t len)
{
    int rc = wdt_check_access(dev, offset, data, len, "write");
    if (rc != 0)
        return rc;
    uint32_t cpu = (uint32_t)(offset / VMWDT_REG_STRIDE);
    uint32_t reg = (uint32_t)(offset % VMWDT_REG_STRIDE);
    uint32_t val = wdt_le32_load(data);
    struct wdt_slot *s = &dev->slots[cpu];
    bool counts = reg == VMWDT_REG_STATUS || reg == VMWDT_REG_LOAD_CNT;
    int64_t guest = counts ? wdt_guest_now(dev, cpu) : 0;
    int64_t now = counts ? wdt_host_now(dev) : 0;
    int64_t deadline = INT64_MAX;
    pthread_mutex_lock(&s->lock);
    /* A window that already ended in guest time ends before the write takes effect. Asked
     * inline first: in the common pet nothing is due, and settling would find just that. */
    if (counts && wdt_vcpu_due(&s->core, guest))
        wdt_slot_settle(dev, s, guest);
    enum wdt_write_result res = wdt_vcpu_write(&s->core, reg, val, guest);
    wdt_stats_count_write(&s->stats, reg, res);
    if (counts)
        deadline = wdt_slot_update_deadline(s, guest, now);
    pthread_mutex_unlock(&s->lock);
    /* Queued whatever the result: an expiry applied above is reported by the runtime. */
    if (counts)
        wdt_rt_queue(dev, cpu, deadline);
    /* A worker that could not start yet is tried again: at once for an enable. */
    wdt_worker_poll(dev, res == WDT_WRITE_ARMED && reg == VMWDT_REG_STATUS);
    switch (res) {
    case WDT_WRITE_ARMED:
        /* Read first: a store on every pet would bounce the flag's cache line between the
         * cores of vCPUs that pet at once. */
        if (!atomic_load_explicit(&dev->activated, memory_order_relaxed))
            atomic_store(&dev->activated, true);
        /* fall through */
    case WDT_WRITE_DONE:
        return 0;
    case WDT_WRITE_REFUSED_FREQ0:
        wdt_guest_logf(dev, "vCPU %u: %s refused: CLOCK_FREQ_HZ is 0", cpu,
                       reg == VMWDT_REG_STATUS ? "enable" : "pet");
        return -EINVAL;
    case WDT_WRITE_REFUSED_RO:
        wdt_guest_logf(dev, "vCPU %u: write to read-only CURRENT_CNT ignored", cpu);
        return -EINVAL;
    default:
        return -EINVAL;
    }
}

VMWDT_EXPORT int vmwdt_mmio_read(vmwdt *dev, uint64_t offset, void *data, uint32_t len)
{
    if (dev != NULL)
        wdt_worker_poll(dev, false);
    int rc = wdt_check_access(dev, offset, data, len, "read");
    if (rc != 0) {
        if (data != NULL)
            memset(data, 0, len);
        return rc;
    }
    uint32_t cpu = (uint32_t)(offset / VMWDT_REG_STRIDE);
    uint32_t reg = (uint32_t)(offset % VMWDT_REG_STRIDE);
    struct wdt_slot *s = &dev->slots[cpu];
    /* STATUS and CURRENT_CNT show every expiry the guest clock has reached. */
    bool counts = reg == VMWDT_REG_STATUS || reg == VMWDT_REG_CURRENT_CNT;
    int64_t guest = counts ? wdt_guest_now(dev, cpu) : 0;
    pthread_mutex_lock(&s->lock);
    bool settled = counts && wdt_vcpu_due(&s->core, guest) && wdt_slot_settle(dev, s, guest);
    uint32_t val = wdt_vcpu_read(&s->core, reg, guest);
    pthread_mutex_unlock(&s->lock);
    if (settled)
        wdt_slot_requeue(dev, cpu, guest);
    wdt_le32_store(data, val);
    return 0;
}

VMWDT_EXPORT void vmwdt_free(void *p)
{
    free(p);
}

VMWDT_EXPORT int64_t vmwdt_next_deadline_ns(vmwdt *dev)
{
    if (dev == NULL)
        return INT64_MAX;
    wdt_worker_poll(dev, false);
    if (!dev->rt.external)
        return INT64_MAX;
    return wdt_rt_next_deadline(dev);
}

VMWDT_EXPORT int vmwdt_run_due(vmwdt *dev, int64_t now_ns)
{
    if (dev == NULL || !dev->rt.external)
        return -EINVAL;
    return wdt_rt_run_due(dev, now_ns);
}
