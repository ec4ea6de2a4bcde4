/*
 * The worker thread of THREAD timers: one thread per device, started by vmwdt_create and joined
 * by vmwdt_destroy, that waits on a condition variable until the top of the deadline heap comes
 * due and then runs wdt_rt_run_due().
 *
 * It holds no descriptor and allocates nothing once it runs, so that nothing the host process
 * can run out of later (descriptors, memory, threads) can stop it: the only step that can fail
 * is pthread_create, once, inside vmwdt_create, which then fails with its errno. Sleep leaves
 * it waiting with no deadline; wake gives it one again.
 */
#ifndef WDT_WORKER_H
#define WDT_WORKER_H

#include <stdint.h>

#include "wdt_device.h"

/* The longest single wait: a deadline further away is waited for in steps of this. */
#define WDT_WAIT_MAX_NS 3600000000000ll

/*
 * Starts the worker of a device whose runtime is initialised; no lock held. Returns once the
 * worker runs (and has named itself), or -errno when it cannot start (logged); the device is
 * then to be freed without wdt_worker_join().
 */
int wdt_worker_start(struct vmwdt *dev);

/* Tells the worker that a check at host time deadline was queued; rt.lock held. Cheap when the
 * worker already waits for an earlier time or is about to look at the heap. */
void wdt_worker_kick(struct vmwdt *dev, int64_t deadline);

/* Tells the worker to end and waits until it has; no lock held. rt.closing must be set. */
void wdt_worker_join(struct vmwdt *dev);

#endif /* WDT_WORKER_H */
