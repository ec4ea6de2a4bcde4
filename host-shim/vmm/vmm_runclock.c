/*
 * The sampler behind vmm_runclock.h. Every SAMPLE_NS it reads each vCPU thread's CPU clock and
 * hands the CPU time used in the period just ended to the trace as running time in the next
 * one: the vCPU is recorded running from now for as long as its credit of CPU time lasts, then
 * frozen. The replayer's clock of that vCPU so advances by the thread's CPU time, one period
 * late, also where the vCPU shares a busy host core and gets only part of it. What the records
 * really granted (the sampler may wake late) is taken off the credit, so the error never adds
 * up. A credit under 5% of a period stays frozen (an idle guest CPU waking for its timers, or
 * one stopped by a panic) and one of 95% or more stays running, so that neither writes a
 * record every period.
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
    bool *running;   /* as last written to the trace */
    int64_t *since;  /* when a running vCPU's granted time was last accounted */
    int64_t *credit; /* CPU time used and not yet recorded as running time */
    int64_t *off_ns; /* when a running vCPU is to be recorded frozen, or 0 */
    int64_t last_tick;
};

static int64_t thread_cpu_ns(clockid_t id)
{
    struct timespec ts;
    if (clock_gettime(id, &ts) != 0)
        return -1;
    return (int64_t)ts.tv_sec * VMM_NS_PER_S + ts.tv_nsec;
}

/* Takes the running time granted since the last account off the vCPU's credit. */
static void account(struct vmm_runclock *rc, uint32_t cpu, int64_t now)
{
    if (rc->running[cpu]) {
        rc->credit[cpu] -= now - rc->since[cpu];
        rc->since[cpu] = now;
    }
}

static void record(struct vmm_runclock *rc, uint32_t cpu, bool running, int64_t now)
{
    account(rc, cpu, now);
    if (rc->running[cpu] == running)
        return;
    rc->running[cpu] = running;
    rc->since[cpu] = now;
    vmm_trace_guest_at(rc->vm->trace, cpu, running, now);
}

/* The end of the running time a credit paid for. */
static void turn_off(struct vmm_runclock *rc, int64_t now)
{
    for (uint32_t i = 0; i < rc->vm->opt.cpus; i++) {
        if (rc->off_ns[i] && rc->off_ns[i] <= now) {
            rc->off_ns[i] = 0;
            record(rc, i, false, now);
        }
    }
}

/*
 * final: the last sample, after the vCPU threads ended: their CPU time is what each took down
 * as it ended, and the whole credit is granted before the trace ends.
 */
static void sample(struct vmm_runclock *rc, int64_t now, int64_t period_ns, bool final)
{
    for (uint32_t i = 0; i < rc->vm->opt.cpus; i++) {
        const struct vmm_vcpu_stats *st = &rc->vm->vcpus[i].stats;
        int64_t cpu = !final ? thread_cpu_ns(rc->clocks[i]) : st->valid ? st->thread_cpu_ns : -1;
        if (cpu < 0)
            continue; /* the thread has ended */
        account(rc, i, now);
        rc->credit[i] += cpu - rc->last_cpu_ns[i];
        rc->last_cpu_ns[i] = cpu;
        rc->off_ns[i] = 0;
        if (final ? rc->credit[i] <= 0 : rc->credit[i] * 20 < period_ns) {
            record(rc, i, false, now);
        } else {
            record(rc, i, true, now);
            if (final || rc->credit[i] * 20 < period_ns * 19)
                rc->off_ns[i] = now + rc->credit[i];
        }
    }
}

/* The next moment the sampler has something to do. */
static int64_t next_wake(const struct vmm_runclock *rc, int64_t tick)
{
    int64_t wake = tick;
    for (uint32_t i = 0; i < rc->vm->opt.cpus; i++)
        if (rc->off_ns[i] && rc->off_ns[i] < wake)
            wake = rc->off_ns[i];
    return wake;
}

static void *sampler(void *arg)
{
    struct vmm_runclock *rc = arg;
    pthread_mutex_lock(&rc->lock);
    while (!rc->stop) {
        struct timespec ts;
        int64_t tick = rc->last_tick + SAMPLE_NS;
        int64_t wake = next_wake(rc, tick);
        ts.tv_sec = (time_t)(wake / VMM_NS_PER_S);
        ts.tv_nsec = (long)(wake % VMM_NS_PER_S);
        pthread_cond_timedwait(&rc->cond, &rc->lock, &ts);
        if (rc->stop)
            break;
        int64_t now = vmm_now_ns();
        turn_off(rc, now);
        now = vmm_now_ns();
        if (now >= tick) {
            sample(rc, now, now - rc->last_tick, false);
            rc->last_tick = now;
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
    free(rc->since);
    free(rc->credit);
    free(rc->off_ns);
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
    rc->since = calloc(vm->opt.cpus, sizeof(*rc->since));
    rc->credit = calloc(vm->opt.cpus, sizeof(*rc->credit));
    rc->off_ns = calloc(vm->opt.cpus, sizeof(*rc->off_ns));
    if (!rc->clocks || !rc->last_cpu_ns || !rc->running || !rc->since || !rc->credit ||
        !rc->off_ns) {
        free_runclock(rc);
        return NULL;
    }
    for (uint32_t i = 0; i < vm->opt.cpus; i++) {
        /*
         * The trace starts with every clock running (DESIGN.md section 6); the sampler
         * freezes them from the start (or the last record, if the guest was quicker) and
         * grants the CPU time the threads used so far at its first sample. The running time
         * before the freeze is not charged: the replay may run a few milliseconds ahead of
         * the plugin, never behind, so an event at the very end of the run is not lost.
         */
        rc->running[i] = true;
        rc->since[i] = vmm_output_start();
        if (!vm->vcpus[i].thread_started ||
            pthread_getcpuclockid(vm->vcpus[i].thread, &rc->clocks[i]) != 0) {
            free_runclock(rc);
            return NULL;
        }
        rc->last_cpu_ns[i] = 0; /* the threads started with the run */
    }
    pthread_mutex_init(&rc->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&rc->cond, &attr);
    pthread_condattr_destroy(&attr);
    rc->last_tick = vmm_now_ns();
    for (uint32_t i = 0; i < vm->opt.cpus; i++) {
        record(rc, i, false, vmm_output_start());
        rc->credit[i] = 0;
    }
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
}

void vmm_runclock_finish(struct vmm_runclock *rc)
{
    if (!rc)
        return;
    /*
     * The CPU time since the last sample is still owed to the trace: grant it now and wait it
     * out (about a period at most), so that the replay sees all the CPU time the plugin could
     * count, up to a reset at the very end.
     */
    int64_t now = vmm_now_ns();
    turn_off(rc, now);
    sample(rc, now, now - rc->last_tick, true);
    for (int64_t wake; (wake = next_wake(rc, INT64_MAX)) != INT64_MAX;) {
        struct timespec ts = {.tv_sec = (time_t)(wake / VMM_NS_PER_S),
                              .tv_nsec = (long)(wake % VMM_NS_PER_S)};
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
        turn_off(rc, vmm_now_ns());
    }
    pthread_mutex_destroy(&rc->lock);
    pthread_cond_destroy(&rc->cond);
    free_runclock(rc);
}
