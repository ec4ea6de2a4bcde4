/*
 * Raw readers of a host thread's clocks. See wdt_thread.h.
 */
#define _GNU_SOURCE
#include "wdt_thread.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Linux encodes a thread's CPU clock in a clockid: (~tid << 3) | PERTHREAD | SCHED. */
#define WDT_CPUCLOCK_PERTHREAD_SCHED 6

/*
 * No Linux thread id is larger (PID_MAX_LIMIT). The encoding above needs this check too: for
 * tids from 2^28 on, the clockid it makes is a static clock's (0x1fffffff would make
 * CLOCK_MONOTONIC_COARSE), which would read without error.
 */
#define WDT_TID_MAX (4 * 1024 * 1024)

/* Long enough for any stat line: 52 numeric fields and a 64-byte command name. */
#define WDT_STAT_BUF 1024

int64_t wdt_tick_ns(void)
{
    /* Every thread computes the same value, so a relaxed race to store it is harmless. */
    static _Atomic int64_t tick_ns;
    int64_t ns = atomic_load_explicit(&tick_ns, memory_order_relaxed);
    if (ns == 0) {
        long hz = sysconf(_SC_CLK_TCK);
        ns = hz > 0 ? 1000000000ll / hz : 10000000ll;
        atomic_store_explicit(&tick_ns, ns, memory_order_relaxed);
    }
    return ns;
}

int wdt_thread_cpu_ns(const struct wdt_thread *t, int64_t *out)
{
    struct timespec ts;
    /* The kernel refuses the clock (EINVAL) of a thread that is not, or no longer, ours. */
    if (clock_gettime(t->cpu_clock, &ts) != 0)
        return errno == EINVAL ? -ESRCH : -errno;
    *out = (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
    return 0;
}

int wdt_thread_name(struct wdt_thread *t, int32_t pid, int32_t tid)
{
    if (pid <= 0 || tid <= 0)
        return -EINVAL;
    if (pid > WDT_TID_MAX || tid > WDT_TID_MAX)
        return -ESRCH;
    memset(t, 0, sizeof(*t));
    t->pid = pid;
    t->tid = tid;
    t->own_process = pid == getpid();
    t->cpu_clock = (clockid_t)((~(unsigned)tid << 3) | WDT_CPUCLOCK_PERTHREAD_SCHED);
    if (t->own_process) {
        int64_t ns;
        return wdt_thread_cpu_ns(t, &ns);
    }
    /* stat() takes no descriptor, so naming works even when the process has none left. */
    char path[48];
    struct stat st;
    snprintf(path, sizeof(path), "/proc/%d/task/%d", pid, tid);
    if (stat(path, &st) != 0)
        return errno == ENOENT ? -ESRCH : -errno;
    return 0;
}

/* Parses the number at *p, which must end at a space, a newline or the end. */
static int wdt_parse_number(const char **p, const char *end, uint64_t *out)
{
    const char *q = *p;
    uint64_t v = 0;
    if (q >= end || *q < '0' || *q > '9')
        return -EINVAL;
    for (; q < end && *q >= '0' && *q <= '9'; q++) {
        if (v > (UINT64_MAX - 9) / 10)
            return -EINVAL;
        v = v * 10 + (uint64_t)(*q - '0');
    }
    if (q < end && *q != ' ' && *q != '\n')
        return -EINVAL;
    *p = q;
    *out = v;
    return 0;
}

/* Reads the strictly ascending fields want[0..n) of a stat line into out[0..n). */
static int wdt_parse_fields(const char *buf, size_t len, const unsigned *want, uint64_t *out,
                            size_t n)
{
    const char *end = buf + len;
    const char *p = memrchr(buf, ')', len);
    size_t k = 0;
    if (p == NULL || n == 0 || want[0] < 3)
        return -EINVAL;
    p++;
    /* Field 3 (state) is the first after the ')'. */
    for (unsigned f = 3; k < n; f++) {
        while (p < end && *p == ' ')
            p++;
        if (p >= end || *p == '\n')
            return -EINVAL;
        if (f == want[k]) {
            if (wdt_parse_number(&p, end, &out[k]) != 0)
                return -EINVAL;
            k++;
            continue;
        }
        while (p < end && *p != ' ' && *p != '\n')
            p++;
    }
    return 0;
}

int wdt_parse_stat_field(const char *buf, size_t len, unsigned field, uint64_t *out)
{
    return wdt_parse_fields(buf, len, &field, out, 1);
}

int wdt_parse_stat(const char *buf, size_t len, struct wdt_stat *out)
{
    static const unsigned want[4] = {14, 15, 22, 43};
    uint64_t v[4];
    int rc = wdt_parse_fields(buf, len, want, v, 4);
    if (rc == 0)
        *out = (struct wdt_stat){.utime = v[0], .stime = v[1], .starttime = v[2],
                                 .guest_time = v[3]};
    return rc;
}

/* Appends the decimal digits of v (positive) at p; returns the end. */
static char *wdt_put_uint(char *p, uint32_t v)
{
    char digits[10];
    int n = 0;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    while (n > 0)
        *p++ = digits[--n];
    return p;
}

/* Opens t's stat file; returns the descriptor or -errno (-ESRCH for a thread that is gone). */
static int wdt_stat_open(const struct wdt_thread *t)
{
    /* Formatted by hand: a reading that misses the cache runs this on a vCPU's pet. */
    char path[64], *p = path;
    memcpy(p, "/proc/", 6);
    p = wdt_put_uint(p + 6, (uint32_t)t->pid);
    memcpy(p, "/task/", 6);
    p = wdt_put_uint(p + 6, (uint32_t)t->tid);
    memcpy(p, "/stat", 6);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? -ESRCH : -errno;
    return fd;
}

static int wdt_stat_pread(int fd, struct wdt_stat *out)
{
    char buf[WDT_STAT_BUF];
    ssize_t n = pread(fd, buf, sizeof(buf), 0);
    if (n < 0)
        return errno == ENOENT ? -ESRCH : -errno;
    /* A stat file whose thread has exited reads as empty. */
    if (n == 0)
        return -ESRCH;
    return wdt_parse_stat(buf, (size_t)n, out);
}

void wdt_stat_cache_init(struct wdt_stat_cache *c)
{
    for (int i = 0; i < WDT_STAT_CACHE_SIZE; i++) {
        pthread_mutex_init(&c->entries[i].lock, NULL);
        c->entries[i].key = 0;
        c->entries[i].fd = -1;
    }
}

/* Closes an entry's descriptor; its lock held (or no other user left). */
static void wdt_stat_entry_drop(struct wdt_stat_entry *e)
{
    if (e->fd >= 0)
        close(e->fd);
    e->fd = -1;
    e->key = 0;
}

void wdt_stat_cache_fini(struct wdt_stat_cache *c)
{
    for (int i = 0; i < WDT_STAT_CACHE_SIZE; i++) {
        wdt_stat_entry_drop(&c->entries[i]);
        pthread_mutex_destroy(&c->entries[i].lock);
    }
}

int wdt_stat_read(struct wdt_stat_cache *c, uint32_t hint, const struct wdt_thread *t,
                  struct wdt_stat *out)
{
    if (c != NULL) {
        struct wdt_stat_entry *e = &c->entries[hint % WDT_STAT_CACHE_SIZE];
        if (pthread_mutex_trylock(&e->lock) == 0) {
            int rc = 0;
            if (e->key != t->id || e->fd < 0) {
                /* Closed first: an entry reuses its own descriptor even at the process's
                 * descriptor limit. */
                wdt_stat_entry_drop(e);
                int fd = wdt_stat_open(t);
                if (fd < 0) {
                    rc = fd;
                } else {
                    e->fd = fd;
                    e->key = t->id;
                }
            }
            if (rc == 0) {
                rc = wdt_stat_pread(e->fd, out);
                if (rc != 0)
                    wdt_stat_entry_drop(e);
            }
            pthread_mutex_unlock(&e->lock);
            return rc;
        }
    }
    int fd = wdt_stat_open(t);
    if (fd < 0)
        return fd;
    int rc = wdt_stat_pread(fd, out);
    close(fd);
    return rc;
}
