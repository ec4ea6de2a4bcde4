/*
 * Timer runtime cost.
 *
 * EXTERNAL timers, in virtual time: 4096 vCPUs with 1 s windows (f = 1000, LOAD_CNT = 1000),
 * each petting every 500 ms at its own phase (vCPU i at i * 500 ms / 4096), so that every pet
 * moves one deadline among 4096 armed ones. Measured: the pet, vmwdt_run_due() when nothing is
 * due, and, once the pets stop, vmwdt_run_due() per event as the staggered interrupts and reset
 * requests fire one by one (the host steps to vmwdt_next_deadline_ns() each time), and all 4096
 * firing in one call. The HOST clock makes guest time equal the virtual host time.
 *
 * THREAD timers: wake-up latency of the library's worker, the time the interrupt callback runs
 * minus the deadline it was due at (MONOTONIC clock, f = 1000, 50 ms windows), over 20 samples.
 * The deadline is counted from just before the pet, so the figure includes the pet itself.
 * Baseline: the same measurement with a one-shot timerfd, the kernel's own wake-up latency.
 *
 * Usage: bench_timers [--quick]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"

#define NCPUS 4096u
#define FREQ 1000u
#define LOAD 1000u                 /* 1 s windows */
#define WINDOW_NS 1000000000LL
#define PET_PERIOD_NS 500000000LL  /* the Linux driver pets every timeout/2 */

/* Virtual host time, which is also every vCPU's guest time (HOST clock). */
static int64_t vnow;
static long irqs, resets;

static int64_t virt_now(void *opaque)
{
    return vnow;
}

static int64_t virt_guest_time(void *opaque, uint32_t cpu)
{
    return vnow;
}

static void count_irq(void *opaque, uint32_t cpu)
{
    irqs++;
}

static void count_reset(void *opaque, uint32_t cpu)
{
    resets++;
}

static vmwdt *make_external(uint32_t n)
{
    struct vmwdt_config cfg = { .size = sizeof(cfg), .cpu_count = n, .clock = VMWDT_CLOCK_HOST,
                                .action = VMWDT_ACTION_IRQ_THEN_RESET,
                                .timers = VMWDT_TIMERS_EXTERNAL };
    struct vmwdt_host_ops ops = { .size = sizeof(ops), .raise_irq = count_irq,
                                  .request_reset = count_reset, .guest_time_ns = virt_guest_time,
                                  .now_ns = virt_now, .log = bench_log };
    vmwdt *dev = NULL;

    bench_check(vmwdt_create(&cfg, &ops, &dev), "vmwdt_create");
    return dev;
}

/* vCPU i's pet phase within a pet period. */
static int64_t phase(uint32_t i, uint32_t n)
{
    return (int64_t)i * PET_PERIOD_NS / n;
}

/* Per-op costs of the staggered steady state, in ns. */
struct steady {
    double pet_ns, idle_run_due_ns;
    long pets, calls;
};

/* Petting rounds: every vCPU pets once per round at its phase; run_due is called after each. */
static struct steady staggered_pets(vmwdt *dev, uint32_t n, int nrounds, int64_t *t_end)
{
    const uint32_t load = LOAD;
    struct steady s = { 0 };
    int64_t pet_total = 0, due_total = 0;

    for (int r = 0; r < nrounds; r++) {
        int64_t base = (int64_t)(r + 1) * PET_PERIOD_NS, t0;

        /* Pets of this round, each at its own virtual time. */
        t0 = bench_now_ns();
        for (uint32_t i = 0; i < n; i++) {
            vnow = base + phase(i, n);
            if (vmwdt_mmio_write(dev, (uint64_t)i * VMWDT_REG_STRIDE + VMWDT_REG_LOAD_CNT,
                                 &load, 4) != 0)
                bench_check(-EIO, "pet");
        }
        pet_total += bench_now_ns() - t0;
        /* As many run_due calls at the round's last instant: nothing is due, the host checks. */
        t0 = bench_now_ns();
        for (uint32_t i = 0; i < n; i++)
            if (vmwdt_run_due(dev, vnow) != 0)
                bench_check(-EIO, "run_due fired during the petting rounds");
        due_total += bench_now_ns() - t0;
    }
    s.pets = s.calls = (long)nrounds * n;
    s.pet_ns = (double)pet_total / (double)s.pets;
    s.idle_run_due_ns = (double)due_total / (double)s.calls;
    *t_end = vnow;
    return s;
}

/* The pets stop: steps to each next deadline until nothing is armed; returns ns per event. */
static double staggered_expiries(vmwdt *dev, long *events, long *calls)
{
    int64_t t0 = bench_now_ns(), d;
    int fired;

    *events = *calls = 0;
    while ((d = vmwdt_next_deadline_ns(dev)) != INT64_MAX) {
        vnow = d;
        fired = vmwdt_run_due(dev, d);
        bench_check(fired, "vmwdt_run_due");
        *events += fired;
        ++*calls;
    }
    return (double)(bench_now_ns() - t0) / (double)(*events > 0 ? *events : 1);
}

/* Every vCPU petted at the same instant: one run_due fires all n interrupts. */
static double batch_expiry(vmwdt *dev, uint32_t n, int64_t t, long *events)
{
    int64_t t0;
    int fired;

    vnow = t;
    for (uint32_t i = 0; i < n; i++)
        bench_write(dev, i, VMWDT_REG_LOAD_CNT, LOAD);
    vnow = t + WINDOW_NS;
    t0 = bench_now_ns();
    fired = vmwdt_run_due(dev, vnow);
    bench_check(fired, "vmwdt_run_due");
    *events = fired;
    return (double)(bench_now_ns() - t0) / (double)(fired > 0 ? fired : 1);
}

static int external_bench(int quick)
{
    uint32_t n = quick ? 64 : NCPUS;
    int nrounds = quick ? 2 : 20;
    long events, calls, batch, stagger_irqs, stagger_resets;
    struct steady s;
    double per_event, per_batch;
    int64_t t_end;
    vmwdt *dev = make_external(n);

    vnow = 0;
    for (uint32_t i = 0; i < n; i++)
        bench_enable(dev, i, FREQ, LOAD);
    s = staggered_pets(dev, n, nrounds, &t_end);
    irqs = resets = 0;
    per_event = staggered_expiries(dev, &events, &calls);
    if (irqs != (long)n || resets != (long)n) {
        fprintf(stderr, "error: expected %u interrupts and resets, got %ld and %ld\n", n, irqs,
                resets);
        return 1;
    }
    stagger_irqs = irqs;
    stagger_resets = resets;
    /* A pet restarts the countdown of a vCPU whose reset was requested. */
    per_batch = batch_expiry(dev, n, vnow, &batch);
    vmwdt_destroy(dev);

    printf("\nEXTERNAL timers, virtual time: %u vCPUs, 1 s windows, pets every 500 ms staggered\n",
           n);
    printf("%-52s %10s %10s\n", "operation", "count", "ns/op");
    printf("%-52s %10ld %10.1f\n", "pet (LOAD_CNT) with all vCPUs armed", s.pets, s.pet_ns);
    printf("%-52s %10ld %10.1f\n", "run_due, nothing due", s.calls, s.idle_run_due_ns);
    printf("%-52s %10ld %10.1f\n", "next_deadline + run_due per event, staggered", events,
           per_event);
    printf("%-52s %10ld %10.1f\n", "run_due per event, all due in one call", batch, per_batch);
    printf("(staggered: %ld run_due calls for %ld events: %ld interrupts, %ld reset requests)\n",
           calls, events, stagger_irqs, stagger_resets);
    printf("(the device logged %ld messages, counted by the host's log callback, not printed)\n",
           bench_log_count);
    return batch == (long)n ? 0 : 1;
}

/* ------------------------------------------------------------------------------------------ */
/* THREAD timers: wake-up latency. */

static sem_t irq_sem;
static _Atomic int64_t irq_at;

static void note_irq(void *opaque, uint32_t cpu)
{
    atomic_store(&irq_at, bench_now_ns());
    sem_post(&irq_sem);
}

static int wait_irq(int64_t timeout_ns)
{
    struct timespec ts;
    int rc;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += timeout_ns / 1000000000;
    ts.tv_nsec += timeout_ns % 1000000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    while ((rc = sem_timedwait(&irq_sem, &ts)) != 0 && errno == EINTR)
        ;
    return rc;
}

/*
 * The baseline: a thread blocked in read() on a one-shot timerfd of the same 50 ms, as a
 * timerfd-per-vCPU device waits; latency is the time read() returns minus the deadline.
 */
static int timerfd_latency(int nsamples, double *us)
{
    int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
    struct itimerspec its = { .it_value = { .tv_nsec = 50000000 } };
    uint64_t ticks;

    if (fd < 0)
        return 1;
    for (int s = 0; s < nsamples; s++) {
        int64_t t0 = bench_now_ns();

        if (timerfd_settime(fd, 0, &its, NULL) != 0 || read(fd, &ticks, sizeof(ticks)) < 0) {
            close(fd);
            return 1;
        }
        us[s] = (double)(bench_now_ns() - (t0 + 50000000)) / 1000.0;
    }
    close(fd);
    return 0;
}

static int thread_latency(int quick)
{
    const int nsamples = quick ? 3 : 20;
    const uint32_t load = 50; /* 50 ms at f = 1000 */
    struct vmwdt_config cfg = { .size = sizeof(cfg), .cpu_count = 1,
                                .clock = VMWDT_CLOCK_MONOTONIC, .action = VMWDT_ACTION_IRQ_ONLY,
                                .timers = VMWDT_TIMERS_THREAD };
    struct vmwdt_host_ops ops = { .size = sizeof(ops), .raise_irq = note_irq, .log = bench_log };
    double lat_us[20], base_us[20];
    vmwdt *dev = NULL;

    if (timerfd_latency(nsamples, base_us) != 0)
        return 1;
    sem_init(&irq_sem, 0, 0);
    bench_check(vmwdt_create(&cfg, &ops, &dev), "vmwdt_create");
    bench_write(dev, 0, VMWDT_REG_CLOCK_FREQ_HZ, FREQ);
    bench_write(dev, 0, VMWDT_REG_LOAD_CNT, load);
    for (int s = 0; s < nsamples; s++) {
        int64_t t0 = bench_now_ns();

        /* Enabling (0 -> 1) starts a new window; the deadline is t0 + 50 ms. */
        bench_write(dev, 0, VMWDT_REG_STATUS, 1);
        if (wait_irq(5000000000LL) != 0) {
            fprintf(stderr, "error: no interrupt within 5 s of a 50 ms window\n");
            vmwdt_destroy(dev);
            return 1;
        }
        lat_us[s] = (double)(atomic_load(&irq_at) - (t0 + 50000000)) / 1000.0;
        bench_write(dev, 0, VMWDT_REG_STATUS, 0);
    }
    vmwdt_destroy(dev);
    sem_destroy(&irq_sem);

    printf("\nTHREAD timers: wake-up latency, interrupt time minus deadline "
           "(MONOTONIC, f = 1000, 50 ms windows, %d samples)\n", nsamples);
    printf("%-20s %10s %10s %10s\n", "", "min us", "median us", "max us");
    printf("%-20s %10.1f %10.1f %10.1f\n", "vmwdt worker", bench_min(lat_us, (size_t)nsamples),
           bench_median(lat_us, (size_t)nsamples), bench_max(lat_us, (size_t)nsamples));
    printf("%-20s %10.1f %10.1f %10.1f\n", "timerfd baseline", bench_min(base_us, (size_t)nsamples),
           bench_median(base_us, (size_t)nsamples), bench_max(base_us, (size_t)nsamples));
    if (bench_min(lat_us, (size_t)nsamples) < 0)
        printf("warning: an interrupt came before its deadline\n");
    return 0;
}

int main(int argc, char **argv)
{
    int quick = bench_quick(argc, argv);
    int bad;

    printf("bench_timers: %s mode\n", quick ? "quick" : "full");
    bench_log_quiet = 1;
    bad = external_bench(quick);
    bad |= thread_latency(quick);
    return bad;
}
