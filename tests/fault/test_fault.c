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
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fault_wrap.h"
#include "vmwdt.h"
#include "wdt_snapshot.h"

#define CPUS 4
#define MS INT64_C(1000000)

static int failures;
static long faults_survived;

#define CHECK(cond, ...)                                                                 \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);     \
            fprintf(stderr, __VA_ARGS__);                                                \
            fputc('\n', stderr);                                                         \
            failures++;                                                                  \
        }                                                                                \
    } while (0)

/* The host: virtual time for EXTERNAL devices, counted events and log lines. */
static int64_t vnow = 1000 * MS;
static atomic_int irqs[CPUS], resets[CPUS], logs;

static int64_t now_ns(void *o)
{
    (void)o;
    return vnow;
}

static int64_t guest_ns(void *o, uint32_t cpu)
{
    (void)o;
    (void)cpu;
    return vnow;
}

static void raise_irq(void *o, uint32_t cpu)
{
    (void)o;
    atomic_fetch_add(&irqs[cpu], 1);
}

static void request_reset(void *o, uint32_t cpu)
{
    (void)o;
    atomic_fetch_add(&resets[cpu], 1);
}

static void log_line(void *o, int level, const char *msg)
{
    (void)o;
    (void)level;
    (void)msg;
    atomic_fetch_add(&logs, 1);
}

static vmwdt *create(uint32_t clock, uint32_t timers, bool virtual_time, int *rc_out)
{
    struct vmwdt_config cfg = { .size = sizeof(cfg), .cpu_count = CPUS, .clock = clock,
                                .action = VMWDT_ACTION_IRQ_THEN_RESET, .timers = timers };
    struct vmwdt_host_ops ops = { .size = sizeof(ops), .raise_irq = raise_irq,
                                  .request_reset = request_reset, .log = log_line };
    if (virtual_time) {
        ops.now_ns = now_ns;
        ops.guest_time_ns = guest_ns;
    }
    vmwdt *dev = NULL;
    int rc = vmwdt_create(&cfg, &ops, &dev);
    if (rc_out)
        *rc_out = rc;
    return rc == 0 ? dev : NULL;
}

static vmwdt *external(void)
{
    int rc;
    vmwdt *dev = create(VMWDT_CLOCK_HOST, VMWDT_TIMERS_EXTERNAL, true, &rc);
    CHECK(dev != NULL, "create without faults returned %d", rc);
    return dev;
}

static int put(vmwdt *dev, uint32_t cpu, uint32_t reg, uint32_t val)
{
    return vmwdt_mmio_write(dev, (uint64_t)cpu * VMWDT_REG_STRIDE + reg, &val, 4);
}

static uint32_t get(vmwdt *dev, uint32_t cpu, uint32_t reg)
{
    uint32_t v = 0;
    CHECK(vmwdt_mmio_read(dev, (uint64_t)cpu * VMWDT_REG_STRIDE + reg, &v, 4) == 0, "read");
    return v;
}

/* The snapshot as a string of our own, or NULL. */
static char *snap(vmwdt *dev)
{
    char *s = NULL;
    if (vmwdt_snapshot_json(dev, &s) != 0)
        return NULL;
    /* Copied with malloc(): the wrappers count what strdup() would allocate unseen. */
    size_t n = strlen(s) + 1;
    char *copy = malloc(n);
    if (copy != NULL)
        memcpy(copy, s, n);
    vmwdt_free(s);
    return copy;
}

static bool same_state(vmwdt *dev, const char *before)
{
    char *after = snap(dev);
    bool same = after != NULL && before != NULL && strcmp(after, before) == 0;
    free(after);
    return same;
}

/* A device with some state: vCPU 0 counting a 100 ms window, vCPU 2 at f = 10, LOAD_CNT 30. */
static void set_state(vmwdt *dev)
{
    put(dev, 0, VMWDT_REG_CLOCK_FREQ_HZ, 1000);
    put(dev, 0, VMWDT_REG_LOAD_CNT, 100);
    put(dev, 0, VMWDT_REG_STATUS, 1);
    put(dev, 2, VMWDT_REG_CLOCK_FREQ_HZ, 10);
    put(dev, 2, VMWDT_REG_LOAD_CNT, 30);
    put(dev, 2, VMWDT_REG_STATUS, 1);
}

/*
 * An EXTERNAL device in virtual time still watches: vCPU 1, enabled for a 10 ms window,
 * raises its interrupt when the 10 ms have passed.
 */
static void check_works(vmwdt *dev, const char *when)
{
    int before = atomic_load(&irqs[1]);
    CHECK(put(dev, 1, VMWDT_REG_CLOCK_FREQ_HZ, 1000) == 0, "%s", when);
    CHECK(put(dev, 1, VMWDT_REG_LOAD_CNT, 10) == 0, "%s", when);
    CHECK(put(dev, 1, VMWDT_REG_STATUS, 1) == 0, "%s", when);
    CHECK(vmwdt_next_deadline_ns(dev) <= vnow + 10 * MS, "%s: deadline", when);
    vnow += 10 * MS;
    CHECK(vmwdt_run_due(dev, vnow) >= 1, "%s: run_due fired nothing", when);
    CHECK(atomic_load(&irqs[1]) == before + 1, "%s: no interrupt", when);
    CHECK(put(dev, 1, VMWDT_REG_STATUS, 0) == 0, "%s", when);
}

static void check_no_leak(long baseline, const char *when)
{
    long live = fault_live_allocations();
    CHECK(live == baseline, "%s: %ld allocations leaked", when, live - baseline);
}

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

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *buf = calloc(1, 1 << 16);
    size_t n = buf ? fread(buf, 1, (1 << 16) - 1, f) : 0;
    (void)n;
    fclose(f);
    return buf;
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

static void wait_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
    nanosleep(&ts, NULL);
}

/*
 * With THREAD timers, the worker cannot start once (kind fails once, on any thread): the
 * enable that wanted it still succeeds, and once the fault is gone the device watches again:
 * the next arming starts the worker and the expiry missed meanwhile fires.
 */
static void worker_fault(enum fault_kind kind, const char *name)
{
    long base = fault_live_allocations();
    int rc;
    vmwdt *dev = create(VMWDT_CLOCK_MONOTONIC, VMWDT_TIMERS_THREAD, false, &rc);
    CHECK(dev != NULL, "create");
    if (dev == NULL)
        return;
    int irq0 = atomic_load(&irqs[0]), logs_before = atomic_load(&logs);
    fault_arm(kind, 0, 1, true);
    CHECK(put(dev, 0, VMWDT_REG_CLOCK_FREQ_HZ, 1000) == 0, "%s", name);
    CHECK(put(dev, 0, VMWDT_REG_LOAD_CNT, 20) == 0, "%s", name);
    CHECK(put(dev, 0, VMWDT_REG_STATUS, 1) == 0, "%s: enable under the fault", name);
    long hits = fault_hits(kind);
    fault_disarm();
    CHECK(hits == 1, "%s: the worker start took the fault (%ld)", name, hits);
    CHECK(atomic_load(&logs) > logs_before, "%s: the failed start is logged", name);
    faults_survived += hits;
    wait_ms(50);
    /* Another arming, on another vCPU: the worker starts now, if it did not retry already. */
    CHECK(put(dev, 3, VMWDT_REG_CLOCK_FREQ_HZ, 1) == 0, "%s", name);
    CHECK(put(dev, 3, VMWDT_REG_LOAD_CNT, 1000) == 0, "%s", name);
    CHECK(put(dev, 3, VMWDT_REG_STATUS, 1) == 0, "%s", name);
    for (int i = 0; i < 300 && atomic_load(&irqs[0]) == irq0; i++)
        wait_ms(10);
    CHECK(atomic_load(&irqs[0]) > irq0, "%s: the expiry missed while the worker could not start "
          "never fired", name);
    /* And a window armed afterwards fires as well. */
    int irq1 = atomic_load(&irqs[1]);
    put(dev, 1, VMWDT_REG_CLOCK_FREQ_HZ, 1000);
    put(dev, 1, VMWDT_REG_LOAD_CNT, 20);
    put(dev, 1, VMWDT_REG_STATUS, 1);
    for (int i = 0; i < 300 && atomic_load(&irqs[1]) == irq1; i++)
        wait_ms(10);
    CHECK(atomic_load(&irqs[1]) > irq1, "%s: a window armed after the fault never fired", name);
    vmwdt_destroy(dev);

    /* The case: the same vCPU disabled and enabled again after the fault, nothing else. */
    dev = create(VMWDT_CLOCK_MONOTONIC, VMWDT_TIMERS_THREAD, false, &rc);
    CHECK(dev != NULL, "create");
    if (dev == NULL)
        return;
    irq0 = atomic_load(&irqs[0]);
    fault_arm(kind, 0, 1, true);
    put(dev, 0, VMWDT_REG_CLOCK_FREQ_HZ, 1000);
    put(dev, 0, VMWDT_REG_LOAD_CNT, 20);
    put(dev, 0, VMWDT_REG_STATUS, 1);
    hits = fault_hits(kind);
    fault_disarm();
    faults_survived += hits;
    wait_ms(50);
    CHECK(put(dev, 0, VMWDT_REG_STATUS, 0) == 0, "%s: disable", name);
    CHECK(put(dev, 0, VMWDT_REG_STATUS, 1) == 0, "%s: enable again", name);
    for (int i = 0; i < 300 && atomic_load(&irqs[0]) == irq0; i++)
        wait_ms(10);
    CHECK(atomic_load(&irqs[0]) > irq0, "%s: a vCPU enabled again after the fault never fired",
          name);
    vmwdt_destroy(dev);
    check_no_leak(base, name);
}

static void worker(void)
{
    worker_fault(FAULT_TIMERFD, "timerfd_create");
    worker_fault(FAULT_THREAD, "pthread_create");
    worker_fault(FAULT_ALLOC, "worker allocation");
}

/* /proc cannot be opened or read: the call fails or the clock falls back, then recovers. */
static void proc(void)
{
    long base = fault_live_allocations();
    int rc;
    vmwdt *dev = create(VMWDT_CLOCK_GUEST_TIME, VMWDT_TIMERS_EXTERNAL, true, &rc);
    CHECK(dev != NULL, "create");
    if (dev == NULL)
        return;
    set_state(dev);
    char *before = snap(dev);

    /* Naming the thread while /proc cannot be opened. */
    fault_arm(FAULT_PROC_OPEN, 0, -1, false);
    rc = vmwdt_set_vcpu_thread(dev, 0, getpid(), gettid());
    long hits = fault_hits(FAULT_PROC_OPEN);
    fault_disarm();
    if (hits > 0) {
        CHECK(rc == -EMFILE, "set_vcpu_thread with /proc unopenable: rc %d", rc);
        CHECK(same_state(dev, before), "a refused set_vcpu_thread changed the device");
        faults_survived += hits;
    }
    CHECK(vmwdt_set_vcpu_thread(dev, 0, getpid(), gettid()) == 0, "set_vcpu_thread after");

    /* Reading the clock while /proc cannot be opened, then while it cannot be read. */
    enum fault_kind kinds[] = { FAULT_PROC_OPEN, FAULT_PREAD };
    for (int i = 0; i < 2; i++) {
        int logs_before = atomic_load(&logs);
        fault_arm(kinds[i], 0, -1, false);
        get(dev, 0, VMWDT_REG_CURRENT_CNT);
        CHECK(put(dev, 0, VMWDT_REG_LOAD_CNT, 100) == 0, "pet under the fault");
        hits = fault_hits(kinds[i]);
        fault_disarm();
        if (hits > 0) {
            CHECK(atomic_load(&logs) > logs_before, "the clock's fallback is logged");
            faults_survived += hits;
        }
        /* Once the fault is gone the clock is read from /proc again (calls counted, none fail). */
        fault_arm(FAULT_PREAD, 1L << 40, 0, false);
        get(dev, 0, VMWDT_REG_CURRENT_CNT);
        CHECK(fault_calls(FAULT_PREAD) > 0, "the thread's clock is read again after the fault");
        fault_disarm();
    }
    CHECK(faults_survived > 0, "no /proc fault was injected");
    free(before);
    vmwdt_destroy(dev);
    check_no_leak(base, "proc");
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
