/*
 * Instructions that KVM's emulator gives up on. On a KVM whose vCPUs run guest supervisor code
 * through the instruction emulator (PVM without a PVM-aware guest kernel), an instruction that
 * raises an exception by design, such as the INT3 of the kernel's text patching or the UD2 of
 * BUG() and WARN(), ends KVM_RUN with KVM_INTERNAL_ERROR_EMULATION. The VMM does for a short,
 * explicit list of them what the CPU would do, and leaves everything else a fatal error.
 */
#ifndef VMM_EMULATE_H
#define VMM_EMULATE_H

#include <stddef.h>

#include "vmm.h"

/*
 * Handles the KVM_EXIT_INTERNAL_ERROR in v->run on the vCPU's own thread. Returns 1 when the
 * instruction was one of the list and the vCPU may run on, 0 when it was not (why then says
 * what the instruction was and where), -1 when reading the vCPU's state failed (why says how).
 */
int vmm_emulate_failure(struct vmm_vcpu *v, char *why, size_t why_len);

#endif /* VMM_EMULATE_H */
