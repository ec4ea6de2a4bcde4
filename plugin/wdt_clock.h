/*
 * Guest clocks: what measures a vCPU's time.
 *
 * Two layers. The raw readers (wdt_thread_*) read one host thread's guest time or CPU time and
 * report errors; they keep the thread's /proc descriptor open and use pread() so that a pet costs
 * one system call. The per-vCPU clock (struct wdt_vclock) picks the source that the device's clock
 * kind asks for, falls back where a source is missing or fails, and keeps the value it returns
 * continuous and never decreasing across those changes, because the core measures windows as
 * differences of readings.
 */
#ifndef WDT_CLOCK_H
#define WDT_CLOCK_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Thread CPU time while guest time stays frozen after which AUTO switches to CPU time. */
#define WDT_AUTO_SWITCH_NS (100 * 1000000ll)

/* A host thread whose clocks measure a vCPU. */
struct wdt_thread {
    uint64_t id;         /* identity as a clock source, never reused within a device */
    int32_t pid;
    int32_t tid;
    int stat_fd;         /* /proc/<pid>/task/<tid>/stat, or -1 when not needed */
    bool own_process;    /* The thread's CPU clock can be read with clock_gettime(). */
    clockid_t cpu_clock; /* Valid when own_process. */
};

/*
 * Opens the clocks of thread tid of process pid. need_stat: keep the /proc stat descriptor open
 * (GUEST_TIME, AUTO, and THREAD_CPU of another process). Returns 0 or -errno (-ENOENT or -ESRCH
 * for a thread that does not exist).
 */
int wdt_thread_open(struct wdt_thread *t, int32_t pid, int32_t tid, bool need_stat);
void wdt_thread_close(struct wdt_thread *t);

/* The thread's guest time (field 43 of its stat file) in ns. Returns 0 or -errno. */
int wdt_thread_guest_ns(const struct wdt_thread *t, int64_t *out);

/* The thread's CPU time in ns. Returns 0 or -errno (-ESRCH, -EINVAL for a vanished thread). */
int wdt_thread_cpu_ns(const struct wdt_thread *t, int64_t *out);

/*
 * Parses a /proc/<pid>/task/<tid>/stat line: fields are counted after the last ')', because the
 * command name may itself hold spaces and parentheses. field is the 1-based field number of
 * proc(5) (14 utime, 15 stime, 43 guest_time). Returns 0 or -EINVAL.
 */
int wdt_parse_stat_field(const char *buf, size_t len, unsigned field, uint64_t *out);

/* Nanoseconds per USER_HZ tick (sysconf(_SC_CLK_TCK)). */
int64_t wdt_tick_ns(void);

/* Identities of the clock sources that are not a thread's; a thread's is its id, above these. */
#define WDT_SRC_HOST_NOW 1   /* MONOTONIC, or the fallback of a clock without a usable thread */
#define WDT_SRC_HOST_GUEST 2 /* host_ops.guest_time_ns */
#define WDT_SRC_FIRST_THREAD 16

/* Facts a vCPU clock wants logged, once each. */
enum wdt_clock_note {
    WDT_NOTE_FALLBACK_NO_THREAD = 1u << 0, /* needs a thread, has none: MONOTONIC */
    WDT_NOTE_FALLBACK_ERROR = 1u << 1,     /* the thread's clock failed: MONOTONIC */
    WDT_NOTE_AUTO_SWITCH = 1u << 2         /* AUTO switched to thread CPU time */
};

/* One vCPU's clock state. The lock guards the fields and is never held across a read. */
struct wdt_vclock {
    pthread_mutex_t lock;
    uint64_t src_id;    /* identity of the last source (see WDT_SRC_*) */
    int64_t offset;     /* added to the raw reading of that source */
    int64_t last;       /* the last value returned */
    bool started;
    unsigned noted;     /* enum wdt_clock_note bits already logged */
    /* AUTO: readings at the last time guest time advanced, for the thread auto_src. */
    uint64_t auto_src;
    bool auto_primed;
    bool auto_switched;
    int64_t auto_guest;
    int64_t auto_cpu;
};

void wdt_vclock_init(struct wdt_vclock *c);
void wdt_vclock_fini(struct wdt_vclock *c);

/*
 * Folds one raw reading of source src_id into the clock: returns the vCPU's clock value,
 * continuous across source changes and never decreasing.
 */
int64_t wdt_vclock_fold(struct wdt_vclock *c, uint64_t src_id, int64_t raw);

/*
 * AUTO: folds a guest-time and a CPU-time reading of the vCPU's thread into one raw value, that
 * of guest time until the thread has run WDT_AUTO_SWITCH_NS of CPU time while guest time stayed
 * frozen, and CPU time (counted from when guest time last advanced) from then on.
 * *switched_now is set when this reading made the switch.
 */
int64_t wdt_vclock_auto(struct wdt_vclock *c, uint64_t thread_id, int64_t guest_ns,
                        int64_t cpu_ns, bool *switched_now);

/* Marks a note as logged; true when it was not yet (the caller logs it then). */
bool wdt_vclock_note(struct wdt_vclock *c, enum wdt_clock_note note);

#endif /* WDT_CLOCK_H */
