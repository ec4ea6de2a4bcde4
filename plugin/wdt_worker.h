/*
 * The worker thread of THREAD timers: one thread sleeping on its own timerfd, armed for the top
 * of the deadline heap, that runs wdt_rt_run_due() when it fires.
 *
 * Starting it needs a descriptor and a thread, which the host process may lack for a while
 * (EMFILE, EAGAIN). A failed start is an outage, not an end: the start is tried again at the
 * next arming and, with back-off, from every later API call and vCPU access, and the checks
 * that came due meanwhile run as soon as a worker runs. The first failure of an outage and the
 * recovery are logged, within a rate limit.
 */
#ifndef WDT_WORKER_H
#define WDT_WORKER_H

#include <stdbool.h>
#include <stdint.h>

#include "wdt_device.h"

/* The first and the longest wait between two retries that are not armings. */
#define WDT_RETRY_MIN_NS 1000000ll
#define WDT_RETRY_MAX_NS 100000000ll

/* What a start attempt found, for logging once rt.lock is released. */
struct wdt_start_note {
    int err;            /* -errno of a failed start, 0 otherwise */
    const char *what;   /* the step that failed */
    bool first;         /* the first failure of an outage */
    bool recovered;     /* a worker started after failures */
    uint64_t fails;     /* failed starts of the outage that ended */
    int64_t outage_ns;  /* how long it lasted, in host time */
};

/*
 * Starts a worker if none runs and one is needed (THREAD timers, awake, a check queued), at
 * once for an arming, else only once the back-off has passed. rt.lock held.
 */
void wdt_worker_ensure(struct vmwdt *dev, int64_t host_now, bool arming,
                       struct wdt_start_note *note);

/* Logs what wdt_worker_ensure() noted; no lock held, since the log callback may call the API. */
void wdt_worker_log(struct vmwdt *dev, const struct wdt_start_note *note, int64_t host_now);

/* Moves the running worker's timer earlier, to deadline; rt.lock held. */
void wdt_worker_arm(struct vmwdt *dev, int64_t deadline, int64_t host_now);

/* Tells the running worker to stop; whoever reaps next joins it. rt.lock held. */
void wdt_worker_stop(struct wdt_runtime *rt);

#endif /* WDT_WORKER_H */
