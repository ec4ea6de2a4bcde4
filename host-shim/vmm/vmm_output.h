/*
 * vmwdt-vmm's clock and output lines. Every line on stdout starts with "[SECONDS.mmm] ", the
 * seconds since the start of the run (DESIGN.md section 8); this file owns that start.
 * It depends on nothing else of the VMM, so every other part may use it.
 */
#ifndef VMM_OUTPUT_H
#define VMM_OUTPUT_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

#define VMM_NS_PER_S 1000000000LL

/* Host time (CLOCK_MONOTONIC) in nanoseconds. */
int64_t vmm_now_ns(void);

/* Sets the start of the run (a vmm_now_ns() value); output times count from it. */
void vmm_output_set_start(int64_t start_ns);
int64_t vmm_output_start(void);
int64_t vmm_elapsed_ns(void);

/* Prints "[   s.mmm] WHO: <message>" to f as one line; safe from every thread. */
void vmm_vprint(FILE *f, const char *who, const char *fmt, va_list ap);
void vmm_print(FILE *f, const char *who, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* "vCPU n: <message>" and "vmm: <message>" on stdout. */
void vmm_event(uint32_t cpu, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void vmm_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* VMM_OUTPUT_H */
