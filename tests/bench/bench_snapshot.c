/*
 * Snapshot and restore cost: vmwdt_snapshot_json() and vmwdt_restore_json() time and document
 * size for 1, 64 and 4096 vCPUs, every vCPU enabled and counting (EXTERNAL timers, MONOTONIC).
 * The source device is put to sleep first, as on the migration path (sleep, snapshot; create,
 * restore, wake on the destination); restore goes into a second device of the same size.
 *
 * Baseline: jansson alone on the same document, json_loads() (the floor of any restore that
 * parses with it) and json_dumps() of the parsed tree (the floor of a snapshot), so the table
 * shows what the device adds to the JSON library's own work.
 *
 * Usage: bench_snapshot [--quick]
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "bench_util.h"

#define MAX_REPS 2000

static vmwdt *make_device(uint32_t n)
{
    struct vmwdt_config cfg = { .size = sizeof(cfg), .cpu_count = n,
                                .clock = VMWDT_CLOCK_MONOTONIC,
                                .timers = VMWDT_TIMERS_EXTERNAL };
    struct vmwdt_host_ops ops = { .size = sizeof(ops), .log = bench_log };
    vmwdt *dev = NULL;

    bench_check(vmwdt_create(&cfg, &ops, &dev), "vmwdt_create");
    return dev;
}

/* Repetitions for about 20 ms of work per size (documents grow with the vCPU count). */
static int reps_for(uint32_t n, int quick)
{
    int reps = (int)(40000 / (n + 20));

    if (quick)
        return 2;
    return reps < 20 ? 20 : reps > MAX_REPS ? MAX_REPS : reps;
}

/* The baseline: jansson parsing the document, then serialising the tree it built. */
static int jansson_alone(const char *json, double *load_us, double *dump_us)
{
    json_error_t err;
    int64_t t0 = bench_now_ns();
    json_t *root = json_loads(json, 0, &err);
    char *out;
    int ok;

    *load_us = (double)(bench_now_ns() - t0) / 1000.0;
    if (!root)
        return 1;
    t0 = bench_now_ns();
    out = json_dumps(root, JSON_COMPACT);
    *dump_us = (double)(bench_now_ns() - t0) / 1000.0;
    ok = out != NULL;
    free(out);
    json_decref(root);
    return ok ? 0 : 1;
}

static int measure(uint32_t n, int quick)
{
    static double snap_us[MAX_REPS], rest_us[MAX_REPS], load_us[MAX_REPS], dump_us[MAX_REPS];
    int reps = reps_for(n, quick);
    vmwdt *src = make_device(n), *dst = make_device(n);
    char *json = NULL;
    size_t len;

    for (uint32_t i = 0; i < n; i++)
        bench_enable(src, i, 10, 80 + i % 7);
    bench_check(vmwdt_sleep(src), "vmwdt_sleep");
    for (int r = 0; r < reps; r++) {
        int64_t t0 = bench_now_ns();

        vmwdt_free(json);
        json = NULL;
        bench_check(vmwdt_snapshot_json(src, &json), "vmwdt_snapshot_json");
        snap_us[r] = (double)(bench_now_ns() - t0) / 1000.0;
    }
    len = strlen(json);
    for (int r = 0; r < reps; r++) {
        int64_t t0 = bench_now_ns();

        bench_check(vmwdt_restore_json(dst, json), "vmwdt_restore_json");
        rest_us[r] = (double)(bench_now_ns() - t0) / 1000.0;
        if (jansson_alone(json, &load_us[r], &dump_us[r]) != 0)
            return 1;
    }
    bench_check(vmwdt_wake(dst), "vmwdt_wake");
    printf("%6u %10zu %8.1f %12.1f %12.1f %12.1f %12.1f %6d\n", n, len, (double)len / n,
           bench_median(snap_us, (size_t)reps), bench_median(rest_us, (size_t)reps),
           bench_median(dump_us, (size_t)reps), bench_median(load_us, (size_t)reps), reps);
    vmwdt_free(json);
    vmwdt_destroy(src);
    vmwdt_destroy(dst);
    return 0;
}

int main(int argc, char **argv)
{
    static const uint32_t sizes[] = { 1, 64, 4096 };
    int quick = bench_quick(argc, argv);
    int bad = 0;

    printf("bench_snapshot: %s mode; every vCPU enabled, device asleep; medians\n",
           quick ? "quick" : "full");
    printf("%6s %10s %8s %12s %12s %12s %12s %6s\n", "vCPUs", "doc bytes", "B/vCPU",
           "snapshot us", "restore us", "jansson dump", "jansson load", "reps");
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
        bad |= measure(sizes[i], quick);
    return bad;
}
