/*
 * Per-vCPU footprint: what a device with N vCPUs costs the host process, compared with a
 * timerfd-per-vCPU design (crosvm keeps one timerfd per vCPU).
 *
 * Each figure is taken in a fresh child process, so that memory freed by an earlier run does
 * not hide the next one's. A device is created with THREAD timers and the MONOTONIC clock, and
 * every vCPU is enabled with a one-hour window (so the worker has N armed timers). The same is
 * repeated with AUTO, THREAD_CPU and GUEST_TIME, every vCPU's thread named (the calling
 * thread), which is where a clock could hold a resource per vCPU: none may (DESIGN.md section
 * 3: at most 4 descriptors for a device of 4096 vCPUs, whatever its clock). The baseline
 * creates N timerfds and arms each.
 *
 * Each child first runs the measured path once at size 1 (a device with EXTERNAL timers, or
 * one timerfd), so that page faults on shared code are not charged to the measurement. What
 * is left at N = 1 is the fixed cost; the marginal cost per vCPU is the slope between the
 * smallest and the largest N.
 *
 * Reported: resident memory (/proc/self/statm) and C heap (mallinfo2) deltas, total and per vCPU,
 * open descriptors (/proc/self/fd) and threads (/proc/self/task) added, and the kernel's slab
 * memory delta (/proc/meminfo, system-wide, so noisy on a shared machine), which is where
 * timerfds live.
 *
 * The summary checks the goals: descriptors added at the largest N, every clock, at most 4;
 * AUTO's kernel slab per vCPU about 0 (within the noise of a system-wide figure, taken here as
 * 64 bytes per vCPU, against the timerfd baseline's hundreds).
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

/* What the process looks like at one moment, or the difference of two such moments. */
struct usage {
    int64_t rss, heap, slab;
    int64_t fds, threads;
};

enum design { D_VMWDT_MONOTONIC, D_VMWDT_AUTO, D_VMWDT_THREAD_CPU, D_VMWDT_GUEST_TIME,
              D_TIMERFD, D_COUNT };

static const char *const design_names[D_COUNT] = {
    "vmwdt MONOTONIC", "vmwdt AUTO (named)", "vmwdt THREAD_CPU (named)",
    "vmwdt GUEST_TIME (named)", "timerfd per vCPU (crosvm)"
};

/* The clock of each vmwdt design. */
static const uint32_t design_clocks[D_TIMERFD] = {
    VMWDT_CLOCK_MONOTONIC, VMWDT_CLOCK_AUTO, VMWDT_CLOCK_THREAD_CPU, VMWDT_CLOCK_GUEST_TIME
};

/* Goals of DESIGN.md section 3 and issue 9. */
#define GOAL_FDS 4
#define GOAL_SLAB_NOISE 64.0

/* Call twice before measuring: the first call's own first touches (stdio, opendir) show in RSS. */
static struct usage take_usage(void)
{
    struct usage u = { bench_rss_bytes(), bench_heap_bytes(), bench_kernel_slab_bytes(),
                       bench_count_dir("/proc/self/fd"), bench_count_dir("/proc/self/task") };

    return u;
}

static struct usage usage_delta(const struct usage *a, const struct usage *b)
{
    struct usage d = { b->rss - a->rss, b->heap - a->heap, b->slab - a->slab,
                       b->fds - a->fds, b->threads - a->threads };

    return d;
}

static void print_row(enum design d, uint32_t n, const struct usage *u)
{
    printf("%-26s %5u %9.0f %9.1f %9.0f %9.1f %6lld %4lld %9.0f %9.1f\n", design_names[d], n,
           (double)u->rss / 1024, (double)u->rss / n, (double)u->heap / 1024,
           (double)u->heap / n, (long long)u->fds, (long long)u->threads,
           (double)u->slab / 1024, (double)u->slab / n);
}

static vmwdt *make_device(uint32_t n, uint32_t clock, uint32_t timers)
{
    struct vmwdt_config cfg = { .size = sizeof(cfg), .cpu_count = n, .clock = clock,
                                .timers = timers };
    struct vmwdt_host_ops ops = { .size = sizeof(ops), .log = bench_log };
    vmwdt *dev = NULL;

    bench_check(vmwdt_create(&cfg, &ops, &dev), "vmwdt_create");
    return dev;
}

/* Names the calling thread for every vCPU (clocks that use it) and enables each with a 1-hour
 * window. */
static void enable_all(vmwdt *dev, uint32_t n, uint32_t clock)
{
    int32_t pid = getpid(), tid = bench_gettid();

    for (uint32_t cpu = 0; cpu < n; cpu++) {
        if (clock != VMWDT_CLOCK_MONOTONIC && clock != VMWDT_CLOCK_HOST)
            bench_check(vmwdt_set_vcpu_thread(dev, cpu, pid, tid), "vmwdt_set_vcpu_thread");
        bench_enable(dev, cpu, 1, 3600);
    }
}

/* The library: a device of n vCPUs with THREAD timers, every vCPU enabled. */
static struct usage measure_device(uint32_t n, uint32_t clock)
{
    struct usage before, after;
    vmwdt *dev;

    /* Warm-up without a worker thread, so that no thread stack is cached for the real one. */
    dev = make_device(1, clock, VMWDT_TIMERS_EXTERNAL);
    enable_all(dev, 1, clock);
    vmwdt_destroy(dev);

    take_usage();
    before = take_usage();
    dev = make_device(n, clock, VMWDT_TIMERS_THREAD);
    enable_all(dev, n, clock);
    /* Let the lazily started worker come up and arm its timer before looking. */
    usleep(50000);
    after = take_usage();
    vmwdt_destroy(dev);
    return usage_delta(&before, &after);
}

/* Creates n timerfds, each armed for an hour, as a timerfd-per-vCPU device holds them. */
static int open_timerfds(int *fds, uint32_t n)
{
    struct itimerspec its = { .it_value = { .tv_sec = 3600 } };

    for (uint32_t i = 0; i < n; i++) {
        fds[i] = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
        if (fds[i] < 0 || timerfd_settime(fds[i], 0, &its, NULL) != 0) {
            perror("timerfd");
            exit(1);
        }
    }
    return 0;
}

static struct usage measure_timerfds(uint32_t n)
{
    struct usage before, after;
    int *fds = malloc(n * sizeof(*fds));

    if (!fds)
        exit(1);
    open_timerfds(fds, 1);
    close(fds[0]);
    take_usage();
    before = take_usage();
    open_timerfds(fds, n);
    after = take_usage();
    for (uint32_t i = 0; i < n; i++)
        close(fds[i]);
    free(fds);
    return usage_delta(&before, &after);
}

/* Measures design d at size n in a child process; returns nonzero when the child failed. */
static int one_child(enum design d, uint32_t n, struct usage *out)
{
    int pipefd[2], status;
    pid_t pid;

    if (pipe(pipefd) != 0)
        return 1;
    fflush(stdout);
    pid = fork();
    if (pid < 0)
        return 1;
    if (pid == 0) {
        struct usage u;

        close(pipefd[0]);
        if (d == D_TIMERFD)
            u = measure_timerfds(n);
        else
            u = measure_device(n, design_clocks[d]);
        _exit(write(pipefd[1], &u, sizeof(u)) == (ssize_t)sizeof(u) ? 0 : 1);
    }
    close(pipefd[1]);
    status = read(pipefd[0], out, sizeof(*out)) == (ssize_t)sizeof(*out) ? 0 : 1;
    close(pipefd[0]);
    {
        int ws;

        if (waitpid(pid, &ws, 0) < 0 || !WIFEXITED(ws) || WEXITSTATUS(ws) != 0)
            status = 1;
    }
    return status;
}

static int64_t median3(int64_t a, int64_t b, int64_t c)
{
    return a > b ? (b > c ? b : (a > c ? c : a)) : (a > c ? a : (b > c ? c : b));
}

/*
 * Three children per figure, field by field median: the slab figure is system-wide and moves
 * with whatever else the machine does.
 */
static int in_child(enum design d, uint32_t n, struct usage *out)
{
    struct usage r[3];

    for (int i = 0; i < 3; i++)
        if (one_child(d, n, &r[i]) != 0)
            return 1;
    out->rss = median3(r[0].rss, r[1].rss, r[2].rss);
    out->heap = median3(r[0].heap, r[1].heap, r[2].heap);
    out->slab = median3(r[0].slab, r[1].slab, r[2].slab);
    out->fds = median3(r[0].fds, r[1].fds, r[2].fds);
    out->threads = median3(r[0].threads, r[1].threads, r[2].threads);
    return 0;
}

static void print_header(void)
{
    printf("%-26s %5s %9s %9s %9s %9s %6s %4s %9s %9s\n", "design", "vCPUs", "RSS KiB",
           "B/vCPU", "heap KiB", "B/vCPU", "fds", "thr", "slab KiB", "B/vCPU");
}

/* Marginal cost per vCPU between the smallest and the largest size. */
static void print_slopes(const struct usage first[D_COUNT], const struct usage last[D_COUNT],
                         uint32_t n0, uint32_t n1)
{
    printf("\nMarginal cost per vCPU (%u vs %u vCPUs; fixed costs cancel out)\n", n1, n0);
    printf("%-26s %12s %12s %10s %12s\n", "design", "RSS B/vCPU", "heap B/vCPU", "fds/vCPU",
           "slab B/vCPU");
    for (int d = 0; d < D_COUNT; d++) {
        double k = (double)(n1 - n0);

        printf("%-26s %12.1f %12.1f %10.3f %12.1f\n", design_names[d],
               (double)(last[d].rss - first[d].rss) / k, (double)(last[d].heap - first[d].heap) / k,
               (double)(last[d].fds - first[d].fds) / k, (double)(last[d].slab - first[d].slab) / k);
    }
}

/* The goals against the figures measured above; returns 0 (goals are reported, not enforced). */
static int print_goals(const struct usage first[D_COUNT], const struct usage last[D_COUNT],
                       uint32_t n0, uint32_t n1)
{
    double k = (double)(n1 - n0);
    double auto_slab = (double)(last[D_VMWDT_AUTO].slab - first[D_VMWDT_AUTO].slab) / k;
    double fd_slab = (double)(last[D_TIMERFD].slab - first[D_TIMERFD].slab) / k;

    printf("\nGoals (%u vCPUs, every vCPU's thread named and enabled)\n", n1);
    for (int d = 0; d < D_TIMERFD; d++)
        printf("  %-26s descriptors added %4lld (goal <= %d) %s\n", design_names[d],
               (long long)last[d].fds, GOAL_FDS, last[d].fds <= GOAL_FDS ? "met" : "NOT MET");
    printf("  %-26s kernel slab %7.1f B/vCPU (goal ~0, within %.0f; timerfd per vCPU: %.1f) "
           "%s\n", design_names[D_VMWDT_AUTO], auto_slab, GOAL_SLAB_NOISE, fd_slab,
           auto_slab < GOAL_SLAB_NOISE && auto_slab > -GOAL_SLAB_NOISE ? "met" : "NOT MET");
    return 0;
}

int main(int argc, char **argv)
{
    static const uint32_t full[] = { 1, 64, 1024, 4096 };
    static const uint32_t small[] = { 1, 64 };
    int quick = bench_quick(argc, argv);
    const uint32_t *sizes = quick ? small : full;
    size_t nsizes = quick ? 2 : 4;
    long limit = bench_raise_fd_limit();
    struct usage first[D_COUNT], last[D_COUNT], u;

    printf("bench_footprint: %s mode; descriptor limit %ld; page size %ld\n",
           quick ? "quick" : "full", limit, sysconf(_SC_PAGESIZE));
    if ((long)sizes[nsizes - 1] + 64 > limit) {
        printf("descriptor limit too low for %u timerfds\n", sizes[nsizes - 1]);
        return 77;
    }
    printf("Deltas after create + enabling every vCPU (THREAD timers, 1-hour windows); "
           "median of 3 runs; slab is system-wide\n");
    print_header();
    for (size_t i = 0; i < nsizes; i++) {
        for (int d = 0; d < D_COUNT; d++) {
            if (in_child((enum design)d, sizes[i], &u) != 0) {
                fprintf(stderr, "error: measuring %s at %u vCPUs failed\n", design_names[d],
                        sizes[i]);
                return 1;
            }
            print_row((enum design)d, sizes[i], &u);
            if (i == 0)
                first[d] = u;
            last[d] = u;
        }
    }
    print_slopes(first, last, sizes[0], sizes[nsizes - 1]);
    return print_goals(first, last, sizes[0], sizes[nsizes - 1]);
}
