/*
 * Pet and read cost through the public ABI, compared with what crosvm does per pet.
 *
 * A pet is vmwdt_mmio_write(LOAD_CNT), the write the Linux driver's hrtimer makes every
 * timeout/2 on every vCPU. It is timed for the HOST, MONOTONIC, AUTO, THREAD_CPU and GUEST_TIME
 * clocks, with THREAD and EXTERNAL timers, on one thread and on two threads petting two vCPUs of
 * the same device at once (each vCPU has its own lock, so the per-op figures should match).
 * AUTO runs without a host guest_time_ns callback, so it measures the named thread's CPU time.
 * GUEST_TIME is timed twice: petting one vCPU, whose /proc stat descriptor stays in the
 * device's cache, and petting 8 vCPUs in turn, whose readings evict each other from it, so that
 * every reading opens, reads and closes the stat file.
 *
 * The library's earlier GUEST_TIME pet (the seed's) opened, read to the end and closed the
 * vCPU thread's stat file on every pet; that read is timed here too, as the baseline of both
 * GUEST_TIME figures.
 *
 * The baseline is crosvm's pet (devices/src/vmwdt.rs): open /proc/<pid>/task/<tid>/stat, read
 * it to the end, close it, parse guest_time, take the device mutex and re-arm the vCPU's timerfd
 * with timerfd_settime. It is measured in this program, on this machine, next to its parts.
 *
 * Usage: bench_pet [--quick]
 *        bench_pet --callgrind {HOST|MONOTONIC|THREAD_CPU|GUEST_TIME|crosvm} {pet|read} N
 * The second form does N operations on one vCPU and nothing else, for
 * valgrind --tool=callgrind --toggle-collect=<the function> (instructions per operation).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"

#define PET_FREQ 10u
#define PET_LOAD 80u   /* 8 s at 10 Hz: the Linux driver's default; never expires here. */
#define MAX_ROUNDS 7
#define ROUND_CPUS 8   /* vCPUs one thread pets in turn in OP_PET_ROUND */

enum op {
    OP_PET,          /* vmwdt_mmio_write(LOAD_CNT) */
    OP_PET_ROUND,    /* the same on ROUND_CPUS vCPUs in turn */
    OP_READ_CURRENT, /* vmwdt_mmio_read(CURRENT_CNT) */
    OP_READ_STATUS,  /* vmwdt_mmio_read(STATUS) */
    OP_CROSVM_PET,   /* the crosvm pet re-created below */
    OP_STAT_OPEN,    /* open/read/close/parse of the stat file only */
    OP_STAT_PREAD,   /* pread/parse of a stat file kept open (a cache hit) */
    OP_STAT_OPEN_PREAD, /* open/pread/close/parse (a cache miss) */
    OP_TIMERFD       /* timerfd_settime only */
};

/* Run parameters: fixed in --quick mode, else calibrated to about 100 ms per round. */
static bool quick;
static int rounds = 5;

/* ------------------------------------------------------------------------------------------ */
/* The crosvm baseline. */

/* crosvm's per-vCPU watchdog state, as far as a pet touches it. */
struct crosvm_wdt {
    int32_t pid, tid;
    int timerfd;
    bool is_enabled;
    uint64_t timer_freq_hz;
    int64_t last_guest_time_ms;
    uint64_t next_expiration_interval_ms;
};

static pthread_mutex_t crosvm_lock = PTHREAD_MUTEX_INITIALIZER;

/* Field 43 (guest_time, USER_HZ ticks) of a stat line: counted after the last ')'. */
static long long parse_guest_time(const char *buf)
{
    const char *p = strrchr(buf, ')');
    int field = 2; /* p points at the end of field 2 (comm). */

    if (!p)
        return -1;
    while (*p && field < 43) {
        if (*p == ' ') {
            field++;
            while (*p == ' ')
                p++;
            continue;
        }
        p++;
    }
    return field == 43 ? strtoll(p, NULL, 10) : -1;
}

/* crosvm's get_guest_time: a fresh open/read-to-end/close of the stat file per call. */
static long long stat_open_read(int32_t pid, int32_t tid)
{
    char path[64], buf[1024];
    ssize_t len = 0, n;
    int fd;

    snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)pid, (int)tid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    /* read_to_string reads until a read returns 0: two read calls for a short file. */
    while ((n = read(fd, buf + len, sizeof(buf) - 1 - (size_t)len)) > 0)
        len += n;
    close(fd);
    buf[len] = '\0';
    return parse_guest_time(buf);
}

/* The library's way: one descriptor kept open per vCPU, read with pread at offset 0. */
static long long stat_pread(int fd)
{
    char buf[1024];
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

    if (n <= 0)
        return -1;
    buf[n] = '\0';
    return parse_guest_time(buf);
}

/* A cache miss of the library: a descriptor opened for one pread. */
static long long stat_open_pread(int32_t pid, int32_t tid)
{
    char path[64];
    long long v;
    int fd;

    snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)pid, (int)tid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    v = stat_pread(fd);
    close(fd);
    return v;
}

static int timerfd_arm_ms(int fd, uint64_t ms)
{
    struct itimerspec its = { 0 };

    its.it_value.tv_sec = (time_t)(ms / 1000);
    its.it_value.tv_nsec = (long)(ms % 1000) * 1000000;
    return timerfd_settime(fd, 0, &its, NULL);
}

/* One crosvm pet (VMWDT_REG_LOAD_CNT write). Not inlined, so that callgrind can count it. */
__attribute__((noinline)) static int crosvm_pet(struct crosvm_wdt *w, uint32_t reg_val)
{
    long long ticks = stat_open_read(w->pid, w->tid);
    long hz = sysconf(_SC_CLK_TCK);
    int err = 0;

    if (ticks < 0)
        return -1;
    pthread_mutex_lock(&crosvm_lock);
    w->last_guest_time_ms = ticks * 1000 / hz;
    w->next_expiration_interval_ms = (uint64_t)reg_val * 1000 / w->timer_freq_hz;
    if (w->is_enabled)
        err = timerfd_arm_ms(w->timerfd, w->next_expiration_interval_ms);
    pthread_mutex_unlock(&crosvm_lock);
    return err;
}

/* ------------------------------------------------------------------------------------------ */
/* The library under test. */

static int64_t host_guest_time(void *opaque, uint32_t cpu)
{
    /* A trivial HOST clock: the cost measured is the library's, not the host's accounting. */
    return 0;
}

static vmwdt *make_device(uint32_t clock, uint32_t timers, uint32_t cpus)
{
    struct vmwdt_config cfg = { .size = sizeof(cfg), .cpu_count = cpus, .clock = clock,
                                .action = VMWDT_ACTION_IRQ_THEN_RESET, .timers = timers };
    /* Only HOST gets the callback: with it, AUTO would measure with it too. */
    struct vmwdt_host_ops ops = { .size = sizeof(ops), .log = bench_log,
                                  .guest_time_ns = clock == VMWDT_CLOCK_HOST ? host_guest_time
                                                                             : NULL };
    vmwdt *dev = NULL;

    bench_check(vmwdt_create(&cfg, &ops, &dev), "vmwdt_create");
    return dev;
}

static bool clock_needs_thread(uint32_t clock)
{
    return clock == VMWDT_CLOCK_GUEST_TIME || clock == VMWDT_CLOCK_THREAD_CPU ||
           clock == VMWDT_CLOCK_AUTO;
}

/* ------------------------------------------------------------------------------------------ */
/* Timing. */

/* What one thread measures: op on vCPU cpu of dev (or its own crosvm state). */
struct job {
    enum op op;
    vmwdt *dev;
    uint32_t clock;
    uint32_t cpu;
    pthread_barrier_t *barrier;
    struct crosvm_wdt crosvm;
    int stat_fd;
    long iters;
    double ns_per_op; /* wall-clock time, median over rounds */
    double cpu_ns;    /* the thread's CPU time, median over rounds */
    int failed;
};

/* Does n operations; returns how many failed. */
static long run_ops(struct job *j, long n)
{
    const uint64_t off_load = (uint64_t)j->cpu * VMWDT_REG_STRIDE + VMWDT_REG_LOAD_CNT;
    const uint64_t off_cur = (uint64_t)j->cpu * VMWDT_REG_STRIDE + VMWDT_REG_CURRENT_CNT;
    const uint64_t off_status = (uint64_t)j->cpu * VMWDT_REG_STRIDE + VMWDT_REG_STATUS;
    const uint32_t load = PET_LOAD;
    uint32_t val;
    long bad = 0;

    for (long i = 0; i < n; i++) {
        switch (j->op) {
        case OP_PET:
            bad += vmwdt_mmio_write(j->dev, off_load, &load, 4) != 0;
            break;
        case OP_PET_ROUND: {
            /* vCPUs cpu, cpu + 2, ...: the other thread of a 2-thread run pets the others. */
            uint64_t cpu = (uint64_t)j->cpu + 2 * (uint64_t)(i % ROUND_CPUS);
            bad += vmwdt_mmio_write(j->dev, cpu * VMWDT_REG_STRIDE + VMWDT_REG_LOAD_CNT, &load,
                                    4) != 0;
            break;
        }
        case OP_READ_CURRENT:
            bad += vmwdt_mmio_read(j->dev, off_cur, &val, 4) != 0;
            break;
        case OP_READ_STATUS:
            bad += vmwdt_mmio_read(j->dev, off_status, &val, 4) != 0;
            break;
        case OP_CROSVM_PET:
            bad += crosvm_pet(&j->crosvm, PET_LOAD) != 0;
            break;
        case OP_STAT_OPEN:
            bad += stat_open_read(j->crosvm.pid, j->crosvm.tid) < 0;
            break;
        case OP_STAT_PREAD:
            bad += stat_pread(j->stat_fd) < 0;
            break;
        case OP_STAT_OPEN_PREAD:
            bad += stat_open_pread(j->crosvm.pid, j->crosvm.tid) < 0;
            break;
        case OP_TIMERFD:
            bad += timerfd_arm_ms(j->crosvm.timerfd, 8000) != 0;
            break;
        }
    }
    return bad;
}

/* Picks an iteration count that makes a round last about 100 ms. */
static long calibrate(struct job *j)
{
    long n = 1000;
    int64_t t0, dt;

    if (quick)
        return 200;
    for (;;) {
        t0 = bench_now_ns();
        run_ops(j, n);
        dt = bench_now_ns() - t0;
        if (dt > 20000000 || n > 100000000)
            break;
        n *= 4;
    }
    return (long)((double)n * 100e6 / (double)(dt > 0 ? dt : 1)) + 1;
}

/* Per-thread set-up that must run on the measuring thread (its tid names the vCPU thread). */
static void job_setup(struct job *j)
{
    int32_t pid = getpid(), tid = bench_gettid();
    char path[64];

    j->crosvm = (struct crosvm_wdt){ .pid = pid, .tid = tid, .is_enabled = true,
                                     .timer_freq_hz = PET_FREQ };
    j->crosvm.timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
    snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)pid, (int)tid);
    j->stat_fd = open(path, O_RDONLY | O_CLOEXEC);
    if (j->crosvm.timerfd < 0 || j->stat_fd < 0) {
        perror("timerfd_create or open stat");
        exit(1);
    }
    if (j->dev) {
        uint32_t n = j->op == OP_PET_ROUND ? ROUND_CPUS : 1;

        for (uint32_t k = 0; k < n; k++) {
            uint32_t cpu = j->cpu + 2 * k;

            if (clock_needs_thread(j->clock))
                bench_check(vmwdt_set_vcpu_thread(j->dev, cpu, pid, tid),
                            "vmwdt_set_vcpu_thread");
            bench_enable(j->dev, cpu, PET_FREQ, PET_LOAD);
        }
    }
}

/*
 * The calling thread's CPU time. On a shared machine two threads may end up time-sharing one
 * core, which doubles their wall-clock time per operation but not their CPU time; a real
 * contention (a shared lock or cache line) raises both.
 */
static int64_t thread_cpu_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void *job_thread(void *arg)
{
    struct job *j = arg;
    double wall[MAX_ROUNDS], cpu[MAX_ROUNDS];

    job_setup(j);
    j->iters = calibrate(j);
    for (int r = 0; r < rounds; r++) {
        int64_t t0, c0;

        /* The threads of a run start every round together, so that their rounds overlap. */
        pthread_barrier_wait(j->barrier);
        c0 = thread_cpu_ns();
        t0 = bench_now_ns();
        j->failed += run_ops(j, j->iters) != 0;
        wall[r] = (double)(bench_now_ns() - t0) / (double)j->iters;
        cpu[r] = (double)(thread_cpu_ns() - c0) / (double)j->iters;
    }
    j->ns_per_op = bench_median(wall, (size_t)rounds);
    j->cpu_ns = bench_median(cpu, (size_t)rounds);
    close(j->crosvm.timerfd);
    close(j->stat_fd);
    return NULL;
}

/* Runs op on nthreads threads at once (vCPUs 0 and 1 of one device); fills out[]. */
static void measure(enum op op, uint32_t clock, uint32_t timers, int nthreads, struct job *out)
{
    pthread_t th[2];
    pthread_barrier_t barrier;
    vmwdt *dev = NULL;

    if (op == OP_PET || op == OP_READ_CURRENT || op == OP_READ_STATUS)
        dev = make_device(clock, timers, 2);
    else if (op == OP_PET_ROUND)
        dev = make_device(clock, timers, 2 * ROUND_CPUS);
    pthread_barrier_init(&barrier, NULL, (unsigned)nthreads);
    for (int t = 0; t < nthreads; t++) {
        out[t] = (struct job){ .op = op, .dev = dev, .clock = clock, .cpu = (uint32_t)t,
                               .barrier = &barrier };
        if (pthread_create(&th[t], NULL, job_thread, &out[t]) != 0) {
            perror("pthread_create");
            exit(1);
        }
    }
    for (int t = 0; t < nthreads; t++)
        pthread_join(th[t], NULL);
    pthread_barrier_destroy(&barrier);
    vmwdt_destroy(dev);
    for (int t = 0; t < nthreads; t++) {
        if (out[t].failed) {
            fprintf(stderr, "error: an operation failed during the measurement\n");
            exit(1);
        }
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Tables. */

static const uint32_t clocks[] = { VMWDT_CLOCK_HOST, VMWDT_CLOCK_MONOTONIC, VMWDT_CLOCK_AUTO,
                                   VMWDT_CLOCK_THREAD_CPU, VMWDT_CLOCK_GUEST_TIME };
#define NCLOCKS (sizeof(clocks) / sizeof(clocks[0]))

static const char *timers_name(uint32_t timers)
{
    return timers == VMWDT_TIMERS_THREAD ? "THREAD" : "EXTERNAL";
}

/* The 1-thread CPU-time median of the last row. */
static double row_cpu;

/* One row: 1 thread, then 2 threads side by side. Returns the 1-thread median. */
static double row(const char *name, const char *timers, enum op op, uint32_t clock,
                  uint32_t timer_mode)
{
    struct job one[1], two[2];

    measure(op, clock, timer_mode, 1, one);
    measure(op, clock, timer_mode, 2, two);
    printf("%-34s %-9s %8.1f %8.1f  %8.1f %8.1f  %8.1f %8.1f\n", name, timers,
           one[0].ns_per_op, one[0].cpu_ns, two[0].ns_per_op, two[1].ns_per_op, two[0].cpu_ns,
           two[1].cpu_ns);
    fflush(stdout);
    row_cpu = one[0].cpu_ns;
    return one[0].ns_per_op;
}

static void header(const char *title)
{
    printf("\n%s\n", title);
    printf("%-34s %-9s %8s %8s  %8s %8s  %8s %8s\n", "", "", "1 thread", "", "2 threads",
           "wall", "2 threads", "CPU");
    printf("%-34s %-9s %8s %8s  %8s %8s  %8s %8s\n", "operation / clock", "timers", "wall",
           "CPU", "#0", "#1", "#0", "#1");
}

/* A 1-thread figure: wall-clock and CPU time per operation. */
struct fig {
    double wall, cpu;
};

/* The figures the summary compares (1 thread, THREAD timers). */
struct pet_figures {
    struct fig clock[VMWDT_CLOCK_HOST + 1];
    struct fig guest_miss; /* GUEST_TIME, 8 vCPUs in turn: every reading a cache miss */
    struct fig crosvm;     /* crosvm's pet */
    struct fig seed_read;  /* open/read-to-end/close + parse: the seed's per-pet read */
    struct fig miss_read;  /* open/pread/close + parse: a cache miss's read */
    struct fig hit_read;   /* pread + parse: a cache hit's read */
};

/* row() as a struct fig. */
static struct fig frow(const char *name, const char *timers, enum op op, uint32_t clock,
                       uint32_t timer_mode)
{
    struct fig f;

    f.wall = row(name, timers, op, clock, timer_mode);
    f.cpu = row_cpu;
    return f;
}

static void pet_table(struct pet_figures *f)
{
    char name[64];

    header("Pet cost: vmwdt_mmio_write(LOAD_CNT), ns/op, median of rounds, wall-clock and "
           "thread CPU time\n(2 threads: vCPUs 0 and 1 of one device petted at once, each "
           "thread's own figures)");
    for (uint32_t t = 0; t < 2; t++) {
        for (size_t c = 0; c < NCLOCKS; c++) {
            struct fig v;

            snprintf(name, sizeof(name), "pet %s", bench_clock_name(clocks[c]));
            v = frow(name, timers_name(t), OP_PET, clocks[c], t);
            if (t == VMWDT_TIMERS_THREAD)
                f->clock[clocks[c]] = v;
        }
    }
    f->guest_miss = frow("pet GUEST_TIME, 8 vCPUs in turn", "THREAD", OP_PET_ROUND,
                        VMWDT_CLOCK_GUEST_TIME, VMWDT_TIMERS_THREAD);
    header("Baselines: the seed's per-pet /proc read, crosvm's pet re-created here, and their "
           "parts, ns/op");
    f->seed_read = frow("seed: open/read/close stat + parse", "-", OP_STAT_OPEN, 0, 0);
    f->crosvm = frow("crosvm pet (stat+parse+settime)", "timerfd", OP_CROSVM_PET, 0, 0);
    f->miss_read = frow("  open/pread/close stat + parse", "-", OP_STAT_OPEN_PREAD, 0, 0);
    f->hit_read = frow("  pread kept-open stat + parse", "-", OP_STAT_PREAD, 0, 0);
    row("  timerfd_settime", "-", OP_TIMERFD, 0, 0);
}

static void read_table(void)
{
    char name[64];

    header("Read cost: vmwdt_mmio_read, ns/op (THREAD timers, vCPU enabled and counting)");
    for (size_t c = 0; c < NCLOCKS; c++) {
        snprintf(name, sizeof(name), "read CURRENT_CNT %s", bench_clock_name(clocks[c]));
        row(name, "THREAD", OP_READ_CURRENT, clocks[c], VMWDT_TIMERS_THREAD);
    }
    for (size_t c = 0; c < NCLOCKS; c++) {
        snprintf(name, sizeof(name), "read STATUS %s", bench_clock_name(clocks[c]));
        row(name, "THREAD", OP_READ_STATUS, clocks[c], VMWDT_TIMERS_THREAD);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Callgrind mode: N operations on the main thread and nothing else worth counting. */

static int callgrind_mode(const char *what, const char *opname, long n)
{
    struct job j = { .op = strcmp(opname, "read") == 0 ? OP_READ_CURRENT : OP_PET };
    uint32_t clock = 0;

    if (strcmp(what, "crosvm") == 0) {
        j.op = OP_CROSVM_PET;
    } else {
        for (clock = 0; clock <= VMWDT_CLOCK_HOST; clock++)
            if (strcmp(what, bench_clock_name(clock)) == 0)
                break;
        if (clock > VMWDT_CLOCK_HOST) {
            fprintf(stderr, "unknown clock %s\n", what);
            return 2;
        }
        j.dev = make_device(clock, VMWDT_TIMERS_THREAD, 1);
        j.clock = clock;
    }
    job_setup(&j);
    if (run_ops(&j, n) != 0) {
        fprintf(stderr, "error: an operation failed\n");
        return 1;
    }
    vmwdt_destroy(j.dev);
    printf("%s %s: %ld operations done\n", what, opname, n);
    return 0;
}

/*
 * One comparison of the summary, with a verdict in thread CPU time and one in wall-clock time:
 * on a shared machine the wall clock also counts the time a thread waited for a core, which
 * the other processes decide, so the CPU time is the steadier measure of an operation's cost.
 */
static void goal(const char *what, struct fig v, const char *than, struct fig base,
                 double max_ratio)
{
    double r = base.wall > 0 ? v.wall / base.wall : 0.0;
    double rc = base.cpu > 0 ? v.cpu / base.cpu : 0.0;

    printf("  %-36s vs %-30s goal <= %.2fx\n", what, than, max_ratio);
    printf("    CPU time   %7.0f vs %7.0f ns: %4.2fx %s\n", v.cpu, base.cpu, rc,
           base.cpu > 0 && rc <= max_ratio ? "met" : "NOT MET");
    printf("    wall clock %7.0f vs %7.0f ns: %4.2fx %s\n", v.wall, base.wall, r,
           base.wall > 0 && r <= max_ratio ? "met" : "NOT MET");
}

int main(int argc, char **argv)
{
    struct pet_figures f = { 0 };
    double g, c;

    if (argc == 5 && strcmp(argv[1], "--callgrind") == 0)
        return callgrind_mode(argv[2], argv[3], strtol(argv[4], NULL, 10));
    quick = bench_quick(argc, argv);
    rounds = quick ? 2 : 5;
    printf("bench_pet: libvmwdt ABI %u.%u, %s mode, %d rounds per figure\n",
           vmwdt_abi_version() >> 16, vmwdt_abi_version() & 0xffff,
           quick ? "quick" : "full", rounds);
    pet_table(&f);
    read_table();
    printf("\nSummary (1 thread, THREAD timers, all measured in this run):\n");
    goal("AUTO pet (thread named)", f.clock[VMWDT_CLOCK_AUTO], "THREAD_CPU pet",
         f.clock[VMWDT_CLOCK_THREAD_CPU], 1.5);
    goal("GUEST_TIME pet", f.clock[VMWDT_CLOCK_GUEST_TIME], "the seed's per-pet /proc read",
         f.seed_read, 1.0);
    goal("GUEST_TIME pet, every reading a miss", f.guest_miss, "the seed's per-pet /proc read",
         f.seed_read, 1.0);
    printf("  the /proc reads alone: pread %.0f ns (a cache hit), open/pread/close %.0f ns "
           "(a miss), open/read/read/close %.0f ns (the seed)\n",
           f.hit_read.wall, f.miss_read.wall, f.seed_read.wall);
    g = f.clock[VMWDT_CLOCK_GUEST_TIME].wall;
    c = f.crosvm.wall;
    printf("  GUEST_TIME pet %.0f ns vs crosvm's pet %.0f ns (%.2fx faster)\n", g, c,
           g > 0 ? c / g : 0.0);
    return g > 0 && c > 0 ? 0 : 1;
}
