/*
 * Reads and writes what KVM holds of a VM for a checkpoint. The order of the writes follows
 * the dependencies between them: the special registers (EFER, CR4, the APIC base) before the
 * MSRs and the local APIC that depend on them, the multiprocessing state and pending events
 * last, so that an AP still waiting for its SIPI stays waiting.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "vmm_state.h"

/*
 * The MSRs a guest keeps state in and that KVM_GET_REGS/SREGS do not carry: TSC, SYSENTER,
 * SYSCALL, the kernel GS base, TSC_AUX, PAT, the MTRR default type, MISC_ENABLE, the TSC
 * deadline, and KVM's paravirtual clock, async page fault, steal time, PV EOI and poll control.
 * Those this KVM does not list are left out.
 */
static const uint32_t wanted_msrs[] = {
    0x10, 0x174, 0x175, 0x176, 0xc0000081, 0xc0000082, 0xc0000083, 0xc0000084, 0xc0000102,
    0xc0000103, 0x277, 0x2ff, 0x1a0, 0x6e0,
    0x4b564d00, 0x4b564d01, 0x4b564d02, 0x4b564d03, 0x4b564d04, 0x4b564d05,
};

static bool kvm_lists_msr(int kvm_fd, uint32_t index)
{
    static struct kvm_msr_list *list;
    if (!list) {
        struct kvm_msr_list probe = {.nmsrs = 0};
        if (ioctl(kvm_fd, KVM_GET_MSR_INDEX_LIST, &probe) < 0 && errno != E2BIG)
            return false;
        struct kvm_msr_list *l = calloc(1, sizeof(*l) + probe.nmsrs * sizeof(l->indices[0]));
        if (!l)
            return false;
        l->nmsrs = probe.nmsrs;
        if (ioctl(kvm_fd, KVM_GET_MSR_INDEX_LIST, l) < 0) {
            free(l);
            return false;
        }
        list = l;
    }
    for (uint32_t i = 0; i < list->nmsrs; i++)
        if (list->indices[i] == index)
            return true;
    return false;
}

struct msr_buffer {
    struct kvm_msrs hdr;
    struct kvm_msr_entry entries[VMM_STATE_MAX_MSRS];
};

static int fail(char *err, size_t errlen, uint32_t cpu, const char *what)
{
    snprintf(err, errlen, "vCPU %u: %s failed: %s", cpu, what, strerror(errno));
    return -1;
}

#define STEP(call, what)                                      \
    do {                                                      \
        if ((call) < 0)                                       \
            return fail(err, errlen, v->index, what);         \
    } while (0)

int vmm_vcpu_state_get(struct vmm_vcpu *v, struct vmm_vcpu_state *s, char *err, size_t errlen)
{
    struct vmm *vm = v->vm;
    memset(s, 0, sizeof(*s));
    STEP(ioctl(v->fd, KVM_GET_REGS, &s->regs), "KVM_GET_REGS");
    STEP(ioctl(v->fd, KVM_GET_SREGS, &s->sregs), "KVM_GET_SREGS");
    STEP(ioctl(v->fd, KVM_GET_FPU, &s->fpu), "KVM_GET_FPU");
    s->has_xsave = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE) > 0;
    if (s->has_xsave) {
        STEP(ioctl(v->fd, KVM_GET_XSAVE, &s->xsave), "KVM_GET_XSAVE");
        STEP(ioctl(v->fd, KVM_GET_XCRS, &s->xcrs), "KVM_GET_XCRS");
    }
    s->has_lapic = vm->irqchip;
    if (s->has_lapic)
        STEP(ioctl(v->fd, KVM_GET_LAPIC, &s->lapic), "KVM_GET_LAPIC");
    STEP(ioctl(v->fd, KVM_GET_MP_STATE, &s->mp_state), "KVM_GET_MP_STATE");
    STEP(ioctl(v->fd, KVM_GET_VCPU_EVENTS, &s->events), "KVM_GET_VCPU_EVENTS");
    STEP(ioctl(v->fd, KVM_GET_DEBUGREGS, &s->debugregs), "KVM_GET_DEBUGREGS");

    struct msr_buffer msrs = {.hdr.nmsrs = 0};
    for (size_t i = 0; i < sizeof(wanted_msrs) / sizeof(wanted_msrs[0]); i++)
        if (kvm_lists_msr(vm->kvm_fd, wanted_msrs[i]))
            msrs.entries[msrs.hdr.nmsrs++].index = wanted_msrs[i];
    int n = ioctl(v->fd, KVM_GET_MSRS, &msrs);
    if (n < 0)
        return fail(err, errlen, v->index, "KVM_GET_MSRS");
    if ((uint32_t)n != msrs.hdr.nmsrs) {
        snprintf(err, errlen, "vCPU %u: KVM_GET_MSRS read %d of %u MSRs (stopped at 0x%x)",
                 v->index, n, msrs.hdr.nmsrs, msrs.entries[n].index);
        return -1;
    }
    s->msr_count = msrs.hdr.nmsrs;
    memcpy(s->msrs, msrs.entries, s->msr_count * sizeof(s->msrs[0]));
    return 0;
}

int vmm_vcpu_state_set(struct vmm_vcpu *v, const struct vmm_vcpu_state *s, char *err,
                       size_t errlen)
{
    if (s->has_lapic != v->vm->irqchip || s->msr_count > VMM_STATE_MAX_MSRS) {
        snprintf(err, errlen, "vCPU %u: the state is of a VM %s an in-kernel irqchip",
                 v->index, s->has_lapic ? "with" : "without");
        return -1;
    }
    STEP(ioctl(v->fd, KVM_SET_SREGS, &s->sregs), "KVM_SET_SREGS");
    STEP(ioctl(v->fd, KVM_SET_REGS, &s->regs), "KVM_SET_REGS");
    if (s->has_xsave) {
        STEP(ioctl(v->fd, KVM_SET_XSAVE, &s->xsave), "KVM_SET_XSAVE");
        STEP(ioctl(v->fd, KVM_SET_XCRS, &s->xcrs), "KVM_SET_XCRS");
    } else {
        STEP(ioctl(v->fd, KVM_SET_FPU, &s->fpu), "KVM_SET_FPU");
    }
    struct msr_buffer msrs = {.hdr.nmsrs = s->msr_count};
    memcpy(msrs.entries, s->msrs, s->msr_count * sizeof(s->msrs[0]));
    int n = ioctl(v->fd, KVM_SET_MSRS, &msrs);
    if (n < 0)
        return fail(err, errlen, v->index, "KVM_SET_MSRS");
    if ((uint32_t)n != s->msr_count) {
        snprintf(err, errlen, "vCPU %u: KVM_SET_MSRS wrote %d of %u MSRs (stopped at 0x%x)",
                 v->index, n, s->msr_count, s->msrs[n].index);
        return -1;
    }
    if (s->has_lapic)
        STEP(ioctl(v->fd, KVM_SET_LAPIC, &s->lapic), "KVM_SET_LAPIC");
    STEP(ioctl(v->fd, KVM_SET_DEBUGREGS, &s->debugregs), "KVM_SET_DEBUGREGS");
    STEP(ioctl(v->fd, KVM_SET_MP_STATE, &s->mp_state), "KVM_SET_MP_STATE");
    STEP(ioctl(v->fd, KVM_SET_VCPU_EVENTS, &s->events), "KVM_SET_VCPU_EVENTS");
    return 0;
}

static int vm_fail(char *err, size_t errlen, const char *what)
{
    snprintf(err, errlen, "%s failed: %s", what, strerror(errno));
    return -1;
}

int vmm_vm_state_get(struct vmm *vm, struct vmm_vm_state *s, char *err, size_t errlen)
{
    memset(s, 0, sizeof(*s));
    if (ioctl(vm->vm_fd, KVM_GET_CLOCK, &s->clock) < 0)
        return vm_fail(err, errlen, "KVM_GET_CLOCK");
    s->has_irqchip = vm->irqchip;
    if (!s->has_irqchip)
        return 0;
    s->pic_master.chip_id = KVM_IRQCHIP_PIC_MASTER;
    s->pic_slave.chip_id = KVM_IRQCHIP_PIC_SLAVE;
    s->ioapic.chip_id = KVM_IRQCHIP_IOAPIC;
    if (ioctl(vm->vm_fd, KVM_GET_IRQCHIP, &s->pic_master) < 0 ||
        ioctl(vm->vm_fd, KVM_GET_IRQCHIP, &s->pic_slave) < 0 ||
        ioctl(vm->vm_fd, KVM_GET_IRQCHIP, &s->ioapic) < 0)
        return vm_fail(err, errlen, "KVM_GET_IRQCHIP");
    if (ioctl(vm->vm_fd, KVM_GET_PIT2, &s->pit) < 0)
        return vm_fail(err, errlen, "KVM_GET_PIT2");
    return 0;
}

int vmm_vm_state_set(struct vmm *vm, const struct vmm_vm_state *s, char *err, size_t errlen)
{
    if (s->has_irqchip != vm->irqchip) {
        snprintf(err, errlen, "the state is of a VM %s an in-kernel irqchip",
                 s->has_irqchip ? "with" : "without");
        return -1;
    }
    if (s->has_irqchip) {
        if (ioctl(vm->vm_fd, KVM_SET_IRQCHIP, &s->pic_master) < 0 ||
            ioctl(vm->vm_fd, KVM_SET_IRQCHIP, &s->pic_slave) < 0 ||
            ioctl(vm->vm_fd, KVM_SET_IRQCHIP, &s->ioapic) < 0)
            return vm_fail(err, errlen, "KVM_SET_IRQCHIP");
        if (ioctl(vm->vm_fd, KVM_SET_PIT2, &s->pit) < 0)
            return vm_fail(err, errlen, "KVM_SET_PIT2");
    }
    /* The guest's clock goes on from where it stood: only the value, no flags. */
    struct kvm_clock_data clock = {.clock = s->clock.clock};
    if (ioctl(vm->vm_fd, KVM_SET_CLOCK, &clock) < 0)
        return vm_fail(err, errlen, "KVM_SET_CLOCK");
    return 0;
}
