/*
 * Checkpoints of the whole VM, in the order the plugin's contract gives (DESIGN.md section 4):
 * on the source every vCPU stops out of KVM_RUN, then vmwdt_sleep, then vmwdt_snapshot_json;
 * on the destination (vmm_restore.h) vmwdt_create (vmm_watchdog.c), vmwdt_restore_json, the
 * vCPU threads start and name themselves with vmwdt_set_vcpu_thread, then vmwdt_wake, then
 * the vCPUs run.
 */
#ifndef VMM_CHECKPOINT_H
#define VMM_CHECKPOINT_H

#include <stddef.h>

#include "vmm.h"
#include "vmm_ckpt_format.h"

/*
 * The command line's rules for checkpoints: --save-at with --save, at most one --save-at, no
 * --kernel (a Linux guest's host-side devices are not carried, and its irqchip, PIT and
 * kvmclock, which vmm_state.c reads, are not restored and tested yet). NULL when they hold,
 * else what is wrong.
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

#endif /* VMM_CHECKPOINT_H */
