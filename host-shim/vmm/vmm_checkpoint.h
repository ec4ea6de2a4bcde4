/*
 * Checkpoints of the whole VM, in the order the plugin's contract gives (DESIGN.md section 4):
 * on the source every vCPU stops out of KVM_RUN, then vmwdt_sleep, then vmwdt_snapshot_json;
 * on the destination vmwdt_create (vmm_watchdog.c), vmwdt_restore_json, the vCPU threads
 * start and name themselves with vmwdt_set_vcpu_thread, then vmwdt_wake, then the vCPUs run.
 */
#ifndef VMM_CHECKPOINT_H
#define VMM_CHECKPOINT_H

#include <stddef.h>

#include "vmm.h"
#include "vmm_ckpt_format.h"

/*
 * The command line's rules for checkpoints: --save-at with --save, at most one --save-at, no
 * --kernel (a Linux guest's in-kernel irqchip, PIT and kvmclock are not carried). NULL when
 * they hold, else what is wrong.
 */
const char *vmm_checkpoint_check_cli(const struct vmm_options *o);

/*
 * Source: stops the VM and fills c with all of it. c->memory points into vm->ram; release c
 * with vmm_checkpoint_release. trace_text: carry the trace written so far (for a file);
 * otherwise only its position (the destination appends to the same file). The VM stays
 * stopped, with its device asleep, until vmm_checkpoint_resume. 0, or -1 with a message.
 */
int vmm_checkpoint_take(struct vmm *vm, struct vmm_ckpt *c, bool trace_text, char *err,
                        size_t errlen);
void vmm_checkpoint_release(struct vmm_ckpt *c);

/* Source: runs the stopped VM on (a refused migration): the device wakes, the vCPUs run. */
void vmm_checkpoint_resume(struct vmm *vm);

/*
 * Destination: takes --cpus, --freq, --timeout and --clock from c, refusing (-1 and a
 * message) values given on the command line that differ from it.
 */
int vmm_checkpoint_options(struct vmm_options *o, const struct vmm_ckpt *c, char *err,
                           size_t errlen);

/*
 * Destination: puts c into a VM whose vCPUs exist and have never run (guest RAM, the clocks,
 * every vCPU's state, the VMM's own vCPU state) and restores the plugin's document into the
 * device. *plugin_ns: the time vmwdt_restore_json took. 0; -1 with a message when KVM or the
 * plugin refused (the VM must not run then).
 */
int vmm_checkpoint_load(struct vmm *vm, const struct vmm_ckpt *c, int64_t *plugin_ns,
                        char *err, size_t errlen);

/*
 * Destination: continues c's trace at opt.record_path, when --record is given. 0, or -1 with
 * a message (the checkpoint holds no trace to continue, the file cannot be written).
 */
int vmm_checkpoint_trace(struct vmm *vm, const struct vmm_ckpt *c, int64_t start_ns,
                         char *err, size_t errlen);

/*
 * Destination: starts the vCPU threads, held out of KVM_RUN until each has named itself to
 * the plugin, then wakes the device and lets them run. Just before, each vCPU's TSC is
 * compared with the value saved: whatever it gained that KVM would not take back (some hosts
 * ignore IA32_TSC writes) the guest's TSC deadlines are moved by. *leap_ticks: vCPU 0's gain.
 * *resumed_ns: when the vCPUs were let run; *plugin_ns: the time vmwdt_wake took. 0, or -1
 * when a thread could not start.
 */
int vmm_checkpoint_start(struct vmm *vm, const struct vmm_ckpt *c, int64_t *leap_ticks,
                         int64_t *resumed_ns, int64_t *plugin_ns);

#endif /* VMM_CHECKPOINT_H */
