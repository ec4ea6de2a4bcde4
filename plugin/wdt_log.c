/*
 * Logging. See wdt_log.h.
 */
#include "wdt_log.h"

#include <stdarg.h>
#include <stdio.h>

#define WDT_LOG_MAX 256

void wdt_logf(const struct wdt_logger *lg, int level, const char *fmt, ...)
{
    char msg[WDT_LOG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (lg != NULL && lg->fn != NULL)
        lg->fn(lg->opaque, level, msg);
    else
        fprintf(stderr, "vmwdt: %s\n", msg);
}

void wdt_ratelimit_init(struct wdt_ratelimit *rl)
{
    pthread_mutex_init(&rl->lock, NULL);
    rl->window_start = 0;
    rl->in_window = 0;
    rl->suppressed = 0;
    rl->started = 0;
}

void wdt_ratelimit_fini(struct wdt_ratelimit *rl)
{
    pthread_mutex_destroy(&rl->lock);
}

int wdt_ratelimit_allow(struct wdt_ratelimit *rl, int64_t now, uint64_t *dropped)
{
    int allow;
    *dropped = 0;
    pthread_mutex_lock(&rl->lock);
    if (!rl->started || now - rl->window_start >= WDT_RATELIMIT_NS || now < rl->window_start) {
        rl->started = 1;
        rl->window_start = now;
        rl->in_window = 0;
        *dropped = rl->suppressed;
        rl->suppressed = 0;
    }
    allow = rl->in_window < WDT_RATELIMIT_BURST;
    if (allow)
        rl->in_window++;
    else
        rl->suppressed++;
    pthread_mutex_unlock(&rl->lock);
    return allow;
}
