/*
 * The worker thread of THREAD timers. See wdt_worker.h.
 *
 * The worker's state is rt.armed, guarded by rt.lock: the host time it waits for (INT64_MAX: it
 * waits with no deadline), or INT64_MIN while it is not waiting. Whoever queues a check earlier
 * than armed signals rt.wake; a worker that is not waiting looks at the heap, under rt.lock,
 * before it waits again, so no queued check is missed and a pet that leaves the top of the heap
 * alone signals nothing. A worker that starts late (after an outage) looks at the heap first, so
 * that every check that came due meanwhile runs at once.
 */
#define _GNU_SOURCE
#include "wdt_worker.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <syslog.h>
#include <sys/prctl.h>
#include <time.h>

#include "wdt_heap.h"

static int64_t wdt_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

/* The earliest check the worker has to make; rt.lock held. */
static int64_t wdt_worker_due(struct vmwdt *dev)
{
    wdt_heap_settle(dev);
    return dev->rt.asleep ? INT64_MAX : wdt_heap_top(dev);
}

/*
 * Waits, rt.lock held, until host time `due` (seen as `now` when CLOCK_MONOTONIC read `mono`)
 * or a signal. rt.wake uses CLOCK_MONOTONIC: a host time of the host's own (ops.now_ns) is
 * waited for as the same distance in CLOCK_MONOTONIC, as a relative timer would.
 */
static void wdt_worker_wait(struct vmwdt *dev, int64_t due, int64_t now, int64_t mono)
{
    struct wdt_runtime *rt = &dev->rt;
    int64_t wait;
    /* Host readings have any origin: the difference may not fit, and is then far away. */
    if (__builtin_sub_overflow(due, now, &wait) || wait > WDT_WAIT_MAX_NS)
        wait = WDT_WAIT_MAX_NS;
    else if (wait < 0)
        wait = 0;
    int64_t at = mono + wait;
    struct timespec ts = {.tv_sec = at / 1000000000, .tv_nsec = at % 1000000000};
    rt->armed = due;
    pthread_cond_timedwait(&rt->wake, &rt->lock, &ts);
    rt->armed = INT64_MIN;
}

static void *wdt_worker_main(void *varg)
{
    struct vmwdt *dev = varg;
    struct wdt_runtime *rt = &dev->rt;
    /* Named by the worker itself, which needs no descriptor (naming another thread opens its
     * /proc comm file). A failure here costs only the name. */
    pthread_setname_np(pthread_self(), "vmwdt-worker");
    /* A timed futex wait may end up to the thread's timer slack (50 us by default) late, where
     * the timerfd it replaces had none: the worker's own slack is the least the kernel allows. */
    prctl(PR_SET_TIMERSLACK, 1ul, 0ul, 0ul, 0ul);
    pthread_mutex_lock(&rt->lock);
    rt->worker_ready = true;
    pthread_cond_broadcast(&rt->wake);
    while (!rt->closing) {
        int64_t due = wdt_worker_due(dev);
        if (due == INT64_MAX) {
            /* Nothing queued, or asleep: host time is not even read until a check is queued. */
            rt->armed = INT64_MAX;
            pthread_cond_wait(&rt->wake, &rt->lock);
            rt->armed = INT64_MIN;
            continue;
        }
        pthread_mutex_unlock(&rt->lock);
        /* Host time comes from a callback, read with no lock held. */
        int64_t now = wdt_host_now(dev);
        int64_t mono = dev->ops.now_ns == NULL ? now : wdt_mono_ns();
        if (due <= now) {
            wdt_rt_run_due(dev, now);
            pthread_mutex_lock(&rt->lock);
            continue;
        }
        pthread_mutex_lock(&rt->lock);
        /* The heap may have changed while the lock was free: what was queued meanwhile did not
         * signal (armed was INT64_MIN), so look again before waiting. */
        if (!rt->closing && wdt_worker_due(dev) == due)
            wdt_worker_wait(dev, due, now, mono);
    }
    pthread_mutex_unlock(&rt->lock);
    return NULL;
}

/* Creates the worker thread; rt.lock held. 0 or pthread_create's errno. */
static int wdt_worker_spawn(struct vmwdt *dev)
{
    struct wdt_runtime *rt = &dev->rt;
    sigset_t all, old;
    /* The worker takes no signal meant for the host's threads. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&rt->worker, NULL, wdt_worker_main, dev);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

void wdt_worker_try_start(struct vmwdt *dev, bool arming, struct wdt_start_note *note)
{
    struct wdt_runtime *rt = &dev->rt;
    if (rt->external || rt->worker_started || rt->closing)
        return;
    int64_t now = wdt_mono_ns();
    if (!arming && rt->start_fails != 0 && now < rt->retry_at)
        return;
    int rc = wdt_worker_spawn(dev);
    if (rc != 0) {
        if (rt->start_fails == 0) {
            note->err = rc;
            rt->outage_began = now;
            rt->retry_gap = WDT_RETRY_MIN_NS;
        } else if (rt->retry_gap < WDT_RETRY_MAX_NS / 2) {
            rt->retry_gap *= 2;
        } else {
            rt->retry_gap = WDT_RETRY_MAX_NS;
        }
        if (rt->start_fails != UINT64_MAX)
            rt->start_fails++;
        rt->retry_at = now + rt->retry_gap;
        return;
    }
    rt->worker_started = true;
    atomic_store(&rt->worker_running, true);
    if (rt->start_fails != 0) {
        note->fails = rt->start_fails;
        note->outage_ns = now - rt->outage_began;
        rt->start_fails = 0;
    }
}

void wdt_worker_log(struct vmwdt *dev, const struct wdt_start_note *note)
{
    if (note->err != 0)
        wdt_logf(&dev->logger, LOG_ERR, "cannot start the worker thread: pthread_create "
                 "failed: %s: the device is not watching until a thread can start (retried at "
                 "the next arming and from later calls)", strerror(note->err));
    if (note->fails != 0)
        wdt_logf(&dev->logger, LOG_NOTICE, "worker thread started after %llu failed attempts "
                 "over %lld ms: the device is watching again, expiries missed meanwhile fire now",
                 (unsigned long long)note->fails, (long long)(note->outage_ns / 1000000));
}

void wdt_worker_start(struct vmwdt *dev)
{
    struct wdt_runtime *rt = &dev->rt;
    struct wdt_start_note note = {0};
    pthread_mutex_lock(&rt->lock);
    wdt_worker_try_start(dev, true, &note);
    /* Once create returns a worker that started waits for its first check, under its name. */
    while (rt->worker_started && !rt->worker_ready)
        pthread_cond_wait(&rt->wake, &rt->lock);
    pthread_mutex_unlock(&rt->lock);
    wdt_worker_log(dev, &note);
}

void wdt_worker_retry(struct vmwdt *dev, bool arming)
{
    struct wdt_start_note note = {0};
    pthread_mutex_lock(&dev->rt.lock);
    wdt_worker_try_start(dev, arming, &note);
    pthread_mutex_unlock(&dev->rt.lock);
    wdt_worker_log(dev, &note);
}

void wdt_worker_kick(struct vmwdt *dev, int64_t deadline)
{
    struct wdt_runtime *rt = &dev->rt;
    if (!rt->external && deadline < rt->armed)
        pthread_cond_signal(&rt->wake);
}

void wdt_worker_join(struct vmwdt *dev)
{
    struct wdt_runtime *rt = &dev->rt;
    pthread_mutex_lock(&rt->lock);
    /* rt.closing is set: no start can come after this look. */
    bool started = rt->worker_started;
    pthread_cond_signal(&rt->wake);
    pthread_mutex_unlock(&rt->lock);
    if (!started)
        return;
    /* vmwdt_destroy from a callback breaks the contract; the worker is then left to end on
     * its own rather than join itself. */
    if (pthread_equal(rt->worker, pthread_self()))
        pthread_detach(rt->worker);
    else
        pthread_join(rt->worker, NULL);
}
