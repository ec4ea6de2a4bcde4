/*
 * Faults of the runtime's resources: the worker thread cannot start (timerfd_create,
 * pthread_create or its allocation fails once), and /proc cannot be opened or read while a
 * vCPU's thread clock is named or read. Each call still succeeds or fails cleanly, the failure
 * is logged, and once the fault is gone the device watches again.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "fault_host.h"
#include "fault_wrap.h"

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

void worker(void)
{
    worker_fault(FAULT_TIMERFD, "timerfd_create");
    worker_fault(FAULT_THREAD, "pthread_create");
    worker_fault(FAULT_ALLOC, "worker allocation");
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

