/*
 * Saving and restoring a vCPU through KVM's state ioctls. What is carried: the general
 * registers (KVM_GET_REGS), the special registers with segments, control registers and EFER
 * (KVM_GET_SREGS), the FPU/SSE/AVX state (KVM_GET_XSAVE, or KVM_GET_FPU where XSAVE is
 * missing) and XCR0 (KVM_GET_XCRS), pending exceptions, interrupts and NMIs with the
 * interrupt shadow (KVM_GET_VCPU_EVENTS), the debug registers, the MP state, and the MSRs a
 * guest can have changed, IA32_TSC among them.
 *
 * The restore order follows what KVM checks: MP state, registers, special registers, FPU,
 * XCRs, debug registers, MSRs, and the events last, since setting the registers can drop a
 * pending event. IA32_TSC is the last MSR written, so that the guest's TSC resumes at the
 * value it had when its vCPU stopped.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include "vmm_vcpu_state.h"

#define MSR_IA32_TSC 0x10

/* The MSRs carried, IA32_TSC last; those KVM cannot read here are left out at save time. */
static const uint32_t carried_msrs[] = {
    0x174,      /* IA32_SYSENTER_CS */
    0x175,      /* IA32_SYSENTER_ESP */
    0x176,      /* IA32_SYSENTER_EIP */
    0x1a0,      /* IA32_MISC_ENABLE */
    0x277,      /* IA32_PAT */
    0xc0000081, /* STAR */
    0xc0000082, /* LSTAR */
    0xc0000083, /* CSTAR */
    0xc0000084, /* SFMASK */
    0xc0000102, /* KERNEL_GS_BASE */
    0xc0000103, /* TSC_AUX */
    MSR_IA32_TSC,
};

struct one_msr {
    struct kvm_msrs head;
    struct kvm_msr_entry entry;
};

static int get_msr(int fd, uint32_t index, uint64_t *value)
{
    struct one_msr m;
    memset(&m, 0, sizeof(m));
    m.head.nmsrs = 1;
    m.entry.index = index;
    if (ioctl(fd, KVM_GET_MSRS, &m) != 1)
        return -1;
    *value = m.entry.data;
    return 0;
}

int vmm_vcpu_state_settle(struct vmm_vcpu *v)
{
    v->run->immediate_exit = 1;
    int r = ioctl(v->fd, KVM_RUN, 0);
    v->run->immediate_exit = 0;
    return r == 0 ? 0 : -1;
}

static int fail(char *err, size_t errlen, uint32_t cpu, const char *what)
{
    snprintf(err, errlen, "vCPU %u: %s failed: %s", cpu, what, strerror(errno));
    return -1;
}

int vmm_vcpu_state_save(struct vmm *vm, struct vmm_vcpu *v, struct vmm_ckpt_vcpu *out,
                        char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    int fd = v->fd;
    uint32_t i = v->index;
    if (ioctl(fd, KVM_GET_REGS, &out->regs) < 0)
        return fail(err, errlen, i, "KVM_GET_REGS");
    if (ioctl(fd, KVM_GET_SREGS, &out->sregs) < 0)
        return fail(err, errlen, i, "KVM_GET_SREGS");
    if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE) > 0) {
        if (ioctl(fd, KVM_GET_XSAVE, &out->xsave) < 0)
            return fail(err, errlen, i, "KVM_GET_XSAVE");
        out->has |= VMM_CKPT_HAS_XSAVE;
    } else if (ioctl(fd, KVM_GET_FPU, &out->fpu) < 0) {
        return fail(err, errlen, i, "KVM_GET_FPU");
    }
    if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XCRS) > 0) {
        if (ioctl(fd, KVM_GET_XCRS, &out->xcrs) < 0)
            return fail(err, errlen, i, "KVM_GET_XCRS");
        out->has |= VMM_CKPT_HAS_XCRS;
    }
    if (ioctl(fd, KVM_GET_VCPU_EVENTS, &out->events) < 0)
        return fail(err, errlen, i, "KVM_GET_VCPU_EVENTS");
    if (ioctl(fd, KVM_GET_DEBUGREGS, &out->debugregs) < 0)
        return fail(err, errlen, i, "KVM_GET_DEBUGREGS");
    if (ioctl(fd, KVM_GET_MP_STATE, &out->mp_state) < 0)
        return fail(err, errlen, i, "KVM_GET_MP_STATE");
    for (size_t k = 0; k < sizeof(carried_msrs) / sizeof(carried_msrs[0]); k++) {
        uint64_t value;
        if (get_msr(fd, carried_msrs[k], &value) < 0) {
            if (carried_msrs[k] == MSR_IA32_TSC)
                return fail(err, errlen, i, "reading IA32_TSC");
            continue;
        }
        out->msrs[out->msr_count++] = (struct kvm_msr_entry){.index = carried_msrs[k],
                                                             .data = value};
    }
    return 0;
}

int vmm_vcpu_state_restore(struct vmm_vcpu *v, const struct vmm_ckpt_vcpu *in, char *err,
                           size_t errlen)
{
    int fd = v->fd;
    uint32_t i = v->index;
    struct kvm_mp_state mp = in->mp_state;
    if (ioctl(fd, KVM_SET_MP_STATE, &mp) < 0)
        return fail(err, errlen, i, "KVM_SET_MP_STATE");
    if (ioctl(fd, KVM_SET_REGS, &in->regs) < 0)
        return fail(err, errlen, i, "KVM_SET_REGS");
    if (ioctl(fd, KVM_SET_SREGS, &in->sregs) < 0)
        return fail(err, errlen, i, "KVM_SET_SREGS");
    if ((in->has & VMM_CKPT_HAS_XSAVE) ? ioctl(fd, KVM_SET_XSAVE, &in->xsave) < 0
                                       : ioctl(fd, KVM_SET_FPU, &in->fpu) < 0)
        return fail(err, errlen, i, "restoring the FPU state");
    if ((in->has & VMM_CKPT_HAS_XCRS) && ioctl(fd, KVM_SET_XCRS, &in->xcrs) < 0)
        return fail(err, errlen, i, "KVM_SET_XCRS");
    if (ioctl(fd, KVM_SET_DEBUGREGS, &in->debugregs) < 0)
        return fail(err, errlen, i, "KVM_SET_DEBUGREGS");
    struct {
        struct kvm_msrs head;
        struct kvm_msr_entry entries[VMM_CKPT_MAX_MSRS];
    } msrs;
    memset(&msrs, 0, sizeof(msrs));
    msrs.head.nmsrs = in->msr_count;
    memcpy(msrs.entries, in->msrs, in->msr_count * sizeof(in->msrs[0]));
    int set = ioctl(fd, KVM_SET_MSRS, &msrs);
    if (set != (int)in->msr_count) {
        snprintf(err, errlen, "vCPU %u: KVM_SET_MSRS set %d of %u MSRs (MSR 0x%x refused)", i,
                 set, in->msr_count, set >= 0 && set < (int)in->msr_count
                                         ? in->msrs[set].index : 0);
        return -1;
    }
    struct kvm_vcpu_events events = in->events;
    if (ioctl(fd, KVM_SET_VCPU_EVENTS, &events) < 0)
        return fail(err, errlen, i, "KVM_SET_VCPU_EVENTS");
    return 0;
}

uint64_t vmm_vcpu_state_tsc(struct vmm_vcpu *v)
{
    uint64_t value;
    return get_msr(v->fd, MSR_IA32_TSC, &value) == 0 ? value : 0;
}

void vmm_vm_clock_save(struct vmm *vm, struct vmm_ckpt_clock *out)
{
    out->tsc_khz = vm->tsc_khz;
    struct kvm_clock_data clock;
    memset(&clock, 0, sizeof(clock));
    if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_ADJUST_CLOCK) > 0 &&
        ioctl(vm->vm_fd, KVM_GET_CLOCK, &clock) == 0) {
        out->kvmclock = clock.clock;
        out->kvmclock_flags = clock.flags;
    }
}

int vmm_vm_clock_restore(struct vmm *vm, const struct vmm_ckpt_clock *in, char *err,
                         size_t errlen)
{
    if (in->tsc_khz != vm->tsc_khz) {
        for (uint32_t i = 0; i < vm->opt.cpus; i++) {
            if (ioctl(vm->vcpus[i].fd, KVM_SET_TSC_KHZ, (unsigned long)in->tsc_khz) < 0) {
                snprintf(err, errlen, "clock: the guest's TSC runs at %u kHz, this host's at "
                         "%u kHz, and KVM cannot scale it here: %s", in->tsc_khz,
                         vm->tsc_khz, strerror(errno));
                return -1;
            }
        }
        vm->tsc_khz = in->tsc_khz;
    }
    if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_ADJUST_CLOCK) > 0) {
        struct kvm_clock_data clock;
        memset(&clock, 0, sizeof(clock));
        clock.clock = in->kvmclock;
        if (ioctl(vm->vm_fd, KVM_SET_CLOCK, &clock) < 0) {
            snprintf(err, errlen, "clock: KVM_SET_CLOCK failed: %s", strerror(errno));
            return -1;
        }
    }
    return 0;
}
