/*
 * Moving a checkpoint (DESIGN.md section 8): --save-at writes it to a file, --migrate-at
 * streams it to a new vmwdt-vmm process over a socket pair, --restore and the destination of
 * --migrate-at read it. Each prints a line with the downtime and the plugin's part of it (the
 * destination's through vmm_restore_report).
 */
#ifndef VMM_MIGRATE_H
#define VMM_MIGRATE_H

#include "vmm.h"
#include "vmm_ckpt_format.h"

/*
 * --save-at: checkpoints the running VM into opt.save_path. 0 with vm->handed_off set (the
 * run ends, status 0), or VMM_EXIT_ERROR with a message (the VM resumes and the run ends).
 */
int vmm_migrate_save(struct vmm *vm);

/*
 * --migrate-at: starts the destination, streams the checkpoint to it and, once it has taken
 * the VM, sets vm->handed_off (the caller ends this VM, then calls vmm_migrate_wait). When
 * the destination refuses or fails first, the VM resumes here and the run goes on.
 */
void vmm_migrate_out(struct vmm *vm);

/*
 * The destination's exit status once it ends; a destination killed by a signal kills this
 * process by the same signal, so the command ends as one run would.
 */
int vmm_migrate_wait(struct vmm *vm);

/*
 * Reads this process's checkpoint: the --restore file, or the --migrate-fd stream once the
 * source hears that this process is ready. Checks it against the command line. 0, or
 * VMM_EXIT_USAGE after a message naming what is wrong.
 */
int vmm_migrate_read(struct vmm *vm, struct vmm_ckpt *c);

/* Destination of --migrate-at: tells the source that the VM is taken. 0, or VMM_EXIT_ERROR. */
int vmm_migrate_accept(struct vmm *vm);

#endif /* VMM_MIGRATE_H */
