/*
 * The watchdog core. See wdt_core.h: pure functions of (state, guest time).
 */
#include "wdt_core.h"

#include <string.h>

#define WDT_NS_PER_S 1000000000ull

int64_t wdt_window_ns(uint32_t ticks, uint32_t freq)
{
    if (freq == 0)
        return 0;
    /* At most (2^32 - 1) * 1e9, which fits in 63 bits. */
    return (int64_t)((uint64_t)ticks * WDT_NS_PER_S / freq);
}

void wdt_vcpu_init(struct wdt_vcpu *v)
{
    memset(v, 0, sizeof(*v));
    v->phase = WDT_PHASE_IDLE;
}

/* Starts a window of `load` ticks at the current frequency, counted from now. */
static void wdt_start_window(struct wdt_vcpu *v, int64_t now)
{
    v->win_freq = v->freq;
    v->window_ns = wdt_window_ns(v->load, v->freq);
    v->budget_ns = v->window_ns;
    v->base_ns = now;
    v->raised = false;
    v->phase = WDT_PHASE_FIRST;
}

static enum wdt_write_result wdt_write_status(struct wdt_vcpu *v, uint32_t val, int64_t now)
{
    if (val == 0) {
        v->enabled = false;
        v->phase = WDT_PHASE_IDLE;
        return WDT_WRITE_DONE;
    }
    if (v->enabled)
        return WDT_WRITE_DONE;
    if (v->freq == 0)
        return WDT_WRITE_REFUSED_FREQ0;
    v->enabled = true;
    wdt_start_window(v, now);
    return WDT_WRITE_ARMED;
}

static enum wdt_write_result wdt_write_load(struct wdt_vcpu *v, uint32_t val, int64_t now)
{
    if (v->freq == 0)
        return WDT_WRITE_REFUSED_FREQ0;
    v->load = val;
    if (!v->enabled) {
        v->raised = false;
        return WDT_WRITE_DONE;
    }
    wdt_start_window(v, now);
    return WDT_WRITE_ARMED;
}

enum wdt_write_result wdt_vcpu_write(struct wdt_vcpu *v, uint32_t reg, uint32_t val, int64_t now)
{
    switch (reg) {
    case 0x0:
        return wdt_write_status(v, val, now);
    case 0x4:
        return wdt_write_load(v, val, now);
    case 0x8:
        return WDT_WRITE_REFUSED_RO;
    case 0xC:
        v->freq = val;
        return WDT_WRITE_DONE;
    default:
        return WDT_WRITE_REFUSED_REG;
    }
}

/* Ticks of the window's frequency left at now, rounded up. */
static uint32_t wdt_ticks_left(const struct wdt_vcpu *v, int64_t now)
{
    if (v->phase != WDT_PHASE_FIRST || v->win_freq == 0)
        return 0;
    uint64_t left_ns = (uint64_t)wdt_vcpu_remaining(v, now);
    /*
     * A window the guest started holds left_ns * f <= load * 1e9, but a restored one need not
     * (its budget and frequency come from the document). A product past 64 bits is more than
     * 2^64 / 1e9 ticks anyway: it saturates like any count above UINT32_MAX.
     */
    if (left_ns > (UINT64_MAX - (WDT_NS_PER_S - 1)) / v->win_freq)
        return UINT32_MAX;
    uint64_t ticks = (left_ns * v->win_freq + WDT_NS_PER_S - 1) / WDT_NS_PER_S;
    return ticks > UINT32_MAX ? UINT32_MAX : (uint32_t)ticks;
}

uint32_t wdt_vcpu_read(const struct wdt_vcpu *v, uint32_t reg, int64_t now)
{
    switch (reg) {
    case 0x0:
        return (v->enabled ? 1u : 0u) | (v->raised ? 2u : 0u);
    case 0x4:
        return v->load;
    case 0x8:
        return v->enabled ? wdt_ticks_left(v, now) : v->load;
    case 0xC:
        return v->freq;
    default:
        return 0;
    }
}

/* The final expiry of a countdown: it stops until the next pet or enable. */
static enum wdt_event wdt_stop(struct wdt_vcpu *v, enum wdt_event ev, int64_t *remaining)
{
    v->phase = WDT_PHASE_STOPPED;
    *remaining = -1;
    return ev;
}

enum wdt_event wdt_vcpu_expire(struct wdt_vcpu *v, enum wdt_action action, int64_t now,
                               int64_t *remaining)
{
    *remaining = wdt_vcpu_remaining(v, now);
    if (*remaining != 0 || v->frozen)
        return WDT_EVENT_NONE;
    /* The second window only starts under IRQ_THEN_RESET, but a restored document may bring
     * one to a device of another action: its end then does what that action allows. */
    if (v->phase == WDT_PHASE_SECOND) {
        bool resets = action == WDT_ACTION_IRQ_THEN_RESET || action == WDT_ACTION_RESET;
        return wdt_stop(v, resets ? WDT_EVENT_RESET : WDT_EVENT_LOGGED, remaining);
    }
    switch (action) {
    case WDT_ACTION_IRQ_THEN_RESET:
        /* The second window starts where the first ended, not when the expiry was seen, so
         * that a late check does not move the reset. */
        v->raised = true;
        v->phase = WDT_PHASE_SECOND;
        v->base_ns += v->budget_ns;
        v->budget_ns = v->window_ns;
        *remaining = wdt_vcpu_remaining(v, now);
        return WDT_EVENT_IRQ;
    case WDT_ACTION_IRQ_ONLY:
        v->raised = true;
        return wdt_stop(v, WDT_EVENT_IRQ, remaining);
    case WDT_ACTION_RESET:
        return wdt_stop(v, WDT_EVENT_RESET, remaining);
    default:
        return wdt_stop(v, WDT_EVENT_LOGGED, remaining);
    }
}

void wdt_vcpu_freeze(struct wdt_vcpu *v, int64_t now)
{
    if (v->frozen)
        return;
    if (wdt_vcpu_counting(v))
        v->budget_ns = wdt_vcpu_remaining(v, now);
    v->frozen = true;
}

void wdt_vcpu_thaw(struct wdt_vcpu *v, int64_t now)
{
    if (!v->frozen)
        return;
    v->base_ns = now;
    v->frozen = false;
}
