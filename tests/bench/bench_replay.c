/*
 * vmwdt-replay's memory and speed on a long trace, next to jansson parsing the same lines.
 *
 *   bench_replay --replay PATH --plugin PATH [--records N] [--max-rss-mib M] [--quick]
 *   bench_replay --baseline TRACE        (the jansson-only run, started by the benchmark)
 *
 * It writes a trace of N records (default 2,000,000: 8 vCPUs petting at 2 Hz, with reads and
 * expect records, about a week of a VM's watchdog traffic), then runs, each in a process of its
 * own and five times, alternating: vmwdt-replay on it, and a program that only parses each line with
 * jansson (json_loadb, then json_decref). It prints the median wall time, the least CPU time
 * and the peak RSS (wait4's rusage) of both, their ratios, and the goals: replay RSS < 16 MiB, time within
 * 1.3x of the parse. With --max-rss-mib it exits 1 when the replay's peak RSS is above M: a
 * memory bound, which unlike a time is deterministic enough for a test.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CPUS 8
#define RUNS 5

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Writes the trace; returns its size in bytes, or -1. */
static long long write_trace(const char *path, long records)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -1;
    fprintf(f, "{\"vmwdt_trace\": 1, \"cpus\": %d, \"action\": \"irq_then_reset\"}\n", CPUS);
    long n = 0;
    int64_t t = 0;
    for (int c = 0; c < CPUS && n < records; c++, n += 3) {
        fprintf(f, "{\"t\": 0, \"op\": \"write\", \"cpu\": %d, \"reg\": \"CLOCK_FREQ_HZ\", \"value\": 2}\n", c);
        fprintf(f, "{\"t\": 0, \"op\": \"write\", \"cpu\": %d, \"reg\": \"LOAD_CNT\", \"value\": 20}\n", c);
        fprintf(f, "{\"t\": 0, \"op\": \"write\", \"cpu\": %d, \"reg\": \"STATUS\", \"value\": 1}\n", c);
    }
    /* Each vCPU pets every 500 ms of a 10 s window: no event is due, every expect is empty. */
    for (; n < records - 1; n++) {
        t += 62500000;
        int c = (int)(n % CPUS);
        if (n % 1000 == 999)
            fprintf(f, "{\"t\": %lld, \"op\": \"expect\", \"irq\": [], \"reset\": []}\n", (long long)t);
        else if (n % 100 == 50)
            fprintf(f, "{\"t\": %lld, \"op\": \"read\", \"cpu\": %d, \"reg\": \"STATUS\", \"expect\": 1}\n",
                    (long long)t, c);
        else
            fprintf(f, "{\"t\": %lld, \"op\": \"write\", \"cpu\": %d, \"reg\": \"LOAD_CNT\", \"value\": 20}\n",
                    (long long)t, c);
    }
    fprintf(f, "{\"t\": %lld, \"op\": \"end\"}\n", (long long)t);
    long long size = ftell(f);
    return fclose(f) == 0 ? size : -1;
}

/* The baseline: every line through json_loadb. */
static int baseline(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 2;
    char *buf = NULL;
    size_t cap = 0;
    ssize_t len;
    long lines = 0, objects = 0;
    while ((len = getline(&buf, &cap, f)) >= 0) {
        json_error_t e;
        json_t *v = json_loadb(buf, (size_t)len, 0, &e);
        lines++;
        objects += json_is_object(v);
        json_decref(v);
    }
    free(buf);
    fclose(f);
    return objects == lines ? 0 : 1;
}

struct run {
    double seconds; /* wall time */
    double cpu;     /* user + system time */
    double rss_mib;
    int status;
};

/* Runs argv with stdout on /dev/null; its wall time, peak RSS and exit status. */
static struct run run(char *const argv[])
{
    struct run r = { 0, 0, 0, -1 };
    int64_t t0 = now_ns();
    pid_t pid = fork();
    if (pid == 0) {
        if (freopen("/dev/null", "w", stdout) == NULL)
            _exit(127);
        execv(argv[0], argv);
        _exit(127);
    }
    int st;
    struct rusage ru;
    if (pid < 0 || wait4(pid, &st, 0, &ru) != pid)
        return r;
    r.seconds = (double)(now_ns() - t0) / 1e9;
    r.cpu = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
            (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
    r.rss_mib = (double)ru.ru_maxrss / 1024.0;
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return r;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/*
 * Folds one run into a series: wall times kept for the median, the least CPU time (the figure
 * least disturbed by other work on the machine), the largest peak RSS, a failure.
 */
static void note(struct run *acc, double *times, int i, struct run r)
{
    times[i] = r.seconds;
    if (i == 0 || r.cpu < acc->cpu)
        acc->cpu = r.cpu;
    if (r.rss_mib > acc->rss_mib)
        acc->rss_mib = r.rss_mib;
    if (r.status != 0)
        acc->status = r.status;
}

static double median(double *t)
{
    qsort(t, RUNS, sizeof t[0], cmp_double);
    return t[RUNS / 2];
}

int main(int argc, char **argv)
{
    const char *replay = NULL, *plugin = NULL;
    long records = 2000000;
    double max_rss = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--baseline") == 0 && i + 1 < argc)
            return baseline(argv[i + 1]);
        if (strcmp(argv[i], "--replay") == 0 && i + 1 < argc)
            replay = argv[++i];
        else if (strcmp(argv[i], "--plugin") == 0 && i + 1 < argc)
            plugin = argv[++i];
        else if (strcmp(argv[i], "--records") == 0 && i + 1 < argc)
            records = atol(argv[++i]);
        else if (strcmp(argv[i], "--max-rss-mib") == 0 && i + 1 < argc)
            max_rss = atof(argv[++i]);
        else if (strcmp(argv[i], "--quick") == 0)
            records = 20000;
        else {
            fprintf(stderr, "bench_replay: unknown argument %s\n", argv[i]);
            return 2;
        }
    }
    if (replay == NULL || plugin == NULL || records < CPUS * 3 + 2) {
        fprintf(stderr, "usage: bench_replay --replay PATH --plugin PATH [--records N] "
                        "[--max-rss-mib M] [--quick]\n");
        return 2;
    }
    const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char trace[4096], self[4096];
    snprintf(trace, sizeof trace, "%s/bench_replay.%d.jsonl", dir, (int)getpid());
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return 2;
    self[n] = '\0';
    long long size = write_trace(trace, records);
    if (size < 0) {
        fprintf(stderr, "bench_replay: cannot write %s: %s\n", trace, strerror(errno));
        return 2;
    }
    char *replay_argv[] = { (char *)replay, "--plugin", (char *)plugin, trace, NULL };
    char *base_argv[] = { self, "--baseline", trace, NULL };
    /* Alternated, so that a change in the machine's load falls on both alike. */
    struct run base = { 0, 0, 0, 0 }, rp = { 0, 0, 0, 0 };
    double tb[RUNS], tr[RUNS];
    for (int i = 0; i < RUNS; i++) {
        note(&base, tb, i, run(base_argv));
        note(&rp, tr, i, run(replay_argv));
    }
    base.seconds = median(tb);
    rp.seconds = median(tr);
    unlink(trace);

    double ratio = base.cpu > 0 ? rp.cpu / base.cpu : 0;
    printf("trace: %ld records, %.1f MB, %d vCPUs; %d runs each, alternating: median wall time,\n"
           "least CPU time, largest peak RSS\n", records, (double)size / 1e6, CPUS, RUNS);
    printf("%-26s %10s %10s %16s\n", "", "wall (s)", "CPU (s)", "peak RSS (MiB)");
    printf("%-26s %10.3f %10.3f %16.1f\n", "jansson line parse", base.seconds, base.cpu,
           base.rss_mib);
    printf("%-26s %10.3f %10.3f %16.1f\n", "vmwdt-replay", rp.seconds, rp.cpu, rp.rss_mib);
    printf("replay / parse CPU time: %.2fx, wall time: %.2fx (goal: within 1.30x)\n", ratio,
           base.seconds > 0 ? rp.seconds / base.seconds : 0);
    printf("replay peak RSS: %.1f MiB (goal: < 16 MiB)\n", rp.rss_mib);
    if (base.status != 0 || rp.status != 0) {
        fprintf(stderr, "bench_replay: a run failed (parse %d, replay %d)\n", base.status,
                rp.status);
        return 1;
    }
    if (max_rss > 0 && rp.rss_mib >= max_rss) {
        fprintf(stderr, "bench_replay: replay peak RSS %.1f MiB is not below %.1f MiB\n",
                rp.rss_mib, max_rss);
        return 1;
    }
    return 0;
}
