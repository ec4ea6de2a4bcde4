/*
 * Helpers shared by the benchmark programs: timing, process accounting and device set-up
 * through the public ABI only.
 */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "vmwdt.h"

/* CLOCK_MONOTONIC in nanoseconds. */
int64_t bench_now_ns(void);

/* The calling thread's id (gettid). */
int32_t bench_gettid(void);

/* Sorts v[0..n) and returns its median (the lower one for an even n). */
double bench_median(double *v, size_t n);

/* Smallest and largest of v[0..n). */
double bench_min(const double *v, size_t n);
double bench_max(const double *v, size_t n);

/* Resident set size of this process in bytes, from /proc/self/statm; -1 on failure. */
int64_t bench_rss_bytes(void);

/* Bytes the C heap has handed out (mallinfo2: arena in use plus mmapped blocks). */
int64_t bench_heap_bytes(void);

/* Number of entries in a /proc directory such as /proc/self/fd or /proc/self/task; -1 on failure. */
int bench_count_dir(const char *path);

/* The kernel's slab memory in bytes (/proc/meminfo "Slab:", system-wide); -1 on failure. */
int64_t bench_kernel_slab_bytes(void);

/* Raises the soft descriptor limit to the hard one; returns the new soft limit. */
long bench_raise_fd_limit(void);

/* Name of an enum vmwdt_clock value, for tables. */
const char *bench_clock_name(uint32_t clock);

/* One 4-byte guest write or read of vCPU cpu's register reg; aborts the program on failure. */
void bench_write(vmwdt *dev, uint32_t cpu, uint32_t reg, uint32_t val);
uint32_t bench_read(vmwdt *dev, uint32_t cpu, uint32_t reg);

/* Sets CLOCK_FREQ_HZ, LOAD_CNT and STATUS = 1 on vCPU cpu, as the Linux driver does at CPU online. */
void bench_enable(vmwdt *dev, uint32_t cpu, uint32_t freq, uint32_t load);

/*
 * Host log callback: prints library messages to stderr with a prefix, so that a fallback shows.
 * While bench_log_quiet is set it only counts them (into bench_log_count), because a benchmark
 * that makes the device log on purpose (expiries) must not time the host's terminal output.
 */
void bench_log(void *opaque, int level, const char *msg);
extern int bench_log_quiet;
extern _Atomic long bench_log_count; /* the worker thread may log too */

/* Exits with status 1 after printing what failed, when err is negative. */
void bench_check(int err, const char *what);

/* True when argv holds "--quick" (tiny iteration counts, for the smoke tests). */
int bench_quick(int argc, char **argv);

#endif /* BENCH_UTIL_H */
