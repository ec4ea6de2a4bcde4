/*
 * The timer runtime: a min-heap of host deadlines, one entry per vCPU at most, served either by
 * one worker thread sleeping on its timerfd (THREAD) or by the host's calls to vmwdt_run_due()
 * (EXTERNAL). The number of descriptors does not depend on the number of vCPUs.
 *
 * Each vCPU publishes its deadline, the earliest host time its window can end (guest clocks
 * never run faster than host time). A heap key is only ever a lower bound of that deadline:
 * pets, which move deadlines later, only publish them; a stale key is corrected when it reaches
 * the top of the heap, and a vCPU whose key comes up is checked against its guest clock, which
 * says whether the window really ended, and queued again if not.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "wdt_device.h"

int64_t wdt_deadline_after(int64_t host_now, int64_t delta)
{
    if (delta < 0)
        delta = 0;
    if (host_now > 0 && delta >= INT64_MAX - 1 - host_now)
        return INT64_MAX - 1;
    return host_now + delta;
}

/* Heap primitives; rt.lock held. */

static void wdt_heap_set(struct vmwdt *dev, uint32_t pos, struct wdt_heap_entry e)
{
    dev->rt.heap[pos] = e;
    dev->slots[e.cpu].heap_pos = pos;
}

static void wdt_heap_up(struct vmwdt *dev, uint32_t pos)
{
    struct wdt_heap_entry e = dev->rt.heap[pos];
    while (pos > 0) {
        uint32_t parent = (pos - 1) / 2;
        if (dev->rt.heap[parent].key <= e.key)
            break;
        wdt_heap_set(dev, pos, dev->rt.heap[parent]);
        pos = parent;
    }
    wdt_heap_set(dev, pos, e);
}

static void wdt_heap_down(struct vmwdt *dev, uint32_t pos)
{
    struct wdt_runtime *rt = &dev->rt;
    struct wdt_heap_entry e = rt->heap[pos];
    for (;;) {
        uint32_t child = 2 * pos + 1;
        if (child >= rt->heap_len)
            break;
        if (child + 1 < rt->heap_len && rt->heap[child + 1].key < rt->heap[child].key)
            child++;
        if (e.key <= rt->heap[child].key)
            break;
        wdt_heap_set(dev, pos, rt->heap[child]);
        pos = child;
    }
    wdt_heap_set(dev, pos, e);
}

/* Takes the entry at pos out of the heap. */
static void wdt_heap_remove(struct vmwdt *dev, uint32_t pos)
{
    struct wdt_runtime *rt = &dev->rt;
    atomic_store(&dev->slots[rt->heap[pos].cpu].heap_key, INT64_MAX);
    if (--rt->heap_len == pos)
        return;
    struct wdt_heap_entry moved = rt->heap[rt->heap_len];
    wdt_heap_set(dev, pos, moved);
    wdt_heap_up(dev, pos);
    wdt_heap_down(dev, dev->slots[moved.cpu].heap_pos);
}

/* Takes the earliest entry out of the heap and returns its vCPU. */
static uint32_t wdt_heap_pop(struct vmwdt *dev)
{
    uint32_t cpu = dev->rt.heap[0].cpu;
    wdt_heap_remove(dev, 0);
    return cpu;
}

static void wdt_heap_clear(struct vmwdt *dev)
{
    for (uint32_t i = 0; i < dev->rt.heap_len; i++)
        atomic_store(&dev->slots[dev->rt.heap[i].cpu].heap_key, INT64_MAX);
    dev->rt.heap_len = 0;
}

/* The running worker's timer; rt.lock held. */

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

static void *wdt_worker_main(void *arg);

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

/*
 * Starts a worker unless one runs; rt.lock held. Returns 0 or -errno with *what naming the step
 * that failed: the caller logs it once rt.lock is released, because the log callback may call
 * back into the API.
 */
static int wdt_worker_start(struct vmwdt *dev, const char **what)
{
    struct wdt_runtime *rt = &dev->rt;
    sigset_t all, old;
    if (rt->worker_running || rt->external || rt->asleep)
        return 0;
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

/* Queues vCPU cpu under key, inserting it or moving its key earlier; rt.lock held. */
static void wdt_heap_lower(struct vmwdt *dev, uint32_t cpu, int64_t key)
{
    struct wdt_slot *s = &dev->slots[cpu];
    struct wdt_runtime *rt = &dev->rt;
    if (atomic_load(&s->heap_key) == INT64_MAX) {
        s->heap_pos = rt->heap_len++;
        rt->heap[s->heap_pos].cpu = cpu;
    }
    rt->heap[s->heap_pos].key = key;
    atomic_store(&s->heap_key, key);
    wdt_heap_up(dev, s->heap_pos);
}

/*
 * Corrects stale keys at the top of the heap until the top is a vCPU's true deadline, so that
 * the top is the earliest deadline of all: keys are never later than deadlines. rt.lock held.
 */
static void wdt_heap_settle(struct vmwdt *dev)
{
    struct wdt_runtime *rt = &dev->rt;
    while (rt->heap_len > 0) {
        uint32_t cpu = rt->heap[0].cpu;
        struct wdt_slot *s = &dev->slots[cpu];
        int64_t deadline = atomic_load(&s->deadline);
        if (deadline <= rt->heap[0].key)
            return;
        if (deadline == INT64_MAX) {
            wdt_heap_remove(dev, 0);
        } else {
            rt->heap[0].key = deadline;
            atomic_store(&s->heap_key, deadline);
            wdt_heap_down(dev, 0);
        }
        /*
         * A pet or enable that published an earlier deadline after the load above, but read
         * the key before the store that raised it, left the heap alone (see wdt_rt_queue).
         * Its deadline store precedes that key store, so this load sees it: queue it now.
         */
        int64_t again = atomic_load(&s->deadline);
        if (again < deadline)
            wdt_heap_lower(dev, cpu, again);
    }
}

int64_t wdt_slot_update_deadline(struct wdt_slot *s, int64_t guest, int64_t host_now)
{
    int64_t left = wdt_vcpu_remaining(&s->core, guest);
    int64_t deadline = left < 0 ? INT64_MAX : wdt_deadline_after(host_now, left);
    atomic_store(&s->deadline, deadline);
    return deadline;
}

void wdt_rt_queue(struct vmwdt *dev, uint32_t cpu, int64_t deadline, int64_t host_now)
{
    struct wdt_slot *s = &dev->slots[cpu];
    struct wdt_runtime *rt = &dev->rt;
    /*
     * The common pet moves the deadline later: the key already lies no later than it. The
     * deadline was stored before this load, which wdt_heap_settle relies on when it raises a
     * key without this vCPU's lock.
     */
    if (deadline >= atomic_load(&s->heap_key))
        return;
    pthread_mutex_lock(&rt->lock);
    const char *what = NULL;
    int err = 0;
    if (!rt->asleep && deadline < atomic_load(&s->heap_key)) {
        wdt_heap_lower(dev, cpu, deadline);
        if (!rt->external) {
            err = wdt_worker_start(dev, &what);
            if (rt->worker_running && deadline < rt->armed)
                wdt_timer_arm(dev, deadline, host_now);
        }
    }
    pthread_mutex_unlock(&rt->lock);
    if (err != 0)
        wdt_logf(&dev->logger, LOG_ERR, "cannot start the timer thread: %s failed: %s", what,
                 strerror(-err));
}

/* Calls the host back for an expiry found at host time now, and logs it within the limit. */
static void wdt_fire(struct vmwdt *dev, uint32_t cpu, enum wdt_event ev, int64_t now)
{
    const struct vmwdt_host_ops *ops = &dev->ops;
    uint64_t dropped = 0;
    if (ev == WDT_EVENT_NONE)
        return;
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

/* Checks one vCPU whose deadline came up at host time now; returns 1 if an event fired. */
static int wdt_service(struct vmwdt *dev, uint32_t cpu, int64_t now)
{
    struct wdt_slot *s = &dev->slots[cpu];
    int64_t guest = wdt_guest_now(dev, cpu);
    int64_t left;
    pthread_mutex_lock(&s->lock);
    enum wdt_event ev = wdt_vcpu_expire(&s->core, dev->action, guest, &left);
    int64_t deadline = wdt_slot_update_deadline(s, guest, now);
    /* A guest clock that lagged host time is polled no faster than this, so that a guest
     * that halts a vCPU just short of a tiny window cannot make the worker, or a host that
     * follows vmwdt_next_deadline_ns, spin. */
    if (ev == WDT_EVENT_NONE && left >= 0 && left < WDT_RECHECK_MIN_NS) {
        deadline = wdt_deadline_after(now, WDT_RECHECK_MIN_NS);
        atomic_store(&s->deadline, deadline);
    }
    pthread_mutex_unlock(&s->lock);
    wdt_rt_queue(dev, cpu, deadline, now);
    wdt_fire(dev, cpu, ev, now);
    return ev != WDT_EVENT_NONE;
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
        if (rt->asleep || rt->heap_len == 0 || rt->heap[0].key > now) {
            pthread_mutex_unlock(&rt->lock);
            return fired;
        }
        uint32_t cpu = wdt_heap_pop(dev);
        pthread_mutex_unlock(&rt->lock);
        fired += wdt_service(dev, cpu, now);
    }
}

int64_t wdt_rt_next_deadline(struct vmwdt *dev)
{
    struct wdt_runtime *rt = &dev->rt;
    pthread_mutex_lock(&rt->lock);
    wdt_heap_settle(dev);
    int64_t next = (rt->asleep || rt->heap_len == 0) ? INT64_MAX : rt->heap[0].key;
    pthread_mutex_unlock(&rt->lock);
    return next;
}

/*
 * Stops the running worker: it is told through its own timer, which nobody else arms from now
 * on, and whoever stops it, or the next sleep, wake or destroy, joins it (see wdt_rt_reap).
 * rt.lock held.
 */
static void wdt_worker_stop(struct wdt_runtime *rt)
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
        wdt_timer_arm(dev, rt->heap_len > 0 ? rt->heap[0].key : INT64_MAX, now);
        pthread_mutex_unlock(&rt->lock);
        uint64_t expirations;
        if (read(arg.fd, &expirations, sizeof(expirations)) < 0 && errno != EINTR) {
            int err = errno;
            /* A worker that can no longer wait stops as if put to sleep, so that the next
             * queued deadline starts a new one. */
            pthread_mutex_lock(&rt->lock);
            if (rt->gen == arg.gen)
                wdt_worker_stop(rt);
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

void wdt_rt_sleep(struct vmwdt *dev)
{
    struct wdt_runtime *rt = &dev->rt;
    pthread_mutex_lock(&rt->lock);
    rt->asleep = true;
    wdt_heap_clear(dev);
    if (rt->worker_running)
        wdt_worker_stop(rt);
    pthread_mutex_unlock(&rt->lock);
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

void wdt_rt_wake(struct vmwdt *dev)
{
    struct wdt_runtime *rt = &dev->rt;
    pthread_mutex_lock(&rt->lock);
    /* A callback still running while destroy joins its thread may wake the device: it stays
     * asleep, so that no new worker starts and outlives destroy. */
    if (!rt->closing)
        rt->asleep = false;
    pthread_mutex_unlock(&rt->lock);
}

int wdt_rt_init(struct vmwdt *dev, bool external)
{
    struct wdt_runtime *rt = &dev->rt;
    memset(rt, 0, sizeof(*rt));
    rt->heap = calloc(dev->cpu_count, sizeof(*rt->heap));
    if (rt->heap == NULL)
        return -ENOMEM;
    pthread_mutex_init(&rt->lock, NULL);
    rt->external = external;
    rt->timer_fd = -1;
    rt->armed = INT64_MAX;
    return 0;
}

void wdt_rt_fini(struct vmwdt *dev)
{
    struct wdt_runtime *rt = &dev->rt;
    pthread_mutex_lock(&rt->lock);
    rt->closing = true;
    pthread_mutex_unlock(&rt->lock);
    wdt_rt_sleep(dev);
    wdt_rt_reap(dev);
    free(rt->zombies);
    if (rt->timer_fd >= 0)
        close(rt->timer_fd);
    pthread_mutex_destroy(&rt->lock);
    free(rt->heap);
}
