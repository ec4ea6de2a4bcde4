/*
 * Fuzz target for vmwdt_restore_json() and the snapshot codec behind it.
 *
 * The input is passed as a C string, as a host would pass it: a NUL byte ends it. Besides
 * "never crashes, leaks or reads out of bounds", each input checks properties of the contract
 * and aborts when one fails:
 * - a refusal returns -EINVAL, -ERANGE, -ENOTSUP or -ENOMEM and changes nothing (the snapshot
 *   before equals the snapshot after, and the device keeps its deadline);
 * - the codec and the ABI agree: a document the codec refuses is refused by restore with the
 *   same error, and one that restores decodes;
 * - an accepted document leaves the device asleep; its own snapshot restores again and gives
 *   the same snapshot; encoding what the codec decoded decodes to the same text again;
 * - the restored device can be woken and run through its deadlines;
 * - the parse never needs more memory than the decoder reserved for it before parsing.
 */
#include "fuzz_restore.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmwdt.h"
#include "wdt_snapshot.h"

#define CPUS 2

int fuzz_last_restore_rc;
int fuzz_last_rc;

static int64_t virtual_now;

static int64_t now_ns(void *opaque)
{
    (void)opaque;
    return virtual_now;
}

static int64_t guest_time_ns(void *opaque, uint32_t cpu)
{
    (void)opaque;
    (void)cpu;
    return virtual_now;
}

static void quiet(void *opaque, int level, const char *msg)
{
    (void)opaque;
    (void)level;
    (void)msg;
}

static void check(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_restore: property failed: %s\n", what);
        abort();
    }
}

static void put(vmwdt *dev, uint32_t cpu, uint32_t reg, uint32_t val)
{
    uint8_t b[4] = { val & 0xff, (val >> 8) & 0xff, (val >> 16) & 0xff, val >> 24 };
    check(vmwdt_mmio_write(dev, (uint64_t)cpu * VMWDT_REG_STRIDE + reg, b, 4) == 0, "setup write");
}

/* A device with vCPU 0 counting (8 s window, 7 s left) and vCPU 1 disabled. */
static vmwdt *new_device(void)
{
    struct vmwdt_config cfg = { sizeof(cfg), CPUS, VMWDT_CLOCK_HOST,
                                VMWDT_ACTION_IRQ_THEN_RESET, VMWDT_TIMERS_EXTERNAL, 0 };
    struct vmwdt_host_ops ops = { sizeof(ops), NULL, NULL, NULL, guest_time_ns, now_ns, quiet };
    vmwdt *dev = NULL;
    virtual_now = 1000000000;
    check(vmwdt_create(&cfg, &ops, &dev) == 0, "create");
    put(dev, 0, VMWDT_REG_CLOCK_FREQ_HZ, 10);
    put(dev, 0, VMWDT_REG_LOAD_CNT, 80);
    put(dev, 0, VMWDT_REG_STATUS, 1);
    virtual_now += 1000000000;
    return dev;
}

static char *snapshot(vmwdt *dev)
{
    char *s = NULL;
    check(vmwdt_snapshot_json(dev, &s) == 0 && s != NULL, "snapshot");
    return s;
}

/* Wakes the device and runs a few of its deadlines, whatever their distance. */
static void run_some(vmwdt *dev)
{
    check(vmwdt_wake(dev) == 0, "wake");
    for (int i = 0; i < 8; i++) {
        int64_t d = vmwdt_next_deadline_ns(dev);
        if (d == INT64_MAX)
            break;
        if (d > virtual_now)
            virtual_now = d;
        check(vmwdt_run_due(dev, virtual_now) >= 0, "run_due");
    }
}

/* Codec alone: decode, encode, decode, encode gives the same text twice. */
static void codec_round_trip(const struct wdt_snap *s)
{
    char *a = NULL, *b = NULL;
    struct wdt_snap again;
    check(wdt_snap_encode(s, &a) == 0, "encode what was decoded");
    check(wdt_snap_decode(a, CPUS, &again, NULL, NULL) == 0, "decode what was encoded");
    check(wdt_snap_encode(&again, &b) == 0, "encode again");
    check(strcmp(a, b) == 0, "encoding is stable");
    wdt_snap_release(&again);
    free(a);
    free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *doc = malloc(size + 1);
    if (doc == NULL)
        return 0;
    memcpy(doc, data, size);
    doc[size] = '\0';

    struct wdt_snap s;
    int drc = wdt_snap_decode(doc, CPUS, &s, NULL, NULL);
    struct wdt_snap_parse_stats ps;
    wdt_snap_parse_stats(&ps);
    check(ps.overflows == 0, "the parse fits the memory reserved for it");
    check(drc == 0 || drc == -EINVAL || drc == -ERANGE || drc == -ENOTSUP || drc == -ENOMEM,
          "codec returns a documented error");
    if (drc == 0) {
        check(s.cpu_count == CPUS && s.vcpus != NULL, "decoded struct is filled");
        codec_round_trip(&s);
        wdt_snap_release(&s);
    }

    vmwdt *dev = new_device();
    char *before = snapshot(dev);
    int64_t deadline = vmwdt_next_deadline_ns(dev);
    int rc = vmwdt_restore_json(dev, doc);
    fuzz_last_restore_rc = rc;
    fuzz_last_rc = rc;
    if (drc < 0)
        check(rc == drc, "restore refuses what the codec refuses, with its error");
    if (rc < 0) {
        char *after = snapshot(dev);
        check(strcmp(before, after) == 0, "a refused restore changes nothing");
        check(vmwdt_next_deadline_ns(dev) == deadline, "a refused restore keeps the deadline");
        free(after);
    } else {
        check(drc == 0, "what restores decodes");
        check(vmwdt_next_deadline_ns(dev) == INT64_MAX, "a restored device is asleep");
        char *s1 = snapshot(dev);
        check(vmwdt_restore_json(dev, s1) == 0, "a restored device's snapshot restores");
        char *s2 = snapshot(dev);
        check(strcmp(s1, s2) == 0, "snapshot, restore, snapshot is stable");
        free(s1);
        free(s2);
        run_some(dev);
    }
    free(before);
    vmwdt_destroy(dev);
    free(doc);
    return 0;
}
