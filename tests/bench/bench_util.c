/* Helpers shared by the benchmark programs; see bench_util.h. */
#define _GNU_SOURCE
#include "bench_util.h"

#include <dirent.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int64_t bench_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int32_t bench_gettid(void)
{
    return (int32_t)syscall(SYS_gettid);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

double bench_median(double *v, size_t n)
{
    if (n == 0)
        return 0.0;
    qsort(v, n, sizeof(*v), cmp_double);
    return v[(n - 1) / 2];
}

double bench_min(const double *v, size_t n)
{
    double m = n ? v[0] : 0.0;

    for (size_t i = 1; i < n; i++)
        if (v[i] < m)
            m = v[i];
    return m;
}

double bench_max(const double *v, size_t n)
{
    double m = n ? v[0] : 0.0;

    for (size_t i = 1; i < n; i++)
        if (v[i] > m)
            m = v[i];
    return m;
}

int64_t bench_rss_bytes(void)
{
    long size = 0, resident = -1;
    FILE *f = fopen("/proc/self/statm", "r");

    if (!f)
        return -1;
    if (fscanf(f, "%ld %ld", &size, &resident) != 2)
        resident = -1;
    fclose(f);
    return resident < 0 ? -1 : (int64_t)resident * sysconf(_SC_PAGESIZE);
}

int64_t bench_heap_bytes(void)
{
    struct mallinfo2 mi = mallinfo2();

    return (int64_t)mi.uordblks + (int64_t)mi.hblkhd;
}

int bench_count_dir(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;
    int n = 0;

    if (!d)
        return -1;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    /* The descriptor opendir() holds is counted in /proc/self/fd; leave it out. */
    if (strcmp(path, "/proc/self/fd") == 0 && n > 0)
        n--;
    return n;
}

int64_t bench_kernel_slab_bytes(void)
{
    char line[256];
    long kb = -1;
    FILE *f = fopen("/proc/meminfo", "r");

    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "Slab: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb < 0 ? -1 : (int64_t)kb * 1024;
}

long bench_raise_fd_limit(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return -1;
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
    return (long)rl.rlim_cur;
}

const char *bench_clock_name(uint32_t clock)
{
    static const char *const names[] = { "AUTO", "GUEST_TIME", "THREAD_CPU", "MONOTONIC", "HOST" };

    return clock < sizeof(names) / sizeof(names[0]) ? names[clock] : "?";
}

void bench_check(int err, const char *what)
{
    if (err < 0) {
        fprintf(stderr, "error: %s: %s (%d)\n", what, vmwdt_strerror(err), err);
        exit(1);
    }
}

void bench_write(vmwdt *dev, uint32_t cpu, uint32_t reg, uint32_t val)
{
    bench_check(vmwdt_mmio_write(dev, (uint64_t)cpu * VMWDT_REG_STRIDE + reg, &val, 4),
                "vmwdt_mmio_write");
}

uint32_t bench_read(vmwdt *dev, uint32_t cpu, uint32_t reg)
{
    uint32_t val = 0;

    bench_check(vmwdt_mmio_read(dev, (uint64_t)cpu * VMWDT_REG_STRIDE + reg, &val, 4),
                "vmwdt_mmio_read");
    return val;
}

void bench_enable(vmwdt *dev, uint32_t cpu, uint32_t freq, uint32_t load)
{
    bench_write(dev, cpu, VMWDT_REG_CLOCK_FREQ_HZ, freq);
    bench_write(dev, cpu, VMWDT_REG_LOAD_CNT, load);
    bench_write(dev, cpu, VMWDT_REG_STATUS, 1);
}

int bench_log_quiet;
_Atomic long bench_log_count;

void bench_log(void *opaque, int level, const char *msg)
{
    bench_log_count++;
    if (!bench_log_quiet)
        fprintf(stderr, "  [vmwdt log %d] %s\n", level, msg);
}

int bench_quick(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--quick") == 0)
            return 1;
    return 0;
}
