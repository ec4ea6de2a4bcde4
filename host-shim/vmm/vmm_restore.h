/*
 * The destination of a checkpoint (--restore, or the process --migrate-at starts): what it
 * takes from the checkpoint, loading it, the trace, and starting the vCPUs. The source side
 * is vmm_checkpoint.h.
 */
#ifndef VMM_RESTORE_H
#define VMM_RESTORE_H

#include <stddef.h>

#include "vmm.h"
#include "vmm_ckpt_format.h"

/*
 * Takes --cpus, --freq, --timeout and --clock from c, refusing (-1 and a message) values
 * given on the command line that differ from it.
 */
int vmm_restore_options(struct vmm_options *o, const struct vmm_ckpt *c, char *err,
                        size_t errlen);

/*
 * Puts c into a VM whose vCPUs exist and have never run (guest RAM, the clocks, the VM's
 * and every vCPU's KVM state, the VMM's own vCPU state), all records checked first, and
 * restores the plugin's document into the
 * device. *plugin_ns: the time vmwdt_restore_json took. 0; -1 with a message when KVM or the
 * plugin refused (the VM must not run then).
 */
int vmm_restore_load(struct vmm *vm, const struct vmm_ckpt *c, int64_t *plugin_ns, char *err,
                     size_t errlen);

/*
 * Continues c's trace at opt.record_path, when --record is given. 0, or -1 with
 * a message (the checkpoint holds no trace to continue, the file cannot be written).
 */
int vmm_restore_trace(struct vmm *vm, const struct vmm_ckpt *c, int64_t start_ns, char *err,
                      size_t errlen);

/*
 * Starts the vCPU threads, held out of KVM_RUN until each has named itself to
 * the plugin, then wakes the device and lets them run. Just before, each vCPU's TSC is
 * compared with the value saved: whatever it gained that KVM would not take back (some hosts
 * ignore IA32_TSC writes) the guest's TSC deadlines are moved by. *leap_ticks: vCPU 0's gain.
 * *resumed_ns: when the vCPUs were let run; *plugin_ns: the time vmwdt_wake took. 0, or -1
 * when a thread could not start.
 */
int vmm_restore_start(struct vmm *vm, const struct vmm_ckpt *c, int64_t *leap_ticks,
                      int64_t *resumed_ns, int64_t *plugin_ns);

/* The destination's timings, for vmm_restore_report. */
struct vmm_restore_times {
    int64_t read_ns;      /* --restore: when reading the file began */
    int64_t read_done_ns; /* the whole checkpoint was read and valid */
    int64_t loaded_ns;    /* it was in KVM and the plugin */
    int64_t tsc_leap;     /* ticks vCPU 0's TSC gained that KVM kept (deadlines moved) */
    int64_t restore_ns;   /* vmwdt_restore_json */
    int64_t wake_ns;      /* vmwdt_wake */
    int64_t resumed_ns;   /* the vCPUs were let run */
};

/* Prints the destination's lines: whose run it carries on, the downtime, the plugin's part. */
void vmm_restore_report(struct vmm *vm, const struct vmm_ckpt *c,
                        const struct vmm_restore_times *t);

#endif /* VMM_RESTORE_H */
