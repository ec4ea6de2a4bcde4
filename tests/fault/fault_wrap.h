/*
 * A fault injector linked with --wrap around the library's calls to the allocator and to the
 * system calls it cannot do without (see fault_wrap.c). A fault is armed on the calling thread
 * only, so that a worker thread's own calls never take a fault meant for the test's call.
 */
#ifndef FAULT_WRAP_H
#define FAULT_WRAP_H

#include <stdbool.h>
#include <stdint.h>

enum fault_kind {
    FAULT_ALLOC,    /* malloc, calloc, realloc, posix_memalign: ENOMEM */
    FAULT_TIMERFD,  /* timerfd_create: EMFILE */
    FAULT_THREAD,   /* pthread_create: EAGAIN */
    FAULT_PROC_OPEN,/* open and openat of a /proc path: EMFILE */
    FAULT_PREAD,    /* pread and read: EIO */
    FAULT_KINDS
};

/*
 * Arms kind on this thread: calls of that kind succeed skip times, then the next `count` fail
 * (count < 0: every one until disarmed). all_threads makes the fault hit every thread.
 */
void fault_arm(enum fault_kind kind, long skip, long count, bool all_threads);
void fault_disarm(void);

/* How many calls of kind failed since the last fault_arm(). */
long fault_hits(enum fault_kind kind);

/* How many calls of kind were made since the last fault_arm(), failed ones included. */
long fault_calls(enum fault_kind kind);

/* Allocations made through the wrappers and not yet freed, on all threads. */
long fault_live_allocations(void);

#endif /* FAULT_WRAP_H */
