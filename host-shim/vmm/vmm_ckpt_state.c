/*
 * The KVM calls a checkpoint adds to vmm_state.c: settling a vCPU before it parks, reading its
 * TSC, and matching the TSC frequency on a destination.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include "vmm_ckpt_state.h"

#define MSR_IA32_TSC 0x10

int vmm_ckpt_settle(struct vmm_vcpu *v)
{
    v->run->immediate_exit = 1;
    int r = ioctl(v->fd, KVM_RUN, 0);
    v->run->immediate_exit = 0;
    return r == 0 ? 0 : -1;
}

uint64_t vmm_ckpt_read_tsc(struct vmm_vcpu *v)
{
    struct {
        struct kvm_msrs head;
        struct kvm_msr_entry entry;
    } m;
    memset(&m, 0, sizeof(m));
    m.head.nmsrs = 1;
    m.entry.index = MSR_IA32_TSC;
    return ioctl(v->fd, KVM_GET_MSRS, &m) == 1 ? m.entry.data : 0;
}

int vmm_ckpt_set_tsc_khz(struct vmm *vm, uint32_t khz, char *err, size_t errlen)
{
    if (khz == vm->tsc_khz)
        return 0;
    for (uint32_t i = 0; i < vm->opt.cpus; i++) {
        if (ioctl(vm->vcpus[i].fd, KVM_SET_TSC_KHZ, (unsigned long)khz) < 0) {
            snprintf(err, errlen, "clock: the guest's TSC runs at %u kHz, this host's at %u "
                     "kHz, and KVM cannot scale it here: %s", khz, vm->tsc_khz,
                     strerror(errno));
            return -1;
        }
    }
    vm->tsc_khz = khz;
    return 0;
}
