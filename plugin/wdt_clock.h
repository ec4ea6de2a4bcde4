/*
 * Guest clocks: what measures a vCPU's time.
 *
 * Two levels. A device's clocks (struct wdt_clocks) know the clock kind, the host's callbacks
 * and the shared /proc descriptor cache; each vCPU's clock (struct wdt_vclock) knows the thread
 * named for it and folds raw readings of whichever source measures it right now into one value
 * that stays continuous and never decreases across a change of source (a thread named late or
 * again, a thread that vanished, a reading that failed), because the core measures windows as
 * differences of readings. The raw readers are in wdt_thread.h. Nothing here holds a resource
 * per vCPU: a device's clocks have at most WDT_STAT_CACHE_SIZE descriptors open between
 * readings, whatever the number of vCPUs.
 */
#ifndef WDT_CLOCK_H
#define WDT_CLOCK_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "vmwdt.h"
#include "wdt_log.h"
#include "wdt_thread.h"

/* Identities of the clock sources that are not a thread's; a thread's is its id, above these. */
#define WDT_SRC_HOST_NOW 1   /* MONOTONIC, or the fallback of a clock without a usable thread */
#define WDT_SRC_HOST_GUEST 2 /* host_ops.guest_time_ns */
#define WDT_SRC_FIRST_THREAD 16

/* Facts a vCPU clock wants logged, once each. */
enum wdt_clock_note {
    WDT_NOTE_FALLBACK_NO_THREAD = 1u << 0, /* needs a thread, has none: host time */
    WDT_NOTE_FALLBACK_ERROR = 1u << 1      /* its thread's clock failed or is gone: host time */
};

/* One vCPU's clock state. The lock guards the fields and is never held across a read. */
struct wdt_vclock {
    pthread_mutex_t lock;
    struct wdt_thread thread; /* thread.id 0: none named */
    bool thread_gone;         /* a reading found thread gone: host time until another is named */
    uint64_t thread_start;    /* its starttime, once a /proc reading has shown it; 0: not yet */
    int64_t thread_raw;       /* the largest raw reading of thread so far; -1: none */
    uint64_t thread_raw_at;   /* folds when thread_raw was stored */
    uint64_t folds;           /* readings of a thread folded so far */
    uint64_t src_id;          /* identity of the last source (see WDT_SRC_*) */
    int64_t offset;           /* added to the raw reading of that source */
    int64_t last;             /* the last value returned */
    bool started;
    unsigned noted;           /* enum wdt_clock_note bits already logged */
};

void wdt_vclock_init(struct wdt_vclock *c);
void wdt_vclock_fini(struct wdt_vclock *c);

/*
 * Folds one raw reading of source src_id into the clock: returns the vCPU's clock value,
 * continuous across source changes and never decreasing.
 */
int64_t wdt_vclock_fold(struct wdt_vclock *c, uint64_t src_id, int64_t raw);

/* Marks a note as logged; true when it was not yet (the caller logs it then). */
bool wdt_vclock_note(struct wdt_vclock *c, enum wdt_clock_note note);

/* Names thread t (t->id set) as the vCPU's: a new source, not gone, its notes forgotten. */
void wdt_vclock_set_thread(struct wdt_vclock *c, const struct wdt_thread *t);

/* The vCPU's thread (id 0: none) and whether it is known gone; *folds for the reading. */
void wdt_vclock_get_thread(struct wdt_vclock *c, struct wdt_thread *t, bool *gone,
                           uint64_t *folds);

/*
 * Folds a raw reading of thread id, taken after wdt_vclock_get_thread returned folds, with the
 * starttime the reading showed (0: not read from /proc). A reading that shows another thread
 * behind the same tid (another starttime, or a value below one read before this reading began)
 * marks the thread gone and returns -ESRCH; else 0 with the clock's value in *value.
 */
int wdt_vclock_fold_thread(struct wdt_vclock *c, uint64_t id, uint64_t folds, int64_t raw,
                           uint64_t start, int64_t *value);

/* Marks thread id gone, if it is still the vCPU's. */
void wdt_vclock_thread_gone(struct wdt_vclock *c, uint64_t id);

/* A device's clocks. ops and logger belong to the device and outlive these. */
struct wdt_clocks {
    enum vmwdt_clock kind;   /* as configured */
    enum vmwdt_clock source; /* what measures a vCPU that has a thread: kind, AUTO resolved */
    const struct vmwdt_host_ops *ops;
    const struct wdt_logger *logger;
    struct wdt_stat_cache cache;
    _Atomic uint64_t next_thread_id;
};

/* AUTO resolves to HOST when ops has guest_time_ns, else to THREAD_CPU. */
void wdt_clocks_init(struct wdt_clocks *k, enum vmwdt_clock kind,
                     const struct vmwdt_host_ops *ops, const struct wdt_logger *logger);
void wdt_clocks_fini(struct wdt_clocks *k);

/* Host time: ops->now_ns(), or CLOCK_MONOTONIC. */
int64_t wdt_clocks_host_now(const struct wdt_clocks *k);

/* vCPU cpu's guest clock c as the device's clock kind measures it. Takes no lock but c's. */
int64_t wdt_clocks_guest_now(struct wdt_clocks *k, struct wdt_vclock *c, uint32_t cpu);

/* The clock that measures a vCPU now: the device's source, or MONOTONIC without a usable thread. */
enum vmwdt_clock wdt_clocks_measuring(const struct wdt_clocks *k, struct wdt_vclock *c);

/*
 * Names thread tid of process pid as the one running vCPU cpu (clock c), after checking that
 * it exists; nothing is kept open. Returns 0 or -errno (logged).
 */
int wdt_clocks_set_thread(struct wdt_clocks *k, struct wdt_vclock *c, uint32_t cpu,
                          int32_t pid, int32_t tid);

#endif /* WDT_CLOCK_H */
