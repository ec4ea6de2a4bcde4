/*
 * The worker thread of THREAD timers. See wdt_worker.h.
 */
#define _GNU_SOURCE
#include "wdt_worker.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "wdt_heap.h"

/* Arms the running worker's timer for deadline (INT64_MAX: disarms it); rt.lock held. */
static void wdt_timer_arm(struct vmwdt *dev, int64_t deadline, int64_t host_now)
{
    struct wdt_runtime *rt = &dev->rt;
    struct itimerspec its;
    int flags = 0;
    memset(&its, 0, sizeof(its));
    if (deadline != INT64_MAX) {
        int64_t at;
        if (dev->ops.now_ns == NULL) {
            /* Host time is CLOCK_MONOTONIC itself: arm absolutely, with no drift. */
            at = deadline > 0 ? deadline : 1;
            flags = TFD_TIMER_ABSTIME;
        } else {
            at = deadline > host_now ? deadline - host_now : 1;
        }
        its.it_value.tv_sec = at / 1000000000;
        its.it_value.tv_nsec = at % 1000000000;
    }
    timerfd_settime(rt->timer_fd, flags, &its, NULL);
    rt->armed = deadline;
}

void wdt_worker_arm(struct vmwdt *dev, int64_t deadline, int64_t host_now)
{
    if (dev->rt.worker_running && deadline < dev->rt.armed)
        wdt_timer_arm(dev, deadline, host_now);
}

/*
 * Makes room to record one more stopped worker; rt.lock held. A worker starts only when there
 * is room, so that stopping it never fails and every worker is joined.
 */
static int wdt_zombie_reserve(struct wdt_runtime *rt)
{
    if (rt->zombie_len < rt->zombie_cap)
        return 0;
    uint32_t cap = rt->zombie_cap ? 2 * rt->zombie_cap : 4;
    pthread_t *z = realloc(rt->zombies, cap * sizeof(*z));
    if (z == NULL)
        return -ENOMEM;
    rt->zombies = z;
    rt->zombie_cap = cap;
    return 0;
}

/* What a worker thread is started with: it runs while rt.gen still equals gen. */
struct wdt_worker_arg {
    struct vmwdt *dev;
    uint64_t gen;
    int fd; /* its own timerfd, which it closes when it ends */
};

/* Makes a worker blocked in read() on fd return at once. */
static void wdt_timer_poke(int fd)
{
    struct itimerspec its = {.it_value = {.tv_sec = 0, .tv_nsec = 1}};
    timerfd_settime(fd, 0, &its, NULL);
}

void wdt_worker_stop(struct wdt_runtime *rt)
{
    rt->worker_running = false;
    rt->gen++;
    wdt_timer_poke(rt->timer_fd);
    rt->timer_fd = -1;
    rt->armed = INT64_MAX;
    /* Room was reserved when the worker started. */
    rt->zombies[rt->zombie_len++] = rt->worker;
}

static void *wdt_worker_main(void *varg)
{
    struct wdt_worker_arg arg = *(struct wdt_worker_arg *)varg;
    struct vmwdt *dev = arg.dev;
    struct wdt_runtime *rt = &dev->rt;
    free(varg);
    for (;;) {
        pthread_mutex_lock(&rt->lock);
        if (rt->gen != arg.gen)
            break;
        pthread_mutex_unlock(&rt->lock);
        wdt_rt_run_due(dev, wdt_host_now(dev));
        /* Callbacks may have run for a while: a timer armed relative to host time counts from
         * the time it is armed at, not from when this round began. */
        int64_t now = wdt_host_now(dev);
        pthread_mutex_lock(&rt->lock);
        if (rt->gen != arg.gen)
            break;
        wdt_heap_settle(dev);
        wdt_timer_arm(dev, wdt_heap_top(dev), now);
        pthread_mutex_unlock(&rt->lock);
        uint64_t expirations;
        if (read(arg.fd, &expirations, sizeof(expirations)) < 0 && errno != EINTR) {
            int err = errno;
            /* A worker that can no longer wait stops as if put to sleep, and the next API call
             * starts a new one. */
            pthread_mutex_lock(&rt->lock);
            if (rt->gen == arg.gen) {
                wdt_worker_stop(rt);
                rt->retry_at = INT64_MIN;
                atomic_store(&rt->start_wanted, true);
            }
            pthread_mutex_unlock(&rt->lock);
            wdt_logf(&dev->logger, LOG_ERR, "timer thread: read failed: %s", strerror(err));
            close(arg.fd);
            return NULL;
        }
    }
    pthread_mutex_unlock(&rt->lock);
    close(arg.fd);
    return NULL;
}

/* Starts a worker; rt.lock held. Returns 0 or -errno with *what naming the step that failed. */
static int wdt_worker_start(struct vmwdt *dev, const char **what)
{
    struct wdt_runtime *rt = &dev->rt;
    sigset_t all, old;
    struct wdt_worker_arg *arg = malloc(sizeof(*arg));
    if (arg == NULL || wdt_zombie_reserve(rt) != 0) {
        free(arg);
        *what = "allocation";
        return -ENOMEM;
    }
    int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        free(arg);
        *what = "timerfd_create";
        return -err;
    }
    arg->fd = fd;
    arg->dev = dev;
    arg->gen = ++rt->gen;
    /* The worker takes no signal meant for the host's threads. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    /* arg belongs to the worker once it runs: only fd is used from here on. */
    int rc = pthread_create(&rt->worker, NULL, wdt_worker_main, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        close(fd);
        free(arg);
        *what = "pthread_create";
        return -rc;
    }
    rt->worker_running = true;
    rt->timer_fd = fd;
    /* The new timer is disarmed; the worker looks at the heap before it first blocks. */
    rt->armed = INT64_MAX;
    return 0;
}

void wdt_worker_ensure(struct vmwdt *dev, int64_t host_now, bool arming,
                       struct wdt_start_note *note)
{
    struct wdt_runtime *rt = &dev->rt;
    memset(note, 0, sizeof(*note));
    if (rt->worker_running || rt->external || rt->asleep || rt->closing)
        return;
    if (rt->heap_len == 0) {
        /* Nothing to wait for: the next arming starts a worker. */
        atomic_store(&rt->start_wanted, false);
        return;
    }
    if (!arming && host_now < rt->retry_at)
        return;
    int err = wdt_worker_start(dev, &note->what);
    if (err == 0) {
        atomic_store(&rt->start_wanted, false);
        if (rt->outage_fails != 0) {
            note->recovered = true;
            note->fails = rt->outage_fails;
            note->outage_ns = host_now - rt->outage_since;
            rt->outage_fails = 0;
        }
        return;
    }
    note->err = err;
    if (rt->outage_fails++ == 0) {
        note->first = true;
        rt->outage_since = host_now;
        rt->retry_backoff = WDT_RETRY_MIN_NS;
    }
    rt->retry_at = wdt_deadline_after(host_now, rt->retry_backoff);
    if (rt->retry_backoff < WDT_RETRY_MAX_NS / 2)
        rt->retry_backoff *= 2;
    else
        rt->retry_backoff = WDT_RETRY_MAX_NS;
    atomic_store(&rt->start_wanted, true);
}

void wdt_worker_log(struct vmwdt *dev, const struct wdt_start_note *note, int64_t host_now)
{
    uint64_t dropped = 0;
    if (!note->first && !note->recovered)
        return;
    if (!wdt_ratelimit_allow(&dev->rt.start_log, host_now, &dropped))
        return;
    if (dropped != 0)
        wdt_logf(&dev->logger, LOG_WARNING, "%llu timer thread messages suppressed",
                 (unsigned long long)dropped);
    if (note->first)
        wdt_logf(&dev->logger, LOG_ERR, "cannot start the timer thread: %s failed: %s; "
                 "retrying until it starts", note->what, strerror(-note->err));
    else
        wdt_logf(&dev->logger, LOG_NOTICE, "timer thread started after %llu failed attempts "
                 "over %lld ms: overdue checks run now", (unsigned long long)note->fails,
                 (long long)(note->outage_ns / 1000000));
}

void wdt_rt_retry(struct vmwdt *dev)
{
    struct wdt_runtime *rt = &dev->rt;
    struct wdt_start_note note;
    if (!atomic_load_explicit(&rt->start_wanted, memory_order_relaxed))
        return;
    int64_t now = wdt_host_now(dev);
    pthread_mutex_lock(&rt->lock);
    wdt_worker_ensure(dev, now, false, &note);
    pthread_mutex_unlock(&rt->lock);
    wdt_worker_log(dev, &note, now);
}

void wdt_rt_reap(struct vmwdt *dev)
{
    struct wdt_runtime *rt = &dev->rt;
    for (;;) {
        pthread_t victim;
        bool found = false;
        pthread_mutex_lock(&rt->lock);
        for (uint32_t i = 0; i < rt->zombie_len; i++) {
            if (!pthread_equal(rt->zombies[i], pthread_self())) {
                victim = rt->zombies[i];
                rt->zombies[i] = rt->zombies[--rt->zombie_len];
                found = true;
                break;
            }
        }
        pthread_mutex_unlock(&rt->lock);
        if (!found)
            return;
        pthread_join(victim, NULL);
    }
}
