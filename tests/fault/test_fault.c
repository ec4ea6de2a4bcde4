/*
 * Fault injection: every allocation of create, snapshot, restore and set_vcpu_thread fails in
 * turn, and timerfd_create, pthread_create, /proc opens and reads fail (fault_wrap.c). Each
 * time the call returns a negative errno or logs a fallback, nothing leaks (the wrappers count
 * live allocations; ASan and valgrind check the rest), a refused call leaves the device as it
 * was (its snapshot before and after are the same text), and once the fault is gone the device
 * works again.
 *
 *   test_fault alloc | worker | proc
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fault_host.h"
#include "fault_wrap.h"
#include "wdt_snapshot.h"

/* Every allocation of vmwdt_create fails in turn, for both timer kinds. */
static void alloc_create(void)
{
    for (uint32_t timers = VMWDT_TIMERS_THREAD; timers <= VMWDT_TIMERS_EXTERNAL; timers++) {
        for (long k = 0;; k++) {
            long base = fault_live_allocations();
            int rc;
            fault_arm(FAULT_ALLOC, k, 1, false);
            vmwdt *dev = create(VMWDT_CLOCK_HOST, timers, true, &rc);
            bool hit = fault_hits(FAULT_ALLOC) > 0;
            fault_disarm();
            if (!hit) {
                CHECK(dev != NULL, "create with no fault: %d", rc);
                vmwdt_destroy(dev);
                printf("create (timers %u): %ld allocations failed in turn\n", timers, k);
                break;
            }
            CHECK(dev == NULL && rc == -ENOMEM, "create, allocation %ld failing: rc %d", k, rc);
            vmwdt_destroy(dev);
            check_no_leak(base, "create");
            faults_survived++;
        }
    }
    vmwdt *dev = external();
    check_works(dev, "create after the faults");
    vmwdt_destroy(dev);
}

static void alloc_snapshot(void)
{
    long base = fault_live_allocations();
    vmwdt *dev = external();
    set_state(dev);
    char *before = snap(dev);
    for (long k = 0;; k++) {
        char *s = NULL;
        fault_arm(FAULT_ALLOC, k, 1, false);
        int rc = vmwdt_snapshot_json(dev, &s);
        bool hit = fault_hits(FAULT_ALLOC) > 0;
        fault_disarm();
        if (!hit) {
            CHECK(rc == 0 && s != NULL && strcmp(s, before) == 0, "snapshot with no fault");
            vmwdt_free(s);
            printf("snapshot: %ld allocations failed in turn\n", k);
            break;
        }
        CHECK(rc == -ENOMEM && s == NULL, "snapshot, allocation %ld failing: rc %d", k, rc);
        CHECK(same_state(dev, before), "snapshot, allocation %ld failing: state changed", k);
        faults_survived++;
    }
    check_works(dev, "snapshot after the faults");
    free(before);
    vmwdt_destroy(dev);
    check_no_leak(base, "snapshot");
}

/* Every allocation of vmwdt_restore_json fails in turn, for each document. */
static void alloc_restore_doc(const char *name, const char *doc)
{
    /* What the document restores to, with no fault. */
    vmwdt *ref = external();
    CHECK(vmwdt_restore_json(ref, doc) == 0, "%s restores", name);
    char *expected = snap(ref);
    vmwdt_destroy(ref);

    for (long k = 0;; k++) {
        long base = fault_live_allocations();
        vmwdt *dev = external();
        set_state(dev);
        char *before = snap(dev);
        int logs_before = atomic_load(&logs);
        fault_arm(FAULT_ALLOC, k, 1, false);
        int rc = vmwdt_restore_json(dev, doc);
        bool hit = fault_hits(FAULT_ALLOC) > 0;
        fault_disarm();
        if (hit) {
            CHECK(rc == -ENOMEM, "restore %s, allocation %ld failing: rc %d", name, k, rc);
            CHECK(atomic_load(&logs) > logs_before, "restore %s: the refusal is logged", name);
            CHECK(same_state(dev, before), "restore %s, allocation %ld failing: state changed",
                  name, k);
            faults_survived++;
            /* Once the fault is gone the same document restores. */
            rc = vmwdt_restore_json(dev, doc);
        }
        CHECK(rc == 0, "restore %s after allocation %ld failed: rc %d", name, k, rc);
        CHECK(same_state(dev, expected), "restore %s: restored state", name);
        CHECK(vmwdt_wake(dev) == 0, "wake");
        check_works(dev, "restore after the fault");
        free(before);
        vmwdt_destroy(dev);
        check_no_leak(base, "restore");
        if (!hit) {
            printf("restore %s: %ld allocations failed in turn\n", name, k);
            break;
        }
    }
    free(expected);
}

static void alloc_restore(void)
{
    vmwdt *src = external();
    set_state(src);
    put(src, 3, VMWDT_REG_CLOCK_FREQ_HZ, 100);
    put(src, 3, VMWDT_REG_LOAD_CNT, 7);
    put(src, 3, VMWDT_REG_STATUS, 1);
    vnow += 3 * MS;
    CHECK(vmwdt_sleep(src) == 0, "sleep");
    char *doc = snap(src);
    vmwdt_destroy(src);
    alloc_restore_doc("a snapshot", doc);
    free(doc);

    char *crosvm = read_file(FAULT_SEEDS "/crosvm_document.json");
    char *pretty = read_file(FAULT_SEEDS "/pretty_printed.json");
    CHECK(crosvm != NULL && pretty != NULL, "seed documents readable");
    if (crosvm && pretty) {
        /* The seeds describe two vCPUs; this suite's devices have four. */
        vmwdt *two = NULL;
        struct vmwdt_config cfg = { .size = sizeof(cfg), .cpu_count = 2,
                                    .clock = VMWDT_CLOCK_MONOTONIC, .timers = VMWDT_TIMERS_EXTERNAL };
        struct vmwdt_host_ops ops = { .size = sizeof(ops), .raise_irq = raise_irq,
                                      .request_reset = request_reset, .log = log_line };
        CHECK(vmwdt_create(&cfg, &ops, &two) == 0, "create");
        for (long k = 0; two != NULL; k++) {
            char *before = snap(two);
            fault_arm(FAULT_ALLOC, k, 1, false);
            int rc1 = vmwdt_restore_json(two, crosvm);
            bool hit1 = fault_hits(FAULT_ALLOC) > 0;
            fault_arm(FAULT_ALLOC, k, 1, false);
            int rc2 = vmwdt_restore_json(two, pretty);
            bool hit2 = fault_hits(FAULT_ALLOC) > 0;
            fault_disarm();
            CHECK(hit1 ? rc1 == -ENOMEM : rc1 == 0, "crosvm seed, allocation %ld: rc %d", k, rc1);
            CHECK(hit2 ? rc2 == -ENOMEM : rc2 == 0, "pretty seed, allocation %ld: rc %d", k, rc2);
            if (hit1 && hit2)
                CHECK(same_state(two, before), "seeds, allocation %ld failing: state changed", k);
            faults_survived += hit1 + hit2;
            free(before);
            if (!hit1 && !hit2) {
                printf("restore two seeds: %ld allocations failed in turn\n", k);
                break;
            }
        }
        vmwdt_destroy(two);
    }
    free(crosvm);
    free(pretty);
}

/*
 * The paths no real document takes: the reservation is made too small on purpose, so that the
 * parse needs overflow chunks, and every allocation (reservation, chunks, the rest) fails in
 * turn. When a chunk cannot be had the parse is abandoned without jansson seeing a failure:
 * -ENOMEM, the device unchanged, nothing leaked.
 */
static void alloc_restore_overflow(void)
{
    vmwdt *src = external();
    set_state(src);
    char *doc = snap(src);
    vmwdt_destroy(src);
    struct wdt_snap_parse_stats ps0, ps1;
    wdt_snap_parse_stats(&ps0);
    wdt_snap_parse_test_reserve(64);
    long k = 0;
    for (;; k++) {
        long base = fault_live_allocations();
        vmwdt *dev = external();
        char *before = snap(dev);
        fault_arm(FAULT_ALLOC, k, 1, false);
        int rc = vmwdt_restore_json(dev, doc);
        bool hit = fault_hits(FAULT_ALLOC) > 0;
        fault_disarm();
        if (hit) {
            CHECK(rc == -ENOMEM, "short reservation, allocation %ld failing: rc %d", k, rc);
            CHECK(same_state(dev, before), "short reservation, allocation %ld: state changed", k);
            faults_survived++;
        } else {
            CHECK(rc == 0, "short reservation, no fault: rc %d", rc);
        }
        free(before);
        vmwdt_destroy(dev);
        check_no_leak(base, "short reservation");
        if (!hit)
            break;
    }
    wdt_snap_parse_test_reserve(0);
    wdt_snap_parse_stats(&ps1);
    CHECK(ps1.overflows > ps0.overflows, "the short reservation overflowed");
    printf("restore with a short reservation: %ld allocations failed in turn\n", k);
    free(doc);
}

static void alloc_set_vcpu_thread(void)
{
    long base = fault_live_allocations();
    int rc;
    vmwdt *dev = create(VMWDT_CLOCK_GUEST_TIME, VMWDT_TIMERS_EXTERNAL, true, &rc);
    CHECK(dev != NULL, "create");
    set_state(dev);
    for (long k = 0; dev != NULL; k++) {
        char *before = snap(dev);
        fault_arm(FAULT_ALLOC, k, 1, false);
        rc = vmwdt_set_vcpu_thread(dev, 0, getpid(), gettid());
        bool hit = fault_hits(FAULT_ALLOC) > 0;
        fault_disarm();
        free(before);
        if (!hit) {
            CHECK(rc == 0, "set_vcpu_thread with no fault: %d", rc);
            printf("set_vcpu_thread: %ld allocations failed in turn\n", k);
            break;
        }
        CHECK(rc == -ENOMEM, "set_vcpu_thread, allocation %ld failing: rc %d", k, rc);
        faults_survived++;
        /* The vCPU keeps the thread it had: a read still works. */
        get(dev, 0, VMWDT_REG_CURRENT_CNT);
    }
    vmwdt_destroy(dev);
    check_no_leak(base, "set_vcpu_thread");
}

int main(int argc, char **argv)
{
    const char *which = argc > 1 ? argv[1] : "alloc";
    if (strcmp(which, "alloc") == 0) {
        alloc_create();
        alloc_snapshot();
        alloc_restore();
        alloc_set_vcpu_thread();
        struct wdt_snap_parse_stats ps;
        wdt_snap_parse_stats(&ps);
        CHECK(ps.parses > 0 && ps.overflows == 0, "%llu of %llu parses outgrew their reservation",
              (unsigned long long)ps.overflows, (unsigned long long)ps.parses);
        printf("parses: %llu, the most memory one used: %llu bytes\n",
               (unsigned long long)ps.parses, (unsigned long long)ps.max_used);
        alloc_restore_overflow();
    } else if (strcmp(which, "worker") == 0) {
        worker();
    } else if (strcmp(which, "proc") == 0) {
        proc();
    } else {
        fprintf(stderr, "usage: test_fault alloc|worker|proc\n");
        return 2;
    }
    printf("%s: %ld faults injected and survived, %d failed checks\n", which, faults_survived,
           failures);
    return failures == 0 ? 0 : 1;
}
