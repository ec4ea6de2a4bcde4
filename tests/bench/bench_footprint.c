/*
 * Per-vCPU footprint: what a device with N vCPUs costs the host process, compared with a
 * timerfd-per-vCPU design (crosvm keeps one timerfd per vCPU).
 *
 * Each figure is taken in a fresh child process, so that memory freed by an earlier run does
 * not hide the next one's. A device is created with THREAD timers and the MONOTONIC clock, and
 * every vCPU is enabled with a one-hour window (so the worker has N armed timers). The same is
 * repeated with GUEST_TIME and every vCPU's thread named, which is where the library keeps one
 * /proc descriptor per vCPU. The baseline creates N timerfds and arms each.
 *
 * Reported: resident memory (/proc/self/statm) and C heap (mallinfo2) deltas, total and per vCPU,
 * open descriptors (/proc/self/fd) and threads (/proc/self/task) added, and the kernel's slab
 * memory delta (/proc/meminfo, system-wide, so noisy on a shared machine), which is where
 * timerfds live.
 *
 * Usage: bench_footprint [--quick]
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_util.h"

/* What the process looks like at one moment. */
struct usage {
    int64_t rss, heap, slab;
    int fds, threads;
};

static struct usage take_usage(void)
{
    struct usage u = { bench_rss_bytes(), bench_heap_bytes(), bench_kernel_slab_bytes(),
                       bench_count_dir("/proc/self/fd"), bench_count_dir("/proc/self/task") };

    return u;
}

static void print_row(const char *what, uint32_t n, const struct usage *a, const struct usage *b)
{
    double rss = (double)(b->rss - a->rss), heap = (double)(b->heap - a->heap);
    double slab = (double)(b->slab - a->slab);

    printf("%-26s %5u %10.0f %8.1f %10.0f %8.1f %6d %5d %10.0f %8.1f\n", what, n, rss / 1024,
           rss / n, heap / 1024, heap / n, b->fds - a->fds, b->threads - a->threads,
           slab / 1024, slab / n);
}

/*
 * Faults in the library's code and the C heap's first arena pages with a one-vCPU device that
 * has no worker thread, so that the figures show the device's cost rather than first touches.
 */
static void warm_up(uint32_t clock)
{
    struct vmwdt_config cfg = { .size = sizeof(cfg), .cpu_count = 1, .clock = clock,
                                .timers = VMWDT_TIMERS_EXTERNAL };
    struct vmwdt_host_ops ops = { .size = sizeof(ops), .log = bench_log };
    vmwdt *dev = NULL;

    bench_check(vmwdt_create(&cfg, &ops, &dev), "vmwdt_create");
    if (clock == VMWDT_CLOCK_GUEST_TIME)
        bench_check(vmwdt_set_vcpu_thread(dev, 0, getpid(), bench_gettid()), "set_vcpu_thread");
    bench_enable(dev, 0, 1, 3600);
    vmwdt_destroy(dev);
}

/* The library: a device of n vCPUs, every vCPU enabled with a long window. */
static int measure_device(uint32_t n, uint32_t clock)
{
    struct vmwdt_config cfg = { .size = sizeof(cfg), .cpu_count = n, .clock = clock,
                                .timers = VMWDT_TIMERS_THREAD };
    struct vmwdt_host_ops ops = { .size = sizeof(ops), .log = bench_log };
    int32_t pid = getpid(), tid = bench_gettid();
    struct usage before, after;
    vmwdt *dev = NULL;
    char name[40];

    warm_up(clock);
    before = take_usage();
    bench_check(vmwdt_create(&cfg, &ops, &dev), "vmwdt_create");
    for (uint32_t cpu = 0; cpu < n; cpu++) {
        if (clock == VMWDT_CLOCK_GUEST_TIME)
            bench_check(vmwdt_set_vcpu_thread(dev, cpu, pid, tid), "vmwdt_set_vcpu_thread");
        bench_enable(dev, cpu, 1, 3600);
    }
    /* Let the lazily started worker come up and arm its timer before looking. */
    usleep(50000);
    after = take_usage();
    snprintf(name, sizeof(name), "vmwdt %s", bench_clock_name(clock));
    print_row(name, n, &before, &after);
    vmwdt_destroy(dev);
    return 0;
}

/* The baseline: n timerfds, each armed for an hour, as a timerfd-per-vCPU device holds them. */
static int measure_timerfds(uint32_t n)
{
    struct itimerspec its = { .it_value = { .tv_sec = 3600 } };
    struct usage before, after;
    int *fds = malloc(n * sizeof(*fds));

    if (!fds)
        return 1;
    before = take_usage();
    for (uint32_t i = 0; i < n; i++) {
        fds[i] = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
        if (fds[i] < 0 || timerfd_settime(fds[i], 0, &its, NULL) != 0) {
            perror("timerfd");
            return 1;
        }
    }
    after = take_usage();
    /* The fds array itself is the caller's bookkeeping, not the timerfds' cost. */
    after.heap -= (int64_t)(n * sizeof(*fds));
    print_row("timerfd per vCPU (crosvm)", n, &before, &after);
    for (uint32_t i = 0; i < n; i++)
        close(fds[i]);
    free(fds);
    return 0;
}

/* Runs fn(n, clock) in a child process; returns nonzero when the child failed. */
static int in_child(int (*fn)(uint32_t, uint32_t), uint32_t n, uint32_t clock)
{
    int status;
    pid_t pid;

    fflush(stdout);
    pid = fork();
    if (pid < 0) {
        perror("fork");
        return 1;
    }
    if (pid == 0) {
        int rc = fn(n, clock);

        fflush(stdout);
        _exit(rc);
    }
    if (waitpid(pid, &status, 0) < 0)
        return 1;
    return !WIFEXITED(status) || WEXITSTATUS(status) != 0;
}

static int timerfd_child(uint32_t n, uint32_t unused)
{
    return measure_timerfds(n);
}

int main(int argc, char **argv)
{
    static const uint32_t full[] = { 1, 64, 1024, 4096 };
    static const uint32_t small[] = { 1, 64 };
    int quick = bench_quick(argc, argv);
    const uint32_t *sizes = quick ? small : full;
    size_t nsizes = quick ? 2 : 4;
    long limit = bench_raise_fd_limit();
    int bad = 0;

    printf("bench_footprint: %s mode; descriptor limit %ld; page size %ld\n",
           quick ? "quick" : "full", limit, sysconf(_SC_PAGESIZE));
    printf("Deltas after create + enabling every vCPU (THREAD timers, 1-hour windows); "
           "slab is system-wide\n");
    printf("%-26s %5s %10s %8s %10s %8s %6s %5s %10s %8s\n", "design", "vCPUs", "RSS KiB",
           "B/vCPU", "heap KiB", "B/vCPU", "fds", "thr", "slab KiB", "B/vCPU");
    for (size_t i = 0; i < nsizes; i++) {
        uint32_t n = sizes[i];

        bad |= in_child(measure_device, n, VMWDT_CLOCK_MONOTONIC);
        if ((long)n + 64 < limit)
            bad |= in_child(measure_device, n, VMWDT_CLOCK_GUEST_TIME);
        if ((long)n + 64 < limit)
            bad |= in_child(timerfd_child, n, 0);
        else
            printf("%-26s %5u (descriptor limit %ld too low)\n", "timerfd per vCPU", n, limit);
    }
    return bad;
}
