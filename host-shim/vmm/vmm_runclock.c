/*
 * The sampler behind vmm_runclock.h. Every SAMPLE_NS it reads each vCPU thread's CPU clock; a
 * thread that used at least a quarter of the period counts as running (a spinning vCPU, even
 * one that shares a busy host core), one that used less as frozen (an idle guest CPU that
 * wakes for its timers, or one stopped by a panic). Only changes are written to the trace.
 *
 * What the replay then does not see: the CPU time a frozen-recorded vCPU did use, and the part
 * of a period a running-recorded one did not. Both are bounded by one period per change.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "vmm_output.h"
#include "vmm_runclock.h"
#include "vmm_trace.h"

#define SAMPLE_NS (20 * 1000 * 1000)

struct vmm_runclock {
    struct vmm *vm;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stop;
    clockid_t *clocks;
    int64_t *last_cpu_ns;
    bool *running;
};

static int64_t thread_cpu_ns(clockid_t id)
{
    struct timespec ts;
    if (clock_gettime(id, &ts) != 0)
        return -1;
    return (int64_t)ts.tv_sec * VMM_NS_PER_S + ts.tv_nsec;
}

static void sample(struct vmm_runclock *rc, int64_t period_ns)
{
    for (uint32_t i = 0; i < rc->vm->opt.cpus; i++) {
        int64_t now = thread_cpu_ns(rc->clocks[i]);
        if (now < 0)
            continue; /* the thread has ended */
        bool running = (now - rc->last_cpu_ns[i]) * 4 >= period_ns;
        rc->last_cpu_ns[i] = now;
        if (running != rc->running[i]) {
            rc->running[i] = running;
            vmm_trace_guest(rc->vm->trace, i, running);
        }
    }
}

static void *sampler(void *arg)
{
    struct vmm_runclock *rc = arg;
    int64_t last = vmm_now_ns();
    pthread_mutex_lock(&rc->lock);
    while (!rc->stop) {
        struct timespec ts;
        int64_t next = last + SAMPLE_NS;
        ts.tv_sec = (time_t)(next / VMM_NS_PER_S);
        ts.tv_nsec = (long)(next % VMM_NS_PER_S);
        pthread_cond_timedwait(&rc->cond, &rc->lock, &ts);
        int64_t now = vmm_now_ns();
        if (!rc->stop && now >= next) {
            sample(rc, now - last);
            last = now;
        }
    }
    pthread_mutex_unlock(&rc->lock);
    return NULL;
}

static void free_runclock(struct vmm_runclock *rc)
{
    free(rc->clocks);
    free(rc->last_cpu_ns);
    free(rc->running);
    free(rc);
}

struct vmm_runclock *vmm_runclock_start(struct vmm *vm)
{
    if (!vm->trace || vm->opt.clock == VMWDT_CLOCK_MONOTONIC)
        return NULL;
    struct vmm_runclock *rc = calloc(1, sizeof(*rc));
    if (!rc)
        return NULL;
    rc->vm = vm;
    rc->clocks = calloc(vm->opt.cpus, sizeof(*rc->clocks));
    rc->last_cpu_ns = calloc(vm->opt.cpus, sizeof(*rc->last_cpu_ns));
    rc->running = calloc(vm->opt.cpus, sizeof(*rc->running));
    if (!rc->clocks || !rc->last_cpu_ns || !rc->running) {
        free_runclock(rc);
        return NULL;
    }
    for (uint32_t i = 0; i < vm->opt.cpus; i++) {
        /* The trace starts with every clock running (DESIGN.md section 6). */
        rc->running[i] = true;
        if (!vm->vcpus[i].thread_started ||
            pthread_getcpuclockid(vm->vcpus[i].thread, &rc->clocks[i]) != 0) {
            free_runclock(rc);
            return NULL;
        }
        rc->last_cpu_ns[i] = thread_cpu_ns(rc->clocks[i]);
    }
    pthread_mutex_init(&rc->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&rc->cond, &attr);
    pthread_condattr_destroy(&attr);
    if (pthread_create(&rc->thread, NULL, sampler, rc) != 0) {
        pthread_mutex_destroy(&rc->lock);
        pthread_cond_destroy(&rc->cond);
        free_runclock(rc);
        return NULL;
    }
    return rc;
}

void vmm_runclock_stop(struct vmm_runclock *rc)
{
    if (!rc)
        return;
    pthread_mutex_lock(&rc->lock);
    rc->stop = true;
    pthread_cond_broadcast(&rc->cond);
    pthread_mutex_unlock(&rc->lock);
    pthread_join(rc->thread, NULL);
    pthread_mutex_destroy(&rc->lock);
    pthread_cond_destroy(&rc->cond);
    free_runclock(rc);
}
