/*
 * A reference model of DESIGN.md sections 2 and 4 in virtual time, written from the contract
 * and independent of the library's code: virtual host time, one guest clock per vCPU that runs
 * at host rate or stands still, the registers, and every expiry with the exact host time at
 * which it is due.
 *
 * Each expiry becomes an owed event with its due time and the latest time by which the host
 * must have been told: the due time itself, or up to WM_RECHECK_NS later when the window's
 * guest clock stood still, device awake, with less than that left (the contract's only
 * allowance), and never before the interrupt that started a reset's window was told. An access
 * that reads a vCPU's clock "settles" its owed events: they must then come at the next
 * vmwdt_run_due() of an awake device. Events wait while the device sleeps.
 */
#ifndef WDT_MODEL_H
#define WDT_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WM_RECHECK_NS 1000000LL

enum wm_kind { WM_IRQ, WM_RESET, WM_LOGGED };
enum wm_phase { WM_IDLE, WM_FIRST, WM_SECOND, WM_STOPPED };

struct wm_vcpu {
    uint32_t freq, load, win_freq;
    bool enabled, raised;
    uint8_t phase;      /* enum wm_phase */
    int64_t window;     /* ns */
    int64_t end_g;      /* awake and counting: the guest reading at which the window ends */
    int64_t budget;     /* asleep and counting: the guest time left */
    bool lenient;       /* the clock stood still, awake, with 0 < left < WM_RECHECK_NS */
    int64_t inherit;    /* latest time of the interrupt that started this window, or INT64_MIN */
    /* The guest clock: base at since (host time), running at host rate or standing still. */
    int64_t g_base, g_since;
    bool running;
};

struct wm_event {
    int64_t due;
    int64_t latest;
    uint32_t cpu;
    uint8_t kind;       /* enum wm_kind */
    bool settled;
};

/* What a snapshot document holds for one vCPU (DESIGN.md section 5). */
struct wm_snap_vcpu {
    bool enabled, raised, stopped;
    uint32_t freq, load;
    int64_t budget, window;
};

struct wm {
    uint32_t cpus;
    int action;          /* enum vmwdt_action */
    bool asleep;
    int64_t now;
    struct wm_vcpu *v;
    struct wm_event *owed;
    size_t nowed, capowed;
};

/* A model device: cpus vCPUs, host time t0, vCPU i's guest clock reading origin[i] at t0. */
int wm_init(struct wm *m, uint32_t cpus, int action, int64_t t0, const int64_t *origin);
void wm_fini(struct wm *m);

int64_t wm_guest(const struct wm *m, uint32_t cpu);
/* Moves host time to t (t >= now), applying every expiry due meanwhile. */
void wm_advance(struct wm *m, int64_t t);
/* Starts or stops cpu's guest clock at the current time. */
void wm_clock_run(struct wm *m, uint32_t cpu, bool running);

/* A 4-byte guest write or read at the current time; the write returns 0 or -EINVAL. */
int wm_write(struct wm *m, uint32_t cpu, uint32_t reg, uint32_t val);
uint32_t wm_read(struct wm *m, uint32_t cpu, uint32_t reg);
/* Marks cpu's owed events settled (an access that reads its clock). */
void wm_touch(struct wm *m, uint32_t cpu);

void wm_sleep(struct wm *m);
void wm_wake(struct wm *m);
/* snap receives cpus entries. */
void wm_snapshot(struct wm *m, struct wm_snap_vcpu *snap);
/* fresh: into a new device of the given action, whose owed events start empty. */
void wm_restore(struct wm *m, const struct wm_snap_vcpu *snap, bool fresh, int action);

/* The latest host time by which the next event must be checked; INT64_MAX: none. */
int64_t wm_next_latest(const struct wm *m);

/* What one vmwdt_run_due() call reported. */
struct wm_fired {
    uint32_t cpu;
    uint8_t kind;
};

/*
 * Checks a vmwdt_run_due() call at the current time that made these callbacks and returned
 * ret, and forgets the events it told. Returns 0, or -1 with a reason in err.
 */
int wm_deliver(struct wm *m, const struct wm_fired *fired, size_t n, int ret, char *err,
               size_t errlen);

#endif /* WDT_MODEL_H */
