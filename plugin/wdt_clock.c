/*
 * Guest clocks. See wdt_clock.h.
 */
#define _GNU_SOURCE
#include "wdt_clock.h"

#include <errno.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

void wdt_vclock_init(struct wdt_vclock *c)
{
    memset(c, 0, sizeof(*c));
    c->thread_raw = -1;
    pthread_mutex_init(&c->lock, NULL);
}

void wdt_vclock_fini(struct wdt_vclock *c)
{
    pthread_mutex_destroy(&c->lock);
}

/* wdt_vclock_fold with the lock held. */
static int64_t wdt_vclock_fold_locked(struct wdt_vclock *c, uint64_t src_id, int64_t raw)
{
    if (!c->started) {
        /* The first reading is where the clock starts, whatever its sign: only differences
         * of readings count. */
        c->started = true;
        c->offset = 0;
        c->src_id = src_id;
        c->last = raw;
    } else if (c->src_id != src_id) {
        /* A new source continues from where the old one stood. */
        c->offset = (int64_t)((uint64_t)c->last - (uint64_t)raw);
        c->src_id = src_id;
    }
    /* Wrapping arithmetic: readings of any origin never make this undefined. */
    int64_t value = (int64_t)((uint64_t)raw + (uint64_t)c->offset);
    if (value < c->last)
        value = c->last;
    c->last = value;
    return value;
}

int64_t wdt_vclock_fold(struct wdt_vclock *c, uint64_t src_id, int64_t raw)
{
    pthread_mutex_lock(&c->lock);
    int64_t value = wdt_vclock_fold_locked(c, src_id, raw);
    pthread_mutex_unlock(&c->lock);
    return value;
}

bool wdt_vclock_note(struct wdt_vclock *c, enum wdt_clock_note note)
{
    pthread_mutex_lock(&c->lock);
    bool first = (c->noted & note) == 0;
    c->noted |= note;
    pthread_mutex_unlock(&c->lock);
    return first;
}

void wdt_vclock_set_thread(struct wdt_vclock *c, const struct wdt_thread *t)
{
    pthread_mutex_lock(&c->lock);
    c->thread = *t;
    c->thread_gone = false;
    c->thread_start = 0;
    c->thread_raw = -1;
    c->noted &= ~(unsigned)WDT_NOTE_FALLBACK_ERROR;
    pthread_mutex_unlock(&c->lock);
}

void wdt_vclock_get_thread(struct wdt_vclock *c, struct wdt_thread *t, bool *gone,
                           uint64_t *folds)
{
    pthread_mutex_lock(&c->lock);
    *t = c->thread;
    *gone = c->thread_gone;
    *folds = c->folds;
    pthread_mutex_unlock(&c->lock);
}

void wdt_vclock_thread_gone(struct wdt_vclock *c, uint64_t id)
{
    pthread_mutex_lock(&c->lock);
    if (c->thread.id == id)
        c->thread_gone = true;
    pthread_mutex_unlock(&c->lock);
}

int wdt_vclock_fold_thread(struct wdt_vclock *c, uint64_t id, uint64_t folds, int64_t raw,
                           uint64_t start, int64_t *value)
{
    pthread_mutex_lock(&c->lock);
    /* Identity checks concern the vCPU's current thread; a reading of one it replaced meanwhile
     * is still a reading of a thread that ran the vCPU, and is folded as such. */
    if (c->thread.id == id) {
        bool other = c->thread_gone;
        if (start != 0) {
            if (c->thread_start == 0)
                c->thread_start = start;
            else if (c->thread_start != start)
                other = true;
        }
        /*
         * A thread's clocks never go back: a reading below one that was folded before this
         * reading began comes from a thread that reused the tid. Readings that overlapped may
         * arrive in either order, hence the fold count.
         */
        if (c->thread_raw >= 0 && raw < c->thread_raw && c->thread_raw_at <= folds)
            other = true;
        if (other) {
            c->thread_gone = true;
            pthread_mutex_unlock(&c->lock);
            return -ESRCH;
        }
        c->folds++;
        if (raw > c->thread_raw) {
            c->thread_raw = raw;
            c->thread_raw_at = c->folds;
        }
    }
    *value = wdt_vclock_fold_locked(c, id, raw);
    pthread_mutex_unlock(&c->lock);
    return 0;
}

void wdt_clocks_init(struct wdt_clocks *k, enum vmwdt_clock kind,
                     const struct vmwdt_host_ops *ops, const struct wdt_logger *logger)
{
    k->kind = kind;
    k->source = kind;
    /* AUTO: the host's own accounting when it gives one, else the thread's CPU time. */
    if (kind == VMWDT_CLOCK_AUTO)
        k->source = ops->guest_time_ns != NULL ? VMWDT_CLOCK_HOST : VMWDT_CLOCK_THREAD_CPU;
    k->ops = ops;
    k->logger = logger;
    wdt_stat_cache_init(&k->cache);
    atomic_init(&k->next_thread_id, WDT_SRC_FIRST_THREAD);
}

void wdt_clocks_fini(struct wdt_clocks *k)
{
    wdt_stat_cache_fini(&k->cache);
}

int64_t wdt_clocks_host_now(const struct wdt_clocks *k)
{
    if (k->ops->now_ns != NULL)
        return k->ops->now_ns(k->ops->opaque);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

/* A vCPU clock that needs a thread but has none, or whose thread's clock failed or is gone. */
static int64_t wdt_fallback_now(struct wdt_clocks *k, struct wdt_vclock *c, uint32_t cpu,
                                const struct wdt_thread *t, int err)
{
    enum wdt_clock_note why = t->id == 0 ? WDT_NOTE_FALLBACK_NO_THREAD : WDT_NOTE_FALLBACK_ERROR;
    if (wdt_vclock_note(c, why)) {
        if (t->id == 0)
            wdt_logf(k->logger, LOG_NOTICE,
                     "vCPU %u: no thread named with vmwdt_set_vcpu_thread: using host time", cpu);
        else if (err == -ESRCH)
            wdt_logf(k->logger, LOG_ERR, "vCPU %u: thread %d of process %d is gone: using "
                     "host time until another is named", cpu, t->tid, t->pid);
        else
            wdt_logf(k->logger, LOG_ERR, "vCPU %u: reading its thread's clock failed (%s): "
                     "using host time until it works again", cpu, strerror(-err));
    }
    return wdt_vclock_fold(c, WDT_SRC_HOST_NOW, wdt_clocks_host_now(k));
}

/* A raw reading of thread t as the device's source measures it; 0 or -errno. */
static int wdt_thread_raw(struct wdt_clocks *k, uint32_t cpu, const struct wdt_thread *t,
                          int64_t *raw, uint64_t *start)
{
    *start = 0;
    if (k->source == VMWDT_CLOCK_THREAD_CPU && t->own_process)
        return wdt_thread_cpu_ns(t, raw);
    /* Guest time, or the CPU time of another process's thread: from its /proc entry. */
    struct wdt_stat st;
    int rc = wdt_stat_read(&k->cache, cpu, t, &st);
    if (rc != 0)
        return rc;
    uint64_t ticks = k->source == VMWDT_CLOCK_GUEST_TIME ? st.guest_time : st.utime + st.stime;
    *raw = (int64_t)(ticks * (uint64_t)wdt_tick_ns());
    *start = st.starttime;
    return 0;
}

/* The vCPU's clock measured through its thread. */
static int64_t wdt_thread_now(struct wdt_clocks *k, struct wdt_vclock *c, uint32_t cpu)
{
    struct wdt_thread t;
    bool gone;
    uint64_t folds, start;
    int64_t raw, value;
    wdt_vclock_get_thread(c, &t, &gone, &folds);
    if (t.id == 0 || gone)
        return wdt_fallback_now(k, c, cpu, &t, -ESRCH);
    int err = wdt_thread_raw(k, cpu, &t, &raw, &start);
    if (err == 0)
        err = wdt_vclock_fold_thread(c, t.id, folds, raw, start, &value);
    else if (err == -ESRCH)
        wdt_vclock_thread_gone(c, t.id);
    if (err != 0)
        return wdt_fallback_now(k, c, cpu, &t, err);
    return value;
}

int64_t wdt_clocks_guest_now(struct wdt_clocks *k, struct wdt_vclock *c, uint32_t cpu)
{
    switch (k->source) {
    case VMWDT_CLOCK_HOST:
        return wdt_vclock_fold(c, WDT_SRC_HOST_GUEST, k->ops->guest_time_ns(k->ops->opaque, cpu));
    case VMWDT_CLOCK_MONOTONIC:
        return wdt_vclock_fold(c, WDT_SRC_HOST_NOW, wdt_clocks_host_now(k));
    default:
        return wdt_thread_now(k, c, cpu);
    }
}

enum vmwdt_clock wdt_clocks_measuring(const struct wdt_clocks *k, struct wdt_vclock *c)
{
    if (k->source == VMWDT_CLOCK_HOST || k->source == VMWDT_CLOCK_MONOTONIC)
        return k->source;
    struct wdt_thread t;
    bool gone;
    uint64_t folds;
    wdt_vclock_get_thread(c, &t, &gone, &folds);
    /* Without a usable thread, the reading falls back to host time. */
    return t.id != 0 && !gone ? k->source : VMWDT_CLOCK_MONOTONIC;
}

int wdt_clocks_set_thread(struct wdt_clocks *k, struct wdt_vclock *c, uint32_t cpu,
                          int32_t pid, int32_t tid)
{
    struct wdt_thread t;
    int rc = wdt_thread_name(&t, pid, tid);
    if (rc != 0) {
        wdt_logf(k->logger, LOG_ERR, "vCPU %u: thread %d of process %d: %s", cpu, tid, pid,
                 strerror(-rc));
        return rc;
    }
    t.id = atomic_fetch_add(&k->next_thread_id, 1);
    wdt_vclock_set_thread(c, &t);
    return 0;
}
