/*
 * vmwdt: a per-vCPU stall-detector watchdog device for virtual machine monitors.
 *
 * The device is the one behind the Linux guest driver drivers/misc/vcpu_stall_detector.c
 * (device tree compatible "qemu,vcpu-stall-detector"). The host forwards the guest's MMIO
 * accesses to vmwdt_mmio_write() and vmwdt_mmio_read(); the library counts each vCPU's guest
 * clock down and calls the host back to raise a stall interrupt or to request a VM reset.
 *
 * ABI rules (stable within major version 1, SONAME libvmwdt.so.1; the functions of 1.0 are at
 * symbol version VMWDT_1.0, those that minor version 1.1 added at VMWDT_1.1, which inherits it):
 * - Every struct passed in begins with `uint32_t size`, set to sizeof() as the caller compiled
 *   it. Fields that a smaller struct lacks read as 0. A larger struct is accepted only when the
 *   bytes the library does not know are all zero; otherwise the call fails with -EINVAL.
 * - Every `int` return is 0 (or a count) on success and a negative errno value on failure.
 *   A call that fails changes nothing.
 * - No type from another library crosses the ABI.
 */
#ifndef VMWDT_H
#define VMWDT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(VMWDT_BUILDING_LIBRARY)
#define VMWDT_EXPORT __attribute__((visibility("default")))
#else
#define VMWDT_EXPORT
#endif

#define VMWDT_ABI_MAJOR 1
#define VMWDT_ABI_MINOR 1

/* Guest-visible registers: vCPU n owns the 16 bytes at n * VMWDT_REG_STRIDE. */
#define VMWDT_REG_STATUS        0x00
#define VMWDT_REG_LOAD_CNT      0x04
#define VMWDT_REG_CURRENT_CNT   0x08
#define VMWDT_REG_CLOCK_FREQ_HZ 0x0C
#define VMWDT_REG_STRIDE        0x10
#define VMWDT_MAX_CPUS          4096

/* The device; opaque to the host. */
typedef struct vmwdt vmwdt;

/* What measures a vCPU's time (the "guest clock"). */
enum vmwdt_clock {
    VMWDT_CLOCK_AUTO,       /* HOST when host_ops has guest_time_ns, else THREAD_CPU once the
                               vCPU's thread is named, MONOTONIC before that. */
    VMWDT_CLOCK_GUEST_TIME, /* Field 43 (guest_time) of /proc/<pid>/task/<tid>/stat. */
    VMWDT_CLOCK_THREAD_CPU, /* The vCPU thread's CPU time. */
    VMWDT_CLOCK_MONOTONIC,  /* Host time: now_ns(), or CLOCK_MONOTONIC without it. */
    VMWDT_CLOCK_HOST        /* host_ops.guest_time_ns(cpu). */
};

/* What a whole window without a pet does. */
enum vmwdt_action {
    VMWDT_ACTION_IRQ_THEN_RESET, /* Interrupt, then after a second window a reset request. */
    VMWDT_ACTION_IRQ_ONLY,       /* One interrupt per stall; the countdown then stops. */
    VMWDT_ACTION_RESET,          /* A reset request at once; no interrupt. */
    VMWDT_ACTION_NONE            /* Logged only. */
};

/* Who runs the timers. */
enum vmwdt_timers {
    VMWDT_TIMERS_THREAD,  /* The library's own worker thread (one per device, create to destroy). */
    VMWDT_TIMERS_EXTERNAL /* The host calls vmwdt_run_due() at vmwdt_next_deadline_ns(). */
};

/*
 * Callbacks from the library to the host. Every pointer may be NULL.
 * raise_irq and request_reset run on the worker thread (THREAD) or inside vmwdt_run_due()
 * (EXTERNAL); log, now_ns and guest_time_ns may run inside any call. No callback runs with a
 * lock held that the API needs: a callback may call any function but vmwdt_destroy().
 */
struct vmwdt_host_ops {
    uint32_t size;                                        /* sizeof(struct vmwdt_host_ops) */
    void *opaque;                                         /* passed back to every callback */
    void (*raise_irq)(void *opaque, uint32_t cpu);        /* edge: the vCPU's stall interrupt */
    void (*request_reset)(void *opaque, uint32_t cpu);    /* the stall persisted: reset the VM */
    int64_t (*guest_time_ns)(void *opaque, uint32_t cpu); /* VMWDT_CLOCK_HOST; required there */
    int64_t (*now_ns)(void *opaque);                      /* host time; NULL: CLOCK_MONOTONIC */
    void (*log)(void *opaque, int level, const char *msg); /* syslog levels; NULL: stderr */
};

struct vmwdt_config {
    uint32_t size;      /* sizeof(struct vmwdt_config) */
    uint32_t cpu_count; /* 1 .. VMWDT_MAX_CPUS */
    uint32_t clock;     /* enum vmwdt_clock */
    uint32_t action;    /* enum vmwdt_action */
    uint32_t timers;    /* enum vmwdt_timers */
    uint32_t flags;     /* no flag is defined in 1.0: must be 0 */
};

/* (VMWDT_ABI_MAJOR << 16) | VMWDT_ABI_MINOR of the loaded library. */
VMWDT_EXPORT uint32_t vmwdt_abi_version(void);

/*
 * A static, human-readable description of an error value; accepts -errno or errno.
 * The string is owned by the library and never freed.
 */
VMWDT_EXPORT const char *vmwdt_strerror(int err);

/*
 * Creates a device: awake, every register 0, every vCPU disabled. The library copies *cfg and
 * *ops; both may be freed after the call (ops->opaque must stay valid until destroy).
 * ops may be NULL. Errors: -EINVAL (NULL cfg or out, bad size, cpu_count outside
 * 1..VMWDT_MAX_CPUS, unknown enum value, unknown flag, CLOCK_HOST without guest_time_ns),
 * -ENOMEM. On failure *out is left untouched and nothing is left behind. With
 * VMWDT_TIMERS_THREAD a worker thread that cannot start (pthread_create: EAGAIN) does not fail
 * the call: it is logged once, the device does not watch until a thread can start, and the
 * start is retried at the next enable and, with back-off (1 ms doubling to 100 ms), by every
 * later call on the device; once it runs (logged), every expiry missed meanwhile fires at once.
 */
VMWDT_EXPORT int vmwdt_create(const struct vmwdt_config *cfg, const struct vmwdt_host_ops *ops,
                              vmwdt **out);

/*
 * Stops the worker, closes every descriptor and frees the device. No callback runs after it
 * returns. Must not be called from a callback or concurrently with another call on dev.
 * NULL is a no-op.
 */
VMWDT_EXPORT void vmwdt_destroy(vmwdt *dev);

/*
 * Names the host thread that runs vCPU `cpu`, whose clock (GUEST_TIME, THREAD_CPU, AUTO)
 * measures that vCPU. A clock that needs a thread and has none falls back to MONOTONIC for that
 * vCPU (logged once). May be called again to name another thread. Nothing is kept open: no
 * clock holds a descriptor per vCPU. A thread that vanishes later, or whose clock cannot be
 * read (no descriptor left), falls back to host time for that vCPU, logged once.
 * Errors: -EINVAL (cpu out of range, pid or tid not positive), -ESRCH (no such thread), other
 * -errno from looking its /proc entry up.
 */
VMWDT_EXPORT int vmwdt_set_vcpu_thread(vmwdt *dev, uint32_t cpu, int32_t pid, int32_t tid);

/*
 * A guest write of len bytes at offset (relative to the device's base). Only aligned 4-byte
 * little-endian accesses to an existing vCPU's registers are accepted. May be called from every
 * vCPU thread at once; a vCPU never waits on another vCPU's lock.
 * Errors: -EINVAL for a refused access (NULL dev or data, len != 4, misaligned offset, offset
 * past the last vCPU, a write to CURRENT_CNT, enable or pet while CLOCK_FREQ_HZ is 0); a refused
 * access changes nothing and is logged, rate-limited.
 */
VMWDT_EXPORT int vmwdt_mmio_write(vmwdt *dev, uint64_t offset, const void *data, uint32_t len);

/*
 * A guest read of len bytes at offset into data (little-endian). Errors as for
 * vmwdt_mmio_write(); a refused read fills data[0..len) with zeros (when data is not NULL).
 */
VMWDT_EXPORT int vmwdt_mmio_read(vmwdt *dev, uint64_t offset, void *data, uint32_t len);

/*
 * Stops every countdown, keeping each vCPU's guest-clock budget left; the worker waits idle.
 * Idempotent. Guest writes while asleep are applied; their windows start counting at wake.
 */
VMWDT_EXPORT int vmwdt_sleep(vmwdt *dev);

/* Restarts the countdowns from the budgets kept, on the vCPUs' clocks as they read now. Idempotent. */
VMWDT_EXPORT int vmwdt_wake(vmwdt *dev);

/*
 * Writes the device's state as a JSON document (DESIGN.md section 5) into a new string that
 * the caller frees with vmwdt_free(). Works awake or asleep. Errors: -EINVAL, -ENOMEM.
 */
VMWDT_EXPORT int vmwdt_snapshot_json(vmwdt *dev, char **json);

/*
 * Restores the state from a snapshot document, all or nothing. On success the device is asleep
 * (it counts nothing down before vmwdt_wake()). On failure nothing changed.
 * Errors: -EINVAL (not a valid document, wrong cpu_count, wrong type), -ERANGE (a value out of
 * range), -ENOTSUP (a newer document version), -ENOMEM.
 */
VMWDT_EXPORT int vmwdt_restore_json(vmwdt *dev, const char *json);

/* Frees memory the library returned (vmwdt_snapshot_json()). NULL is a no-op. */
VMWDT_EXPORT void vmwdt_free(void *p);

/*
 * EXTERNAL timers: the host time at which vmwdt_run_due() must next be called; INT64_MAX when
 * nothing is armed (also while asleep, and with THREAD timers).
 */
VMWDT_EXPORT int64_t vmwdt_next_deadline_ns(vmwdt *dev);

/*
 * EXTERNAL timers: handles every expiry due at or before now_ns (host time, the timebase of
 * now_ns()), calling raise_irq / request_reset from the calling thread. Returns how many
 * events (interrupts, reset requests, logged NONE expiries) fired, or -EINVAL (NULL dev, or a
 * device with THREAD timers).
 */
VMWDT_EXPORT int vmwdt_run_due(vmwdt *dev, int64_t now_ns);

/*
 * ABI 1.1 (symbol version VMWDT_1.1). A host that needs these checks vmwdt_abi_version() (minor
 * >= 1) or binds the symbols at VMWDT_1.1, and works with a 1.0 library without them.
 */

/* vmwdt_vcpu_stats(): sums over every vCPU instead of one vCPU's figures. */
#define VMWDT_ALL_CPUS 0xFFFFFFFFu

/*
 * One vCPU's statistics. Counters start at 0 at vmwdt_create(), are kept across sleep and wake,
 * and are not part of the snapshot: a restored device counts from 0.
 */
struct vmwdt_vcpu_stats {
    uint32_t size;         /* in: sizeof(struct vmwdt_vcpu_stats) as the caller compiled it */
    uint32_t status;       /* STATUS as the guest would read it now */
    uint32_t clock;        /* enum vmwdt_clock measuring this vCPU now (AUTO resolved) */
    uint32_t action;       /* enum vmwdt_action in force */
    uint64_t pets;         /* accepted LOAD_CNT writes */
    uint64_t enables;      /* accepted STATUS writes that enabled a disabled vCPU */
    uint64_t refused;      /* refused guest accesses (VMWDT_ALL_CPUS: every one, those past the
                              last vCPU included) */
    uint64_t interrupts;   /* raise_irq calls */
    uint64_t resets;       /* request_reset calls */
    int64_t window_ns;     /* length of the current window; 0 when not counting */
    int64_t remaining_ns;  /* guest time left in the current window; -1 when not counting */
};

/*
 * Fills *out with vCPU cpu's statistics, or with sums over every vCPU for VMWDT_ALL_CPUS
 * (status, window_ns and remaining_ns then 0; clock and action the device's). The caller sets
 * out->size; the library writes the fields it knows that fit in it, zeroes the rest up to
 * out->size and never writes past it. It holds a vCPU's lock only while it copies that vCPU's
 * state, and may be called from any thread, callbacks included.
 * Errors: -EINVAL (NULL dev or out, cpu out of range, out->size below 8 or not on a field
 * boundary); nothing is written then.
 */
VMWDT_EXPORT int vmwdt_vcpu_stats(vmwdt *dev, uint32_t cpu, struct vmwdt_vcpu_stats *out);

/*
 * Sets the action (enum vmwdt_action) from the next expiry on. May be called from any thread,
 * callbacks included. A countdown in its second window then ends as the new action allows
 * (IRQ_THEN_RESET and RESET: a reset request; IRQ_ONLY and NONE: logged). The action is not
 * part of the snapshot. Errors: -EINVAL (NULL dev, unknown action).
 */
VMWDT_EXPORT int vmwdt_set_action(vmwdt *dev, uint32_t action);

#ifdef __cplusplus
}
#endif

#endif /* VMWDT_H */
