/*
 * vmwdt-vmm: a small KVM virtual machine monitor that runs real vCPUs against a vmwdt plugin.
 * Shared declarations of its parts: the command line (vmm_main.c), the VM and its vCPU threads
 * (vmm_kvm.c) and the trace recorder (vmm_trace.c).
 */
#ifndef VMM_H
#define VMM_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "vmwdt_loader.h"

/* Exit statuses. */
#define VMM_EXIT_OK    0
#define VMM_EXIT_ERROR 1
#define VMM_EXIT_USAGE 2  /* bad arguments, or /dev/kvm missing or unusable */
#define VMM_EXIT_RESET 36 /* the watchdog asked for a reset (crosvm's status) */

#define VMM_MAX_ACTIONS 64

enum vmm_action_kind { VMM_ACT_HANG, VMM_ACT_PAUSE, VMM_ACT_RESUME };

/* Something the host does to one vCPU at a chosen time. */
struct vmm_action {
    enum vmm_action_kind kind;
    uint32_t cpu;
    int64_t at_ns;       /* since the start of the run */
    uint32_t command;    /* VMM_ACT_HANG: VMM_CMD_HANG_IRQS_OFF or _ON */
    int64_t duration_ns; /* VMM_ACT_PAUSE: for the message */
};

struct vmm_options {
    uint32_t cpus;
    int64_t run_ns;
    uint32_t freq;
    uint32_t timeout;
    enum vmwdt_clock clock;
    const char *plugin_path; /* NULL: the loader's default */
    const char *record_path; /* NULL: no trace */
    struct vmm_action actions[VMM_MAX_ACTIONS];
    unsigned action_count;
};

struct vmm;

/* One vCPU and its host thread. Fields marked (lock) are guarded by vmm.lock. */
struct vmm_vcpu {
    struct vmm *vm;
    uint32_t index;
    int fd;
    struct kvm_run *run;
    size_t run_size;
    pthread_t thread;
    bool thread_started;
    volatile uint32_t *command; /* VMM_PC_COMMAND in guest RAM */

    bool irq_pending;     /* (lock) the stall interrupt waits for delivery */
    bool paused;          /* (lock) the host keeps the vCPU out of KVM_RUN */
    bool halted;          /* the guest executed HLT; only the vCPU thread touches it */
    int64_t sleep_ns;     /* the guest's bound on its next HLT (VMM_AUX_SLEEP_MS) */
    bool clock_running;   /* the guest clock as recorded in the trace */

    /* Figures for the summary, written by the vCPU thread before it ends. */
    pid_t tid;
    int64_t in_run_ns;    /* wall time spent inside KVM_RUN */
    int64_t thread_cpu_ns;
    long long utime_ticks, stime_ticks, guest_ticks; /* /proc/<pid>/task/<tid>/stat */
    bool stats_valid;
};

struct vmm {
    struct vmm_options opt;
    int kvm_fd;
    int vm_fd;
    uint8_t *ram;
    uint32_t tsc_khz;
    struct vmm_vcpu *vcpus;
    int64_t start_ns; /* CLOCK_MONOTONIC at the start of the run */

    pthread_mutex_t lock;
    pthread_cond_t cond; /* broadcast on every change of the (lock) fields */
    bool stop;           /* (lock) the run is over: every vCPU thread ends */
    int reset_cpu;       /* (lock) the vCPU whose stall asked for a reset, or -1 */
    int failed;          /* (lock) a vCPU thread hit an error the run cannot go on with */
    int stop_signal;     /* (lock) SIGINT or SIGTERM asked to end the run early, or 0 */
    bool signals_done;   /* (lock) the VMM is ending: a signal taken now is not a stop request */

    struct vmwdt_plugin *plugin;
    vmwdt *dev;
    struct vmm_trace *trace; /* NULL without --record */
};

/* Host time (CLOCK_MONOTONIC) in nanoseconds, and the same since the start of the run. */
int64_t vmm_now_ns(void);
int64_t vmm_elapsed_ns(const struct vmm *vm);

/* Prints "[   s.mmm] vCPU n: <message>" as one line; safe from every thread. */
void vmm_event(struct vmm *vm, uint32_t cpu, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * vmm_kvm.c. vmm_kvm_open() returns 0 or VMM_EXIT_USAGE (KVM missing or unusable, with a
 * message) or VMM_EXIT_ERROR; it fills kvm_fd, vm_fd, ram, tsc_khz and the vCPUs.
 */
int vmm_kvm_open(struct vmm *vm, char *err, size_t errlen);
int vmm_kvm_start_vcpus(struct vmm *vm);
void vmm_kvm_kick(struct vmm_vcpu *v); /* call with vm->lock held, after changing a field */
void vmm_kvm_stop_vcpus(struct vmm *vm);
void vmm_kvm_close(struct vmm *vm);

/* vmm_trace.c: DESIGN.md section 6 traces. Every function is safe from every thread. */
struct vmm_trace *vmm_trace_open(const char *path, uint32_t cpus, int64_t start_ns);
void vmm_trace_write(struct vmm_trace *tr, uint64_t offset, const uint8_t *data, uint32_t len);
void vmm_trace_read(struct vmm_trace *tr, uint64_t offset, uint32_t len);
void vmm_trace_guest(struct vmm_trace *tr, uint32_t cpu, bool running);
int vmm_trace_close(struct vmm_trace *tr); /* writes the end record; 0 or -errno */

#endif /* VMM_H */
