/*
 * Logging through the host's callback (syslog levels), and a rate limit for messages that the
 * guest can cause, so that a hostile guest cannot flood the host's log.
 */
#ifndef WDT_LOG_H
#define WDT_LOG_H

#include <pthread.h>
#include <stdint.h>

/* At most this many guest-caused messages per WDT_RATELIMIT_NS of host time. */
#define WDT_RATELIMIT_BURST 10
#define WDT_RATELIMIT_NS 1000000000ll

typedef void (*wdt_log_fn)(void *opaque, int level, const char *msg);

struct wdt_logger {
    wdt_log_fn fn; /* NULL: stderr */
    void *opaque;
};

struct wdt_ratelimit {
    pthread_mutex_t lock;
    int64_t window_start;
    uint32_t in_window;
    uint64_t suppressed;
    int started;
};

void wdt_logf(const struct wdt_logger *lg, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

void wdt_ratelimit_init(struct wdt_ratelimit *rl);
void wdt_ratelimit_fini(struct wdt_ratelimit *rl);

/*
 * Decides whether a message at host time now may be logged. When a new window opens after
 * messages were dropped, *dropped receives how many (to be reported once), else 0.
 */
int wdt_ratelimit_allow(struct wdt_ratelimit *rl, int64_t now, uint64_t *dropped);

#endif /* WDT_LOG_H */
