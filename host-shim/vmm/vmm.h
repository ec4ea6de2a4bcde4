/*
 * vmwdt-vmm's VM: the state that its parts share. The parts form a tree: vmm_output and
 * vmm_trace at the bottom, then this header, then the KVM set-up (vmm_kvm), the vCPU threads
 * (vmm_vcpu), the watchdog device (vmm_watchdog), each guest (vmm_realmode, ...), the
 * checkpoints (the stream codec vmm_ckpt_* alone beside them; vmm_checkpoint for the source,
 * vmm_restore for the destination, vmm_migrate moving them), and vmm_main.c at the top. A guest plugs into the vCPU loop through struct vmm_guest_ops, so the
 * loop knows no guest.
 */
#ifndef VMM_H
#define VMM_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "vmm_options.h"
#include "vmwdt_loader.h"

struct vmm;
struct vmm_vcpu;
struct vmm_trace;

/*
 * What one kind of guest adds to the vCPU loop. Each hook runs on the vCPU's own thread.
 * NULL hooks do nothing.
 */
struct vmm_guest_ops {
    /* An MMIO access outside the watchdog's range; a read fills data. */
    void (*mmio)(struct vmm_vcpu *v, uint64_t addr, bool is_write, uint8_t *data, uint32_t len);
    /* A port I/O exit of count accesses of size bytes each at data; an IN fills data. */
    void (*pio)(struct vmm_vcpu *v, uint16_t port, bool is_write, uint8_t *data, uint32_t size,
                uint32_t count);
    /* Before each KVM_RUN, without vm->lock: delivers what is pending. 0, or -1 to fail. */
    int (*before_run)(struct vmm_vcpu *v);
    /* With vm->lock held: whether a vCPU halted in user space must wake now. */
    bool (*wake)(struct vmm_vcpu *v);
    /* With vm->lock held: --hang on this vCPU, due now (the caller kicks the vCPU). */
    void (*hang)(struct vmm_vcpu *v, bool irqs_on);
    /*
     * A restored vCPU's TSC moved by delta ticks more than the guest saw pass (KVM could not
     * put it back): moves the guest's own TSC deadlines by as much. Called from the main
     * thread while the vCPU is parked.
     */
    void (*tsc_moved)(struct vmm_vcpu *v, int64_t delta);
};

/* Figures for the summary, written by the vCPU thread before it ends. */
struct vmm_vcpu_stats {
    pid_t tid;
    int64_t in_run_ns;    /* wall time spent inside KVM_RUN */
    int64_t thread_cpu_ns;
    long long utime_ticks, stime_ticks, guest_ticks; /* /proc/<pid>/task/<tid>/stat */
    bool valid;
    uint64_t emulated_int3, emulated_ud2; /* instructions the VMM did for KVM's emulator */
};

/* One vCPU and its host thread. Fields marked (lock) are guarded by vm->lock. */
struct vmm_vcpu {
    struct vmm *vm;
    uint32_t index;
    int fd;
    struct kvm_run *run;
    size_t run_size;
    pthread_t thread;
    bool thread_started;

    bool irq_pending;   /* (lock) the stall interrupt waits for delivery */
    bool paused;        /* (lock) --pause: the host keeps the vCPU out of KVM_RUN */
    bool parked;        /* (lock) the thread waits out of KVM_RUN for vm->pause_all */
    bool halted;        /* the guest halted in user space; only the vCPU thread touches it */
    int64_t sleep_ns;   /* when a halted vCPU wakes by itself (host time), or INT64_MAX */
    bool clock_running; /* the guest clock as recorded in the trace */
    bool wdt_enabled;   /* (lock) the guest's last STATUS enable bit for this vCPU */

    struct vmm_vcpu_stats stats;
};

struct vmm {
    struct vmm_options opt;
    int kvm_fd;
    int vm_fd;
    uint8_t *ram;        /* guest-physical 0 .. ram_size, mapped in slots by the guest set-up */
    uint64_t ram_size;
    uint32_t tsc_khz;
    bool irqchip;        /* the in-kernel PIC, IOAPIC, LAPICs and PIT exist */
    struct vmm_vcpu *vcpus;
    uint64_t wdt_base;   /* the watchdog's guest-physical range; every access goes to the plugin */
    uint64_t wdt_size;
    const struct vmm_guest_ops *guest;
    void *guest_data;    /* the guest set-up's own state */

    pthread_mutex_t lock;
    pthread_cond_t cond; /* broadcast on every change of the (lock) fields */
    bool stop;           /* (lock) the run is over: every vCPU thread ends */
    bool pause_all;      /* (lock) every vCPU thread must park out of KVM_RUN */
    uint32_t parked;     /* (lock) vCPU threads parked for pause_all */
    uint32_t alive;      /* (lock) vCPU threads started and not yet ended */
    int reset_cpu;       /* (lock) the vCPU whose stall asked for a reset, or -1 */
    int failed;          /* (lock) a vCPU thread hit an error the run cannot go on with */
    int stop_signal;     /* (lock) SIGINT or SIGTERM asked to end the run early, or 0 */
    /*
     * (lock) Where the times of --seconds, --hang, --pause and --offline count from, since the
     * start of the run: 0, or for a Linux guest the time of its init's ready line (-1 until
     * then), since its boot may take longer than the scenario on a KVM that emulates it.
     */
    int64_t origin_ns;
    bool signals_done;   /* (lock) the VMM is ending: a signal taken now is not a stop request */

    struct vmwdt_plugin *plugin;
    vmwdt *dev;
    struct vmm_trace *trace; /* NULL without --record */
    bool clock_sampled;      /* the trace's guest clocks come from vmm_runclock, not halts */

    /* Checkpoints (vmm_checkpoint.c, vmm_migrate.c); only the main thread writes these. */
    int64_t resume_after_ns; /* a --migrate-at destination: actions up to this time are past */
    bool handed_off;         /* the run goes on in another process (saved or migrated) */
    int handoff_status;      /* then this process's exit status (saved: 0) */
    pid_t handoff_pid;       /* (lock) migrated: the destination, waited for at the end */
};

#endif /* VMM_H */
