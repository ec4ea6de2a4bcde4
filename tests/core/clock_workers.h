/*
 * Real threads for the clock suites: helper threads that spin or sleep until told to stop,
 * with their thread ids for vmwdt_set_vcpu_thread.
 */
#ifndef CLOCK_WORKERS_H
#define CLOCK_WORKERS_H

#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

#include "vmwdt.h"
#include "vmwdt_test.h"

/* The clock kinds that measure a vCPU through its thread. */
static const enum vmwdt_clock clocks_all[] __attribute__((unused)) = {
    VMWDT_CLOCK_AUTO, VMWDT_CLOCK_GUEST_TIME, VMWDT_CLOCK_THREAD_CPU
};

/* A helper thread that either spins or sleeps until told to stop. */
struct worker {
    pthread_t th;
    bool busy;
    atomic_int tid;
    atomic_bool stop;
};

static inline void *worker_main(void *arg)
{
    struct worker *w = arg;

    atomic_store(&w->tid, test_gettid());
    while (!atomic_load(&w->stop)) {
        if (!w->busy)
            sleep_ms(5);
    }
    return NULL;
}

static inline void worker_start(struct worker *w, bool busy)
{
    memset(w, 0, sizeof(*w));
    w->busy = busy;
    ck_assert_int_eq(pthread_create(&w->th, NULL, worker_main, w), 0);
    while (atomic_load(&w->tid) == 0)
        sleep_ms(1);
}

static inline void worker_stop(struct worker *w)
{
    atomic_store(&w->stop, true);
    pthread_join(w->th, NULL);
}

#endif /* CLOCK_WORKERS_H */
