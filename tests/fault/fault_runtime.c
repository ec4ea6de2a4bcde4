/*
 * Faults of the runtime's resources: the worker thread cannot start (pthread_create fails when
 * vmwdt_create starts it), allocations fail while it starts late, descriptors run out (the
 * worker holds none, and timerfd_create is never called), and /proc cannot be opened or read
 * while a vCPU's thread clock is named or read. Each call still succeeds or fails cleanly, the
 * failure is logged, and once the fault is gone the device watches again.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "fault_host.h"
#include "fault_wrap.h"

/* Waits up to 3 s for vCPU cpu's interrupt count to pass n. */
static bool irq_after(uint32_t cpu, int n)
{
    for (int i = 0; i < 300 && atomic_load(&irqs[cpu]) <= n; i++)
        wait_ms(10);
    return atomic_load(&irqs[cpu]) > n;
}

/* vCPU cpu enabled for a 20 ms window. */
static void enable(vmwdt *dev, uint32_t cpu, const char *name)
{
    CHECK(put(dev, cpu, VMWDT_REG_CLOCK_FREQ_HZ, 1000) == 0, "%s", name);
    CHECK(put(dev, cpu, VMWDT_REG_LOAD_CNT, 20) == 0, "%s", name);
    CHECK(put(dev, cpu, VMWDT_REG_STATUS, 1) == 0, "%s: enable", name);
}

/*
 * Every timerfd_create on every thread fails (EMFILE, a full descriptor table): the device does
 * not notice at all. It is created, watches and logs nothing about its worker.
 */
static void descriptors_full(void)
{
    long base = fault_live_allocations();
    int logs_before = atomic_load(&worker_logs), irq0 = atomic_load(&irqs[0]);
    fault_arm(FAULT_TIMERFD, 0, -1, true);
    int rc;
    vmwdt *dev = create(VMWDT_CLOCK_MONOTONIC, VMWDT_TIMERS_THREAD, false, &rc);
    CHECK(dev != NULL, "create with no descriptor to spare: %d", rc);
    if (dev != NULL) {
        enable(dev, 0, "timerfd_create");
        CHECK(irq_after(0, irq0), "no interrupt with no descriptor to spare");
        vmwdt_destroy(dev);
    }
    CHECK(fault_calls(FAULT_TIMERFD) == 0, "the library called timerfd_create");
    fault_disarm();
    CHECK(atomic_load(&worker_logs) == logs_before, "the worker logged a failure");
    check_no_leak(base, "timerfd_create");
}

/*
 * pthread_create fails for the worker that vmwdt_create starts: create succeeds all the same and
 * logs it. Once the fault is gone an enable starts the worker (logged: the device is watching
 * again). In the case the vCPU was enabled during the fault, its window ended with no
 * worker, and it is disabled and enabled again afterwards: the expiry missed fires.
 */
static void thread_fault(void)
{
    long base = fault_live_allocations();
    for (int missed = 0; missed < 2; missed++) {
        int logs_before = atomic_load(&worker_logs), irq0 = atomic_load(&irqs[0]), rc;
        fault_arm(FAULT_THREAD, 0, missed ? -1 : 1, true);
        vmwdt *dev = create(VMWDT_CLOCK_MONOTONIC, VMWDT_TIMERS_THREAD, false, &rc);
        CHECK(dev != NULL, "create while pthread_create fails: %d", rc);
        if (dev == NULL) {
            fault_disarm();
            continue;
        }
        CHECK(atomic_load(&worker_logs) == logs_before + 1, "the failed start is not logged once");
        if (missed) {
            enable(dev, 0, "pthread_create");
            wait_ms(50);
            CHECK(atomic_load(&irqs[0]) == irq0, "an interrupt with no worker");
        }
        long hits = fault_hits(FAULT_THREAD);
        fault_disarm();
        CHECK(hits >= 1, "pthread_create never failed");
        faults_survived += hits;
        if (missed)
            CHECK(put(dev, 0, VMWDT_REG_STATUS, 0) == 0, "disable");
        enable(dev, 0, "pthread_create");
        CHECK(irq_after(0, irq0), "no interrupt after the fault (missed: %d)", missed);
        CHECK(atomic_load(&worker_logs) == logs_before + 2, "the recovery is not logged once");
        vmwdt_destroy(dev);
    }
    check_no_leak(base, "pthread_create");
}

/*
 * The worker starts late, after create, while every allocation on every thread fails: its start
 * and its whole life allocate nothing, so it starts and fires all the same.
 */
static void alloc_fault(void)
{
    long base = fault_live_allocations();
    int irq0 = atomic_load(&irqs[0]), rc;
    fault_arm(FAULT_THREAD, 0, -1, true);
    vmwdt *dev = create(VMWDT_CLOCK_MONOTONIC, VMWDT_TIMERS_THREAD, false, &rc);
    CHECK(dev != NULL, "create while pthread_create fails: %d", rc);
    if (dev == NULL) {
        fault_disarm();
        return;
    }
    fault_arm(FAULT_ALLOC, 0, -1, true);
    enable(dev, 0, "worker allocation");
    bool fired = irq_after(0, irq0);
    long hits = fault_hits(FAULT_ALLOC);
    fault_disarm();
    CHECK(fired, "the worker started with allocations failing did not fire");
    CHECK(hits == 0, "the worker's start or run allocated (%ld)", hits);
    vmwdt_destroy(dev);
    check_no_leak(base, "worker allocation");
}

void worker(void)
{
    descriptors_full();
    thread_fault();
    alloc_fault();
    CHECK(faults_survived > 0, "no worker fault was injected");
}

/* /proc cannot be opened or read: the call fails or the clock falls back, then recovers. */
void proc(void)
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

    /*
     * Reading the clock while /proc cannot be opened (vCPU 0), then while it cannot be read
     * (vCPU 2): a vCPU logs its fallback once, so each fault has a vCPU of its own.
     */
    CHECK(vmwdt_set_vcpu_thread(dev, 2, getpid(), gettid()) == 0, "set_vcpu_thread");
    enum fault_kind kinds[] = { FAULT_PROC_OPEN, FAULT_PREAD };
    uint32_t cpus[] = { 0, 2 };
    for (int i = 0; i < 2; i++) {
        uint32_t cpu = cpus[i];
        int logs_before = atomic_load(&logs);
        fault_arm(kinds[i], 0, -1, false);
        get(dev, cpu, VMWDT_REG_CURRENT_CNT);
        CHECK(put(dev, cpu, VMWDT_REG_LOAD_CNT, 100) == 0, "pet under the fault");
        hits = fault_hits(kinds[i]);
        fault_disarm();
        if (hits > 0) {
            CHECK(atomic_load(&logs) > logs_before, "the clock's fallback is logged");
            faults_survived += hits;
        }
        /* Once the fault is gone the clock is read from /proc again (calls counted, none fail). */
        fault_arm(FAULT_PREAD, 1L << 40, 0, false);
        get(dev, cpu, VMWDT_REG_CURRENT_CNT);
        CHECK(fault_calls(FAULT_PREAD) > 0, "the thread's clock is read again after the fault");
        fault_disarm();
    }
    CHECK(faults_survived > 0, "no /proc fault was injected");
    free(before);
    vmwdt_destroy(dev);
    check_no_leak(base, "proc");
}

