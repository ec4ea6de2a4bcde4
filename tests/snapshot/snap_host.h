/*
 * A virtual-time VMM for the snapshot suites. It keeps a virtual host time and one guest clock
 * per vCPU (reading 0 when the device is created, running at host rate unless frozen), answers
 * the library's now_ns() and guest_time_ns() from them, and records every interrupt, reset
 * request and vmwdt_run_due() that fired with the virtual time it happened at. Devices use
 * VMWDT_TIMERS_EXTERNAL, so nothing happens between calls.
 */
#ifndef SNAP_HOST_H
#define SNAP_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmwdt.h"

#define SH_S(x) ((int64_t)(x) * 1000000000LL)
#define SH_MS(x) ((int64_t)(x) * 1000000LL)
#define SH_MAX_CPUS 8
#define SH_MAX_EVENTS 256

enum sh_kind { SH_IRQ, SH_RESET, SH_FIRED };

struct sh_event {
    int64_t t;
    int kind;      /* enum sh_kind; SH_FIRED: a vmwdt_run_due() that returned n > 0 */
    uint32_t cpu;  /* SH_FIRED: n */
};

struct sh {
    vmwdt *dev;
    uint32_t cpus;
    int64_t now;
    int64_t guest_base[SH_MAX_CPUS];  /* Guest clock when it last started or stopped. */
    int64_t guest_since[SH_MAX_CPUS]; /* Host time it last started. */
    bool running[SH_MAX_CPUS];
    int nev;
    struct sh_event ev[SH_MAX_EVENTS];
    int nlog;
    char last_log[512];
};

/* Creates a device at host time start: guest clocks read 0 there. Aborts the test on failure. */
struct sh *sh_new(uint32_t cpus, enum vmwdt_clock clock, enum vmwdt_action action, int64_t start);
void sh_free(struct sh *h);

int64_t sh_guest_now(const struct sh *h, uint32_t cpu);
void sh_guest_run(struct sh *h, uint32_t cpu, bool running);

/* Runs every deadline up to and including t at its own time, then sets the time to t. */
void sh_advance_to(struct sh *h, int64_t t);

/* A 4-byte guest write / read of register reg of cpu. */
int sh_write(struct sh *h, uint32_t cpu, uint32_t reg, uint32_t val);
uint32_t sh_read(struct sh *h, uint32_t cpu, uint32_t reg);

/* vmwdt_snapshot_json as a string from malloc(); fails the test when the call fails. */
char *sh_snapshot(struct sh *h);

/* Events at or after t, with their times made relative to t; returns how many. */
int sh_events_since(const struct sh *h, int64_t t, struct sh_event *out, int max);

/* Reads a whole file into a NUL-terminated buffer; *len gets its length in bytes. */
char *sh_read_file(const char *path, size_t *len);

#endif /* SNAP_HOST_H */
