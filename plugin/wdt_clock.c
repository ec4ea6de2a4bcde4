/*
 * Guest clocks. See wdt_clock.h.
 */
#define _GNU_SOURCE
#include "wdt_clock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Linux encodes another thread's CPU clock in a clockid: (~tid << 3) | PERTHREAD | SCHED. */
#define WDT_CPUCLOCK_PERTHREAD_SCHED 6

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

int wdt_thread_open(struct wdt_thread *t, int32_t pid, int32_t tid, bool need_stat)
{
    char path[64];
    if (pid <= 0 || tid <= 0)
        return -EINVAL;
    snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", pid, tid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? -ESRCH : -errno;
    t->pid = pid;
    t->tid = tid;
    t->own_process = pid == getpid();
    t->cpu_clock = (clockid_t)((~(unsigned)tid << 3) | WDT_CPUCLOCK_PERTHREAD_SCHED);
    /* A thread of another process has no readable CPU clock: its stat file serves instead. */
    if (!need_stat && t->own_process) {
        close(fd);
        fd = -1;
    }
    t->stat_fd = fd;
    return 0;
}

void wdt_thread_close(struct wdt_thread *t)
{
    if (t->stat_fd >= 0)
        close(t->stat_fd);
    t->stat_fd = -1;
}

int wdt_parse_stat_field(const char *buf, size_t len, unsigned field, uint64_t *out)
{
    const char *end = buf + len;
    const char *p = memrchr(buf, ')', len);
    if (p == NULL || field < 3)
        return -EINVAL;
    p++;
    /* Field 3 (state) is the first after the ')'. */
    for (unsigned f = 3;; f++) {
        while (p < end && *p == ' ')
            p++;
        if (p >= end || *p == '\n')
            return -EINVAL;
        if (f == field)
            break;
        while (p < end && *p != ' ' && *p != '\n')
            p++;
    }
    if (p >= end || *p < '0' || *p > '9')
        return -EINVAL;
    uint64_t v = 0;
    for (; p < end && *p >= '0' && *p <= '9'; p++) {
        if (v > (UINT64_MAX - 9) / 10)
            return -EINVAL;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (p < end && *p != ' ' && *p != '\n')
        return -EINVAL;
    *out = v;
    return 0;
}

static int wdt_thread_stat_ticks(const struct wdt_thread *t, unsigned field, uint64_t *ticks)
{
    char buf[WDT_STAT_BUF];
    if (t->stat_fd < 0)
        return -EBADF;
    ssize_t n = pread(t->stat_fd, buf, sizeof(buf), 0);
    if (n < 0)
        return -errno;
    if (n == 0)
        return -ESRCH;
    return wdt_parse_stat_field(buf, (size_t)n, field, ticks);
}

int wdt_thread_guest_ns(const struct wdt_thread *t, int64_t *out)
{
    uint64_t ticks;
    int rc = wdt_thread_stat_ticks(t, 43, &ticks);
    if (rc == 0)
        *out = (int64_t)(ticks * (uint64_t)wdt_tick_ns());
    return rc;
}

int wdt_thread_cpu_ns(const struct wdt_thread *t, int64_t *out)
{
    if (t->own_process) {
        struct timespec ts;
        if (clock_gettime(t->cpu_clock, &ts) != 0)
            return -errno;
        *out = (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
        return 0;
    }
    uint64_t utime, stime;
    int rc = wdt_thread_stat_ticks(t, 14, &utime);
    if (rc == 0)
        rc = wdt_thread_stat_ticks(t, 15, &stime);
    if (rc == 0)
        *out = (int64_t)((utime + stime) * (uint64_t)wdt_tick_ns());
    return rc;
}

void wdt_vclock_init(struct wdt_vclock *c)
{
    memset(c, 0, sizeof(*c));
    pthread_mutex_init(&c->lock, NULL);
}

void wdt_vclock_fini(struct wdt_vclock *c)
{
    pthread_mutex_destroy(&c->lock);
}

int64_t wdt_vclock_fold(struct wdt_vclock *c, uint64_t src_id, int64_t raw)
{
    pthread_mutex_lock(&c->lock);
    if (!c->started) {
        /* The first reading is where the clock starts, whatever its sign: only differences
         * of readings count. */
        c->started = true;
        c->offset = 0;
        c->src_id = src_id;
        c->last = raw;
    } else if (c->src_id != src_id) {
        /* A new source continues from where the old one stood. */
        c->offset = (int64_t)((uint64_t)c->last - (uint64_t)raw);
        c->src_id = src_id;
    }
    /* Wrapping arithmetic: readings of any origin never make this undefined. */
    int64_t value = (int64_t)((uint64_t)raw + (uint64_t)c->offset);
    if (value < c->last)
        value = c->last;
    c->last = value;
    pthread_mutex_unlock(&c->lock);
    return value;
}

int64_t wdt_vclock_auto(struct wdt_vclock *c, uint64_t thread_id, int64_t guest_ns,
                        int64_t cpu_ns, bool *switched_now)
{
    int64_t raw;
    *switched_now = false;
    pthread_mutex_lock(&c->lock);
    if (c->auto_src != thread_id) {
        c->auto_src = thread_id;
        c->auto_primed = false;
        c->auto_switched = false;
    }
    if (!c->auto_primed || (!c->auto_switched && guest_ns > c->auto_guest)) {
        c->auto_primed = true;
        c->auto_guest = guest_ns;
        c->auto_cpu = cpu_ns;
    } else if (!c->auto_switched && cpu_ns - c->auto_cpu >= WDT_AUTO_SWITCH_NS) {
        c->auto_switched = true;
        *switched_now = true;
    }
    if (c->auto_switched)
        raw = c->auto_guest + (cpu_ns > c->auto_cpu ? cpu_ns - c->auto_cpu : 0);
    else
        raw = c->auto_guest;
    pthread_mutex_unlock(&c->lock);
    return raw;
}

bool wdt_vclock_note(struct wdt_vclock *c, enum wdt_clock_note note)
{
    pthread_mutex_lock(&c->lock);
    bool first = (c->noted & note) == 0;
    c->noted |= note;
    pthread_mutex_unlock(&c->lock);
    return first;
}
