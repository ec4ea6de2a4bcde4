/*
 * The worker thread of THREAD timers: one thread per device that waits on a condition variable
 * until the top of the deadline heap comes due and then runs wdt_rt_run_due(). Once started it
 * lives until vmwdt_destroy joins it.
 *
 * It holds no descriptor and allocates nothing once it runs, so that nothing the host process
 * can run out of later (descriptors, memory, threads) can stop it. Its start, in vmwdt_create,
 * can fail (pthread_create: EAGAIN while the process cannot make threads). That is an outage, not
 * an error: create still succeeds, the failure is logged once, and the start is tried again at
 * the next arming and, with back-off, from every later API call and vCPU access, until it
 * succeeds (logged once too). The checks that came due meanwhile stay queued, and run as soon as
 * the worker does. Sleep leaves it waiting with no deadline; wake gives it one again.
 */
#ifndef WDT_WORKER_H
#define WDT_WORKER_H

#include <stdbool.h>
#include <stdint.h>

#include "wdt_device.h"

/* The longest single wait: a deadline further away is waited for in steps of this. */
#define WDT_WAIT_MAX_NS 3600000000000ll

/* The first and the longest wait between two retries that are not armings. */
#define WDT_RETRY_MIN_NS 1000000ll
#define WDT_RETRY_MAX_NS 100000000ll

/* What a start attempt found, logged once rt.lock is released (the log callback may call in). */
struct wdt_start_note {
    int err;           /* pthread_create's errno when the first start of an outage failed */
    uint64_t fails;    /* failed starts of the outage a successful start ended */
    int64_t outage_ns; /* how long it lasted */
};

/*
 * vmwdt_create's start of the worker, on a runtime just set up; no lock held. Returns once the
 * worker runs (and has named itself), or once its failure is logged and left to be retried.
 */
void wdt_worker_start(struct vmwdt *dev);

/*
 * Starts the worker if none started and the device is not closing: at once for an arming (the
 * create, or an enable), else only once the back-off has passed. rt.lock held.
 */
void wdt_worker_try_start(struct vmwdt *dev, bool arming, struct wdt_start_note *note);

/* Logs what wdt_worker_try_start() noted, if anything; no lock held. */
void wdt_worker_log(struct vmwdt *dev, const struct wdt_start_note *note);

/* wdt_worker_try_start() for an API call (arming: an enable); no lock held. Called through
 * wdt_worker_poll(). */
void wdt_worker_retry(struct vmwdt *dev, bool arming);

/*
 * Made by every API call and vCPU access (arming: an enable, which retries at once); no lock
 * held. Once a worker runs, or none is needed, one relaxed load of a flag that no longer changes.
 */
static inline void wdt_worker_poll(struct vmwdt *dev, bool arming)
{
    if (!atomic_load_explicit(&dev->rt.worker_running, memory_order_relaxed))
        wdt_worker_retry(dev, arming);
}

/* Tells the worker that a check at host time deadline was queued; rt.lock held. Cheap when the
 * worker already waits for an earlier time or is about to look at the heap. */
void wdt_worker_kick(struct vmwdt *dev, int64_t deadline);

/* Tells the worker, if one started, to end and waits until it has; no lock held. rt.closing
 * must be set. */
void wdt_worker_join(struct vmwdt *dev);

#endif /* WDT_WORKER_H */
