/*
 * Drives the library and the reference model (wdt_model.h) side by side, one operation at a
 * time, and checks after each that they agree: the events told by vmwdt_run_due() and when,
 * what it returns, the registers read, and vmwdt_next_deadline_ns() never later than the
 * model's next event. The device uses EXTERNAL timers and the HOST clock, whose readings the
 * model's virtual clocks answer. The randomized ctest and the fuzz_mmio target both decode
 * their input into these operations.
 */
#ifndef WDT_MDRIVE_H
#define WDT_MDRIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmwdt.h"
#include "wdt_model.h"

enum md_kind {
    MD_WRITE,    /* cpu, reg, val */
    MD_READ,     /* cpu, reg */
    MD_ADVANCE,  /* dt: time passes and the host runs every deadline on time */
    MD_LATE,     /* dt: time passes and the host runs nothing */
    MD_RUN,      /* one vmwdt_run_due() at the current time */
    MD_FREEZE,   /* cpu's guest clock stops */
    MD_THAW,     /* cpu's guest clock runs */
    MD_SLEEP,
    MD_WAKE,
    MD_SNAPSHOT, /* keeps the document */
    MD_RESTORE,  /* restores the kept document into the device */
    MD_FRESH,    /* restores it into a new device of action val, which replaces the old */
    MD_BAD,      /* a refused access: val picks which */
    MD_KINDS
};

struct md_op {
    uint8_t kind;   /* enum md_kind */
    uint32_t cpu;   /* taken modulo the vCPU count */
    uint32_t reg;   /* 0x0, 0x4, 0x8 or 0xC */
    uint32_t val;
    int64_t dt;     /* >= 0 */
    bool check;     /* afterwards, read cpu's STATUS and CURRENT_CNT and compare */
};

struct md_stats {
    uint64_t ops, run_due_calls, irqs, resets, late;
};

struct md {
    struct wm m;
    vmwdt *dev;
    struct wm_fired *fired;
    size_t nfired, capfired;
    bool in_run_due;
    int outside;            /* callbacks outside vmwdt_run_due() */
    char *doc;              /* the kept snapshot document */
    struct wm_snap_vcpu *msnap;
    struct md_stats stats;
    char err[512];
};

/* A device of cpus vCPUs (1..8) and the given action at host time t0, guest clocks at origin. */
int md_init(struct md *d, uint32_t cpus, int action, int64_t t0, const int64_t *origin);
void md_fini(struct md *d);

/* Applies one operation; 0, or -1 with the reason in d->err. */
int md_step(struct md *d, const struct md_op *op);

/* Runs everything due up to t; 0 or -1. */
int md_advance(struct md *d, int64_t t);

#endif /* WDT_MDRIVE_H */
