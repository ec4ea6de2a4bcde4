/*
 * The watchdog core: one vCPU's registers and countdown as a pure state machine.
 *
 * Nothing here does I/O, reads a clock, takes a lock or allocates. Every operation is given the
 * vCPU's guest-clock reading (nanoseconds, any origin, never decreasing for one vCPU) and says
 * what the caller must do next, so every rule of the register table can be checked in virtual
 * time. The caller owns locking and turns guest-clock budgets into host deadlines.
 */
#ifndef WDT_CORE_H
#define WDT_CORE_H

#include <stdbool.h>
#include <stdint.h>

/* Where a vCPU's countdown stands. */
enum wdt_phase {
    WDT_PHASE_IDLE,    /* Not counting: disabled, or enabled never. */
    WDT_PHASE_FIRST,   /* Counting the window started by the last pet or enable. */
    WDT_PHASE_SECOND,  /* IRQ_THEN_RESET: the interrupt fired; counting towards the reset. */
    WDT_PHASE_STOPPED  /* Enabled, but the countdown stopped after its final expiry. */
};

/* What the caller must do after a write. */
enum wdt_write_result {
    WDT_WRITE_DONE,          /* Applied; no countdown started or moved. */
    WDT_WRITE_ARMED,         /* Applied; a window started: schedule its expiry. */
    WDT_WRITE_REFUSED_FREQ0, /* Enable or pet while CLOCK_FREQ_HZ is 0: nothing changed. */
    WDT_WRITE_REFUSED_RO,    /* A write to CURRENT_CNT: nothing changed. */
    WDT_WRITE_REFUSED_REG    /* Not a register offset: nothing changed. */
};

/* What an expiry check found. */
enum wdt_event {
    WDT_EVENT_NONE,   /* Not yet expired (or not counting). */
    WDT_EVENT_IRQ,    /* Raise the vCPU's stall interrupt. */
    WDT_EVENT_RESET,  /* Request a VM reset. */
    WDT_EVENT_LOGGED  /* ACTION_NONE: log the expiry. */
};

/* Values of enum vmwdt_action, repeated so that the core does not need the public header. */
enum wdt_action {
    WDT_ACTION_IRQ_THEN_RESET,
    WDT_ACTION_IRQ_ONLY,
    WDT_ACTION_RESET,
    WDT_ACTION_NONE
};

struct wdt_vcpu {
    uint32_t freq;      /* CLOCK_FREQ_HZ as last written. */
    uint32_t load;      /* LOAD_CNT as last written. */
    uint32_t win_freq;  /* The f the current window was computed with (for CURRENT_CNT). */
    bool enabled;
    bool raised;        /* Stall interrupt raised and not yet cleared by a pet or enable. */
    bool frozen;        /* The device sleeps: budget_ns is what is left, base_ns is unused. */
    uint8_t phase;      /* enum wdt_phase */
    int64_t window_ns;  /* Length of the current window. */
    int64_t base_ns;    /* Guest-clock reading from which budget_ns counts down. */
    int64_t budget_ns;  /* Guest time the current window had left at base_ns. */
};

/* n ticks at f Hz in nanoseconds, n * 1e9 / f in 64-bit integer arithmetic; 0 when f is 0. */
int64_t wdt_window_ns(uint32_t ticks, uint32_t freq);

/* A vCPU as after create: every register 0, disabled, not frozen. */
void wdt_vcpu_init(struct wdt_vcpu *v);

/* A guest write of val to the register at reg (0x0, 0x4, 0x8 or 0xC) at guest time now. */
enum wdt_write_result wdt_vcpu_write(struct wdt_vcpu *v, uint32_t reg, uint32_t val, int64_t now);

/* A guest read of the register at reg at guest time now; 0 for a non-register offset. */
uint32_t wdt_vcpu_read(const struct wdt_vcpu *v, uint32_t reg, int64_t now);

/* True while a countdown runs (phase FIRST or SECOND). */
static inline bool wdt_vcpu_counting(const struct wdt_vcpu *v)
{
    return v->phase == WDT_PHASE_FIRST || v->phase == WDT_PHASE_SECOND;
}

/* Guest time left in the current window at now; -1 when not counting. Inline, with
 * wdt_vcpu_due(), because every pet asks them. */
static inline int64_t wdt_vcpu_remaining(const struct wdt_vcpu *v, int64_t now)
{
    if (!wdt_vcpu_counting(v))
        return -1;
    if (v->frozen || now <= v->base_ns)
        return v->budget_ns;
    /* Readings have any origin, negative included: the difference is taken in unsigned
     * arithmetic, where it is exact whatever the signs, since now > base_ns. */
    uint64_t elapsed = (uint64_t)now - (uint64_t)v->base_ns;
    return elapsed >= (uint64_t)v->budget_ns ? 0 : v->budget_ns - (int64_t)elapsed;
}

/*
 * True exactly when wdt_vcpu_expire() at now would apply an expiry: the countdown runs, is not
 * frozen, and has nothing left. A caller that must apply due expiries before acting asks this
 * first, so that the common case (nothing due) costs one look at the window.
 */
static inline bool wdt_vcpu_due(const struct wdt_vcpu *v, int64_t now)
{
    return wdt_vcpu_counting(v) && !v->frozen && wdt_vcpu_remaining(v, now) == 0;
}

/*
 * Checks the countdown at guest time now and applies at most one expiry of the given action.
 * *remaining receives the guest time left afterwards (0: check again at once), or -1 when the
 * countdown no longer runs. A frozen vCPU never expires.
 */
enum wdt_event wdt_vcpu_expire(struct wdt_vcpu *v, enum wdt_action action, int64_t now,
                               int64_t *remaining);

/* Sleep: keeps the budget left at now and stops counting it. Idempotent. */
void wdt_vcpu_freeze(struct wdt_vcpu *v, int64_t now);

/* Wake: the kept budget counts down again from now. Idempotent. */
void wdt_vcpu_thaw(struct wdt_vcpu *v, int64_t now);

#endif /* WDT_CORE_H */
