/*
 * Raw readers of one host thread's clocks: its CPU time and its /proc accounting.
 *
 * No reader keeps a descriptor per thread. A thread of the calling process has a CPU clock that
 * clock_gettime() reads by its thread id, with no descriptor at all. Everything else (guest
 * time, and the CPU time of another process's thread) comes from /proc/<pid>/task/<tid>/stat,
 * read on demand through a small cache of open descriptors (struct wdt_stat_cache) whose size
 * does not depend on how many threads are read.
 */
#ifndef WDT_THREAD_H
#define WDT_THREAD_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* A host thread whose clocks measure a vCPU: an identity only, holding no resource. */
struct wdt_thread {
    uint64_t id;         /* identity as a clock source, never reused within a device; 0: none */
    int32_t pid;
    int32_t tid;
    bool own_process;    /* The thread's CPU clock can be read with clock_gettime(). */
    clockid_t cpu_clock; /* Valid when own_process. */
};

/*
 * Names thread tid of process pid in t (t->id is left to the caller) after checking that it
 * exists, without keeping anything open: by its CPU clock for a thread of this process, by its
 * /proc directory otherwise. Returns 0, -EINVAL for a pid or tid that is not positive, -ESRCH
 * for a thread that does not exist, or another -errno of the check.
 */
int wdt_thread_name(struct wdt_thread *t, int32_t pid, int32_t tid);

/* The CPU time in ns of a thread of this process. Returns 0 or -ESRCH when it is gone. */
int wdt_thread_cpu_ns(const struct wdt_thread *t, int64_t *out);

/* What a reader takes from a thread's stat line, in USER_HZ ticks. */
struct wdt_stat {
    uint64_t utime;      /* field 14 */
    uint64_t stime;      /* field 15 */
    uint64_t starttime;  /* field 22: with the tid, tells a thread from a later one reusing it */
    uint64_t guest_time; /* field 43 */
};

/* At most this many descriptors of a device's clocks are open at any time between readings. */
#define WDT_STAT_CACHE_SIZE 3

/*
 * Open stat descriptors, each entry guarded by its own lock. A reader never waits for one: an
 * entry busy with another reading makes it read with a descriptor of its own, opened and closed
 * at once, so that vCPUs never wait on each other.
 */
struct wdt_stat_cache {
    struct wdt_stat_entry {
        pthread_mutex_t lock;
        uint64_t key; /* the wdt_thread id whose stat file fd is; 0: none */
        int fd;
    } entries[WDT_STAT_CACHE_SIZE];
};

void wdt_stat_cache_init(struct wdt_stat_cache *c);
void wdt_stat_cache_fini(struct wdt_stat_cache *c);

/*
 * Reads thread t's stat line through entry hint % WDT_STAT_CACHE_SIZE of cache c, or with a
 * descriptor of its own when cache is NULL or that entry is busy. Returns 0, -ESRCH when the
 * thread is gone, or another -errno (-EMFILE, -ENFILE when no descriptor can be had).
 */
int wdt_stat_read(struct wdt_stat_cache *c, uint32_t hint, const struct wdt_thread *t,
                  struct wdt_stat *out);

/*
 * Parses a /proc/<pid>/task/<tid>/stat line: fields are counted after the last ')', because the
 * command name may itself hold spaces and parentheses. field is the 1-based field number of
 * proc(5) (14 utime, 15 stime, 43 guest_time). Returns 0 or -EINVAL.
 */
int wdt_parse_stat_field(const char *buf, size_t len, unsigned field, uint64_t *out);

/* Every field of struct wdt_stat from one stat line, in one pass. Returns 0 or -EINVAL. */
int wdt_parse_stat(const char *buf, size_t len, struct wdt_stat *out);

/* Nanoseconds per USER_HZ tick (sysconf(_SC_CLK_TCK)). */
int64_t wdt_tick_ns(void);

#endif /* WDT_THREAD_H */
