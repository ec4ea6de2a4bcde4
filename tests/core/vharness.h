/*
 * A virtual-time host for testing vmwdt through its public ABI.
 *
 * The harness plays the VMM: it keeps a virtual host time, one guest clock per vCPU that runs at
 * host rate unless frozen, and answers the library's now_ns() and guest_time_ns() callbacks from
 * them. The device uses VMWDT_TIMERS_EXTERNAL and VMWDT_CLOCK_HOST, so every expiry happens inside
 * vh_advance_to(), which moves time exactly as vmwdt-replay does: before time reaches T, every
 * deadline d <= T is run with the virtual time set to d. Each interrupt and reset request is
 * recorded with the virtual time at which it was called.
 */
#ifndef VHARNESS_H
#define VHARNESS_H

#include <stdbool.h>
#include <stdint.h>

#include "vmwdt.h"

#define VH_MAX_EVENTS 4096
#define VH_LAST_LOG 256

/* Seconds and milliseconds of virtual time in nanoseconds. */
#define VH_S(x) ((int64_t)(x) * 1000000000LL)
#define VH_MS(x) ((int64_t)(x) * 1000000LL)

struct vh_event {
    int64_t t;
    uint32_t cpu;
};

struct vh {
    vmwdt *dev;
    uint32_t cpus;
    int64_t now;             /* Virtual host time. */
    int64_t *guest_base;     /* Guest clock reading when it last stopped or started. */
    int64_t *guest_since;    /* Host time at which a running clock last started. */
    bool *running;
    bool in_run_due;         /* Set while vmwdt_run_due() runs: events must happen only then. */
    int events_outside;      /* Interrupts or resets that came outside vmwdt_run_due(). */
    int unknown_cpu;         /* Callbacks naming a vCPU that does not exist. */
    int nirq, nreset;
    struct vh_event irq[VH_MAX_EVENTS];
    struct vh_event reset[VH_MAX_EVENTS];
    int nlog;                /* Every log message, whatever its level. */
    int bad_log;             /* Messages with no text or a level outside syslog's 0..7. */
    char last_log[VH_LAST_LOG];
    int run_due_calls;
    int run_due_fired;       /* Sum of vmwdt_run_due() return values. */
    int guest_time_calls;
    int now_calls;
    /* Optional hooks run inside the raise_irq / request_reset callbacks (re-entrancy tests). */
    void (*on_irq)(struct vh *h, uint32_t cpu);
    void (*on_reset)(struct vh *h, uint32_t cpu);
};

/* Origin of vCPU cpu's guest clock: distinct per vCPU and unrelated to host time on purpose. */
int64_t vh_guest_origin(uint32_t cpu);

/* Creates a device with cpus vCPUs and the given action; time starts at start_ns. */
struct vh *vh_new(uint32_t cpus, enum vmwdt_action action, int64_t start_ns);
/* As vh_new, with a caller-chosen config (size, clock, flags...); returns the create result. */
int vh_new_cfg(struct vh **out, const struct vmwdt_config *cfg, int64_t start_ns);
void vh_free(struct vh *h);

/* The host ops that point at the harness (for tests that create devices themselves). */
struct vmwdt_host_ops vh_ops(struct vh *h);

/* Guest clock of cpu at the current virtual time. */
int64_t vh_guest_now(const struct vh *h, uint32_t cpu);
/* Freezes or restarts cpu's guest clock at the current virtual time. */
void vh_guest_run(struct vh *h, uint32_t cpu, bool running);

/* Runs every deadline up to and including t, then sets the virtual time to t. */
void vh_advance_to(struct vh *h, int64_t t);
void vh_advance_by(struct vh *h, int64_t dt);
/* One vmwdt_run_due(t) call with the virtual time set to t; returns its result. */
int vh_run_at(struct vh *h, int64_t t);

/* A 4-byte guest write or read of register reg of cpu; returns the library's result. */
int vh_write(struct vh *h, uint32_t cpu, uint32_t reg, uint32_t val);
int vh_read_rc(struct vh *h, uint32_t cpu, uint32_t reg, uint32_t *val);
/* A read that must succeed. */
uint32_t vh_read(struct vh *h, uint32_t cpu, uint32_t reg);

/* The Linux driver's start sequence: CLOCK_FREQ_HZ = f, LOAD_CNT = n, STATUS = 1. */
void vh_start(struct vh *h, uint32_t cpu, uint32_t f, uint32_t n);

/* Forgets the recorded events and log count. */
void vh_clear(struct vh *h);

/* Events recorded for cpu, in order, into out (up to max); returns how many. */
int vh_irqs_of(const struct vh *h, uint32_t cpu, struct vh_event *out, int max);
int vh_resets_of(const struct vh *h, uint32_t cpu, struct vh_event *out, int max);

/* Check assertions on the recorded events. */
void vh_expect_none(const struct vh *h);
void vh_expect_irq(const struct vh *h, int idx, int64_t t, uint32_t cpu);
void vh_expect_reset(const struct vh *h, int idx, int64_t t, uint32_t cpu);
void vh_expect_counts(const struct vh *h, int nirq, int nreset);

/* Every register of every vCPU, in order, into regs (4 * cpus values). */
void vh_dump_regs(struct vh *h, uint32_t *regs);

#endif /* VHARNESS_H */
