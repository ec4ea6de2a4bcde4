/*
 * The state of a VM that KVM holds, as plain structs, for a checkpoint: each vCPU's registers
 * and the rest of its architectural state in one struct vmm_vcpu_state, and the VM-wide
 * in-kernel devices and clock in struct vmm_vm_state. Guest RAM is vm->ram.
 *
 * Every function here wants the vCPUs out of KVM_RUN: call it between vmm_vcpu_pause_all()
 * and vmm_vcpu_resume_all(), or before the vCPU threads start. A destination creates the VM
 * with the same guest set-up (vmm_*_create, vmm_kvm_create_vcpus), then fills RAM and calls
 * the *_set functions instead of the guest's boot.
 */
#ifndef VMM_STATE_H
#define VMM_STATE_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stddef.h>

#include "vmm.h"

#define VMM_STATE_MAX_MSRS 32

struct vmm_vcpu_state {
    struct kvm_regs regs;
    struct kvm_sregs sregs;
    struct kvm_fpu fpu;
    struct kvm_xsave xsave;        /* when has_xsave */
    struct kvm_xcrs xcrs;          /* when has_xsave */
    struct kvm_lapic_state lapic;  /* when has_lapic (the in-kernel irqchip) */
    struct kvm_mp_state mp_state;
    struct kvm_vcpu_events events;
    struct kvm_debugregs debugregs;
    uint32_t msr_count;
    struct kvm_msr_entry msrs[VMM_STATE_MAX_MSRS];
    bool has_xsave;
    bool has_lapic;
};

struct vmm_vm_state {
    struct kvm_clock_data clock;
    struct kvm_irqchip pic_master; /* the three below when has_irqchip */
    struct kvm_irqchip pic_slave;
    struct kvm_irqchip ioapic;
    struct kvm_pit_state2 pit;
    bool has_irqchip;
};

/* Reads or writes one vCPU's state; 0, or -1 with a message naming the step that failed. */
int vmm_vcpu_state_get(struct vmm_vcpu *v, struct vmm_vcpu_state *s, char *err, size_t errlen);
int vmm_vcpu_state_set(struct vmm_vcpu *v, const struct vmm_vcpu_state *s, char *err,
                       size_t errlen);

/* Reads or writes the VM-wide state; 0, or -1 with a message. */
int vmm_vm_state_get(struct vmm *vm, struct vmm_vm_state *s, char *err, size_t errlen);
int vmm_vm_state_set(struct vmm *vm, const struct vmm_vm_state *s, char *err, size_t errlen);

#endif /* VMM_STATE_H */
