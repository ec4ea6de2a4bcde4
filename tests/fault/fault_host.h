/*
 * The fault tests' host: a virtual clock for EXTERNAL devices, the events and log lines the
 * library reported, and helpers that create, drive and compare devices.
 */
#ifndef FAULT_HOST_H
#define FAULT_HOST_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "vmwdt.h"

#define CPUS 4
#define MS INT64_C(1000000)

/* Failed checks, and faults injected that the library survived. */
extern int failures;
extern long faults_survived;

#define CHECK(cond, ...)                                                                 \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);     \
            fprintf(stderr, __VA_ARGS__);                                                \
            fputc('\n', stderr);                                                         \
            failures++;                                                                  \
        }                                                                                \
    } while (0)

extern int64_t vnow; /* the virtual host and guest time of devices made with virtual_time */
extern atomic_int irqs[CPUS], resets[CPUS], logs;
extern atomic_int worker_logs; /* log lines about the worker thread's start */

/* The host callbacks: count interrupts, resets and log lines. */
void raise_irq(void *o, uint32_t cpu);
void request_reset(void *o, uint32_t cpu);
void log_line(void *o, int level, const char *msg);

/* A device of CPUS vCPUs with IRQ_THEN_RESET; NULL with *rc_out (may be NULL) on failure. */
vmwdt *create(uint32_t clock, uint32_t timers, bool virtual_time, int *rc_out);
/* An EXTERNAL device in virtual time with the HOST clock; a failed check if it cannot be made. */
vmwdt *external(void);
/* A 4-byte register write (its result) and read (checked). */
int put(vmwdt *dev, uint32_t cpu, uint32_t reg, uint32_t val);
uint32_t get(vmwdt *dev, uint32_t cpu, uint32_t reg);
/* The snapshot as a malloc()ed string, or NULL; whether it equals before. */
char *snap(vmwdt *dev);
bool same_state(vmwdt *dev, const char *before);
/* vCPU 0 counting a 100 ms window, vCPU 2 at f = 10, LOAD_CNT 30. */
void set_state(vmwdt *dev);
/* An EXTERNAL device in virtual time still raises vCPU 1's interrupt at the end of its window. */
void check_works(vmwdt *dev, const char *when);
/* No allocation made through the wrappers since baseline is still live. */
void check_no_leak(long baseline, const char *when);
/* A file's text (up to 64 KiB), or NULL. */
char *read_file(const char *path);
void wait_ms(int ms);

/* fault_runtime.c: the worker's start and the /proc clock under faults. */
void worker(void);
void proc(void);

#endif /* FAULT_HOST_H */
