/*
 * Instructions that KVM's emulator gives up on (see vmm_emulate.h). The instruction's bytes come
 * from the exit itself where KVM provides them, else from guest RAM through KVM_TRANSLATE of
 * CS:RIP. Each handled instruction does what the CPU does: INT3 is a trap, so the #BP frame
 * holds the address after it; UD2 is a fault, so #UD leaves RIP on it. The exception is
 * injected with KVM_SET_VCPU_EVENTS and delivered by KVM through the guest's IDT on the next
 * KVM_RUN.
 */
#define _GNU_SOURCE
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include "vmm_emulate.h"

#define VEC_UD 6
#define VEC_BP 3
#define INSN_MAX 15

/* Reads up to INSN_MAX bytes at the vCPU's RIP into insn; returns how many, or -1. */
static int insn_bytes(struct vmm_vcpu *v, uint64_t rip, uint8_t *insn)
{
    struct kvm_run *run = v->run;
    if (run->emulation_failure.ndata >= 3 &&
        (run->emulation_failure.flags & KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES) &&
        run->emulation_failure.insn_size > 0) {
        int n = run->emulation_failure.insn_size;
        if (n > INSN_MAX)
            n = INSN_MAX;
        memcpy(insn, run->emulation_failure.insn_bytes, (size_t)n);
        return n;
    }
    /* Byte by byte: the instruction may cross a page boundary. */
    int n = 0;
    for (; n < INSN_MAX; n++) {
        struct kvm_translation tr = {.linear_address = rip + (uint64_t)n};
        if (ioctl(v->fd, KVM_TRANSLATE, &tr) < 0 || !tr.valid ||
            tr.physical_address >= v->vm->ram_size)
            break;
        insn[n] = v->vm->ram[tr.physical_address];
    }
    return n > 0 ? n : -1;
}

/* Makes the guest take exception vector nr (no error code) with RIP at rip. 0 or -1. */
static int raise_exception(struct vmm_vcpu *v, struct kvm_regs *regs, uint64_t rip, uint8_t nr)
{
    struct kvm_vcpu_events ev;
    if (ioctl(v->fd, KVM_GET_VCPU_EVENTS, &ev) < 0)
        return -1;
    if (regs->rip != rip) {
        regs->rip = rip;
        if (ioctl(v->fd, KVM_SET_REGS, regs) < 0)
            return -1;
    }
    ev.exception.injected = 1;
    ev.exception.nr = nr;
    ev.exception.has_error_code = 0;
    ev.exception.error_code = 0;
    ev.exception.pending = 0;
    ev.exception_has_payload = 0;
    ev.exception_payload = 0;
    /* Only the exception changes: keep KVM's NMI and interrupt state as it is. */
    ev.flags = 0;
    return ioctl(v->fd, KVM_SET_VCPU_EVENTS, &ev);
}

int vmm_emulate_failure(struct vmm_vcpu *v, char *why, size_t why_len)
{
    struct kvm_run *run = v->run;
    struct kvm_regs regs;
    if (ioctl(v->fd, KVM_GET_REGS, &regs) < 0) {
        snprintf(why, why_len, "KVM internal error (suberror %u), and KVM_GET_REGS failed",
                 run->internal.suberror);
        return -1;
    }
    uint8_t insn[INSN_MAX];
    int n = run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION
                ? insn_bytes(v, regs.rip, insn)
                : -1;
    if (n >= 1 && insn[0] == 0xcc) {
        v->stats.emulated_int3++;
        if (raise_exception(v, &regs, regs.rip + 1, VEC_BP) == 0)
            return 1;
        snprintf(why, why_len, "cannot inject #BP for the INT3 at RIP 0x%llx",
                 (unsigned long long)regs.rip);
        return -1;
    }
    if (n >= 2 && insn[0] == 0x0f && insn[1] == 0x0b) {
        v->stats.emulated_ud2++;
        if (raise_exception(v, &regs, regs.rip, VEC_UD) == 0)
            return 1;
        snprintf(why, why_len, "cannot inject #UD for the UD2 at RIP 0x%llx",
                 (unsigned long long)regs.rip);
        return -1;
    }
    /* Anything else is fatal: say what KVM reported and the bytes at RIP. */
    int w = snprintf(why, why_len, "KVM internal error (suberror %u", run->internal.suberror);
    for (uint32_t i = 0; i < run->internal.ndata && i < 4 && w < (int)why_len; i++)
        w += snprintf(why + w, why_len - (size_t)w, "%s0x%llx", i ? " " : ", data ",
                      (unsigned long long)run->internal.data[i]);
    if (w < (int)why_len)
        w += snprintf(why + w, why_len - (size_t)w, ") at RIP 0x%llx",
                      (unsigned long long)regs.rip);
    if (n > 0 && w < (int)why_len) {
        w += snprintf(why + w, why_len - (size_t)w, ", instruction");
        for (int i = 0; i < n && i < 8 && w < (int)why_len; i++)
            w += snprintf(why + w, why_len - (size_t)w, " %02x", insn[i]);
    }
    if (run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION && w < (int)why_len)
        snprintf(why + w, why_len - (size_t)w,
                 ": KVM's instruction emulator cannot execute it, and the VMM does not either");
    return 0;
}
