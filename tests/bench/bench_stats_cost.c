/*
 * What the ABI 1.1 statistics cost a pet: the same pet timed, side by side in one run, on two
 * builds of the library from the same sources, one with the counters (the library as shipped)
 * and one compiled with WDT_STATS_OFF, which leaves every counter out and changes nothing else.
 * Both are loaded with dlopen(RTLD_LOCAL) by path, so neither can bind the other's symbols.
 *
 * Rounds alternate between the two libraries (A B, then B A, ...) so that a drift in the
 * machine's load falls on both; each figure is the median over the rounds. Two vCPU threads
 * petting two vCPUs of one device at once show whether the counters add contention (they sit
 * in each vCPU's own slot).
 *
 * Wall-clock figures on a shared machine move with its load; instruction counts do not. The
 * second form does N pets on one vCPU of one library and nothing else, for
 * valgrind --tool=callgrind --toggle-collect=vmwdt_mmio_write (user-space instructions per pet;
 * scripts/bench.sh prints them for both libraries).
 *
 * Usage: bench_stats_cost WITH.so WITHOUT.so [--quick]
 *        bench_stats_cost --callgrind LIB.so N
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vmwdt.h"

#define MAX_ROUNDS 31
#define PET_LOAD 80u

struct lib {
    const char *name;
    void *handle;
    int (*create)(const struct vmwdt_config *, const struct vmwdt_host_ops *, vmwdt **);
    void (*destroy)(vmwdt *);
    int (*mmio_write)(vmwdt *, uint64_t, const void *, uint32_t);
    int (*vcpu_stats)(vmwdt *, uint32_t, struct vmwdt_vcpu_stats *);
};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return v[(n - 1) / 2];
}

static void *sym(struct lib *l, const char *name, const char *version)
{
    void *p = dlvsym(l->handle, name, version);
    if (p == NULL) {
        fprintf(stderr, "bench_stats_cost: %s: %s@%s: %s\n", l->name, name, version, dlerror());
        exit(1);
    }
    return p;
}

static void lib_open(struct lib *l, const char *path, const char *name)
{
    l->name = name;
    l->handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (l->handle == NULL) {
        fprintf(stderr, "bench_stats_cost: %s\n", dlerror());
        exit(1);
    }
    *(void **)&l->create = sym(l, "vmwdt_create", "VMWDT_1.0");
    *(void **)&l->destroy = sym(l, "vmwdt_destroy", "VMWDT_1.0");
    *(void **)&l->mmio_write = sym(l, "vmwdt_mmio_write", "VMWDT_1.0");
    /* Optional: --callgrind also measures a 1.0 library, which has no statistics. */
    *(void **)&l->vcpu_stats = dlvsym(l->handle, "vmwdt_vcpu_stats", "VMWDT_1.1");
}

/* Nothing is expected to be logged; a message would be timed with the pets. */
static long logged;
static void quiet_log(void *opaque, int level, const char *msg)
{
    __atomic_add_fetch(&logged, 1, __ATOMIC_RELAXED);
}

static int64_t guest_time(void *opaque, uint32_t cpu)
{
    return now_ns();
}

/* One device of a library, its vCPUs enabled and petted by the threads of a round. */
struct run {
    struct lib *lib;
    vmwdt *dev;
    long pets;
};

struct worker {
    struct run *run;
    uint32_t cpu;
    pthread_barrier_t *start;
    double ns_per_pet;
};

static void pet(struct run *r, uint32_t cpu, long n)
{
    const uint64_t off = (uint64_t)cpu * VMWDT_REG_STRIDE + VMWDT_REG_LOAD_CNT;
    const uint32_t load = PET_LOAD;
    for (long i = 0; i < n; i++)
        if (r->lib->mmio_write(r->dev, off, &load, 4) != 0) {
            fprintf(stderr, "bench_stats_cost: a pet was refused\n");
            exit(1);
        }
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    pthread_barrier_wait(w->start);
    int64_t t0 = now_ns();
    pet(w->run, w->cpu, w->run->pets);
    w->ns_per_pet = (double)(now_ns() - t0) / (double)w->run->pets;
    return NULL;
}

/* One round: nthreads threads pet their own vCPU of r's device r->pets times each. */
static double round_ns(struct run *r, int nthreads)
{
    pthread_t th[2];
    struct worker w[2];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)nthreads);
    for (int t = 0; t < nthreads; t++) {
        w[t] = (struct worker){.run = r, .cpu = (uint32_t)t, .start = &start};
        pthread_create(&th[t], NULL, worker_main, &w[t]);
    }
    double sum = 0;
    for (int t = 0; t < nthreads; t++) {
        pthread_join(th[t], NULL);
        sum += w[t].ns_per_pet;
    }
    pthread_barrier_destroy(&start);
    return sum / nthreads;
}

static vmwdt *make(struct lib *l, uint32_t clock, uint32_t timers)
{
    struct vmwdt_config cfg = {.size = sizeof(cfg), .cpu_count = 2, .clock = clock,
                               .timers = timers};
    struct vmwdt_host_ops ops = {.size = sizeof(ops), .guest_time_ns = guest_time,
                                 .log = quiet_log};
    vmwdt *dev = NULL;
    if (l->create(&cfg, &ops, &dev) != 0) {
        fprintf(stderr, "bench_stats_cost: %s: vmwdt_create failed\n", l->name);
        exit(1);
    }
    /* Enabled with a 13-year window, so that a vCPU no thread pets never expires; each pet
     * then loads the Linux driver's 8 s. */
    const uint32_t f = 10, huge = UINT32_MAX, on = 1;
    for (uint32_t cpu = 0; cpu < 2; cpu++) {
        l->mmio_write(dev, cpu * VMWDT_REG_STRIDE + VMWDT_REG_CLOCK_FREQ_HZ, &f, 4);
        l->mmio_write(dev, cpu * VMWDT_REG_STRIDE + VMWDT_REG_LOAD_CNT, &huge, 4);
        l->mmio_write(dev, cpu * VMWDT_REG_STRIDE + VMWDT_REG_STATUS, &on, 4);
    }
    return dev;
}

static void compare(struct lib *with, struct lib *without, const char *what, uint32_t clock,
                    uint32_t timers, int nthreads, int rounds, long pets)
{
    struct run runs[2] = {{.lib = with, .pets = pets}, {.lib = without, .pets = pets}};
    double ns[2][MAX_ROUNDS];
    for (int i = 0; i < 2; i++)
        runs[i].dev = make(runs[i].lib, clock, timers);
    pet(&runs[0], 0, pets / 4); /* warm both up */
    pet(&runs[1], 0, pets / 4);
    for (int r = 0; r < rounds; r++)
        for (int k = 0; k < 2; k++) {
            int i = (r + k) % 2; /* A B, then B A */
            ns[i][r] = round_ns(&runs[i], nthreads);
        }
    /* The counters counted: every pet of the build with them, none in the other. */
    struct vmwdt_vcpu_stats st[2];
    for (int i = 0; i < 2; i++) {
        st[i] = (struct vmwdt_vcpu_stats){.size = sizeof(st[i])};
        if (runs[i].lib->vcpu_stats == NULL ||
            runs[i].lib->vcpu_stats(runs[i].dev, VMWDT_ALL_CPUS, &st[i]) != 0) {
            fprintf(stderr, "bench_stats_cost: %s: no vmwdt_vcpu_stats\n", runs[i].lib->name);
            exit(1);
        }
    }
    long expect = 2 + pets / 4 + (long)rounds * pets * nthreads; /* + the two initial loads */
    if (st[0].pets != (uint64_t)expect || st[1].pets != 0) {
        fprintf(stderr, "bench_stats_cost: counted %llu and %llu pets, expected %ld and 0\n",
                (unsigned long long)st[0].pets, (unsigned long long)st[1].pets, expect);
        exit(1);
    }
    /* The minimum is the round least disturbed by other processes. */
    double amin = ns[0][0], bmin = ns[1][0];
    for (int r = 1; r < rounds; r++) {
        amin = ns[0][r] < amin ? ns[0][r] : amin;
        bmin = ns[1][r] < bmin ? ns[1][r] : bmin;
    }
    double a = median(ns[0], rounds), b = median(ns[1], rounds);
    printf("%-18s %7d %9.1f %9.1f %+8.1f %+6.1f%% %9.1f %9.1f %+8.1f\n", what, nthreads, b, a,
           a - b, 100.0 * (a - b) / b, bmin, amin, amin - bmin);
    for (int i = 0; i < 2; i++)
        runs[i].lib->destroy(runs[i].dev);
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--callgrind") == 0) {
        struct lib l;
        lib_open(&l, argv[2], argv[2]);
        struct run r = {.lib = &l, .dev = make(&l, VMWDT_CLOCK_HOST, VMWDT_TIMERS_EXTERNAL)};
        pet(&r, 0, atol(argv[3]));
        l.destroy(r.dev);
        return 0;
    }
    if (argc < 3) {
        fprintf(stderr, "usage: bench_stats_cost WITH.so WITHOUT.so [--quick]\n");
        return 2;
    }
    bool quick = argc > 3 && strcmp(argv[3], "--quick") == 0;
    int rounds = quick ? 3 : 31;
    long pets = quick ? 2000 : 100000;
    struct lib with, without;
    lib_open(&with, argv[1], "with counters");
    lib_open(&without, argv[2], "without counters");
    printf("ns per pet (vmwdt_mmio_write of LOAD_CNT), median of %d alternating rounds of %ld "
           "pets per thread\n", rounds, pets);
    printf("%-18s %7s %9s %9s %8s %7s %9s %9s %8s\n", "", "", "median", "", "", "", "minimum",
           "", "");
    printf("%-18s %7s %9s %9s %8s %7s %9s %9s %8s\n", "clock, timers", "threads", "without",
           "with", "diff", "", "without", "with", "diff");
    compare(&with, &without, "HOST, EXTERNAL", VMWDT_CLOCK_HOST, VMWDT_TIMERS_EXTERNAL, 1,
            rounds, pets);
    compare(&with, &without, "MONOTONIC, THREAD", VMWDT_CLOCK_MONOTONIC, VMWDT_TIMERS_THREAD, 1,
            rounds, pets);
    compare(&with, &without, "MONOTONIC, THREAD", VMWDT_CLOCK_MONOTONIC, VMWDT_TIMERS_THREAD, 2,
            rounds, pets);
    if (logged != 0) {
        fprintf(stderr, "bench_stats_cost: the devices logged %ld messages\n", logged);
        return 1;
    }
    return 0;
}
