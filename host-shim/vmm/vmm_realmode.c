/*
 * The built-in real-mode guest: its memory, its registers, the auxiliary device through which
 * it reports and bounds its halts, and the delivery of the stall interrupt.
 *
 * There is no in-kernel irqchip, so the host injects the interrupt itself with KVM_INTERRUPT:
 * when the guest cannot take one yet it asks KVM for an interrupt window.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include "vmm_kvm.h"
#include "vmm_layout.h"
#include "vmm_output.h"
#include "vmm_realmode.h"
#include "vmm_vcpu.h"

extern const uint8_t vmm_guest_code[];
extern const uint8_t vmm_guest_code_end[];

static volatile uint32_t *command_of(struct vmm_vcpu *v)
{
    uint64_t area = VMM_PERCPU_BASE + (uint64_t)v->index * VMM_PERCPU_SIZE;
    return (volatile uint32_t *)(v->vm->ram + area + VMM_PC_COMMAND);
}

/* A message the guest wrote to VMM_AUX_REPORT: at most 120 printable bytes from guest RAM. */
static void aux_report(struct vmm_vcpu *v, uint32_t gpa)
{
    char msg[121];
    size_t n = 0;
    while (n < sizeof(msg) - 1 && gpa + n < VMM_RAM_SIZE) {
        char c = (char)v->vm->ram[gpa + n];
        if (c == '\0')
            break;
        msg[n++] = (c >= 0x20 && c < 0x7f) ? c : '?';
    }
    msg[n] = '\0';
    vmm_event(v->index, "guest reported: %s", msg);
}

/* The auxiliary device; every other address outside the watchdog reads as zeros. */
static void rm_mmio(struct vmm_vcpu *v, uint64_t addr, bool is_write, uint8_t *data,
                    uint32_t len)
{
    if (!is_write) {
        memset(data, 0, len);
        return;
    }
    if (addr < VMM_AUX_BASE || addr >= VMM_AUX_BASE + VMM_AUX_SIZE)
        return;
    uint32_t value = 0;
    memcpy(&value, data, len < 4 ? len : 4);
    if (addr - VMM_AUX_BASE == VMM_AUX_REPORT)
        aux_report(v, value);
    else if (addr - VMM_AUX_BASE == VMM_AUX_SLEEP_MS)
        v->sleep_ns = vmm_now_ns() + (int64_t)value * 1000000;
}

/* Port I/O goes nowhere: reads see zeros. */
static void rm_pio(struct vmm_vcpu *v, uint16_t port, bool is_write, uint8_t *data,
                   uint32_t size, uint32_t count)
{
    (void)v;
    (void)port;
    if (!is_write)
        memset(data, 0, (size_t)size * count);
}

/* Injects the pending stall interrupt when the guest can take it, else asks for a window. */
static int rm_before_run(struct vmm_vcpu *v)
{
    struct vmm *vm = v->vm;
    pthread_mutex_lock(&vm->lock);
    bool pending = v->irq_pending;
    pthread_mutex_unlock(&vm->lock);
    struct kvm_run *run = v->run;
    if (!pending) {
        run->request_interrupt_window = 0;
        return 0;
    }
    if (!run->ready_for_interrupt_injection) {
        run->request_interrupt_window = 1;
        return 0;
    }
    struct kvm_interrupt irq = {.irq = VMM_STALL_VECTOR};
    if (ioctl(v->fd, KVM_INTERRUPT, &irq) < 0) {
        vmm_vcpu_fail(v, "KVM_INTERRUPT failed");
        return -1;
    }
    pthread_mutex_lock(&vm->lock);
    v->irq_pending = false;
    pthread_mutex_unlock(&vm->lock);
    run->request_interrupt_window = 0;
    return 0;
}

/* A halted vCPU wakes for an interrupt it can take or for a new command. */
static bool rm_wake(struct vmm_vcpu *v)
{
    if (v->irq_pending && v->run->if_flag)
        return true;
    return __atomic_load_n(command_of(v), __ATOMIC_ACQUIRE) != VMM_CMD_RUN;
}

static void rm_hang(struct vmm_vcpu *v, bool irqs_on)
{
    uint32_t command = irqs_on ? VMM_CMD_HANG_IRQS_ON : VMM_CMD_HANG_IRQS_OFF;
    __atomic_store_n(command_of(v), command, __ATOMIC_RELEASE);
}

/* The guest's next pet is a TSC value in its per-CPU area: it moves with the TSC. */
static void rm_tsc_moved(struct vmm_vcpu *v, int64_t delta)
{
    uint64_t area = VMM_PERCPU_BASE + (uint64_t)v->index * VMM_PERCPU_SIZE;
    uint64_t next;
    memcpy(&next, v->vm->ram + area + VMM_PC_NEXT, sizeof(next));
    next += (uint64_t)delta;
    memcpy(v->vm->ram + area + VMM_PC_NEXT, &next, sizeof(next));
}

static const struct vmm_guest_ops realmode_ops = {
    .mmio = rm_mmio,
    .pio = rm_pio,
    .before_run = rm_before_run,
    .wake = rm_wake,
    .hang = rm_hang,
    .tsc_moved = rm_tsc_moved,
};

/* Guest RAM: [0, WDT_BASE) and [AUX_BASE + AUX_SIZE, RAM_SIZE); the devices sit in the hole. */
int vmm_realmode_create(struct vmm *vm, char *err, size_t errlen)
{
    vm->guest = &realmode_ops;
    vm->wdt_base = VMM_WDT_BASE;
    vm->wdt_size = VMM_WDT_SIZE;
    if (vmm_kvm_alloc_ram(vm, VMM_RAM_SIZE, err, errlen) < 0)
        return -1;
    uint64_t high = VMM_AUX_BASE + VMM_AUX_SIZE;
    if (vmm_kvm_map_ram(vm, 0, 0, VMM_WDT_BASE, err, errlen) < 0 ||
        vmm_kvm_map_ram(vm, 1, high, VMM_RAM_SIZE - high, err, errlen) < 0)
        return -1;
    return 0;
}

static void put_u32(struct vmm *vm, uint64_t gpa, uint32_t value)
{
    memcpy(vm->ram + gpa, &value, sizeof(value));
}

/* Real mode at VMM_CODE_BASE:0, with the vCPU index and its per-CPU area in registers. */
static int setup_registers(struct vmm_vcpu *v)
{
    struct kvm_sregs sregs;
    if (ioctl(v->fd, KVM_GET_SREGS, &sregs) < 0)
        return -1;
    sregs.cs.selector = VMM_CODE_BASE >> 4;
    sregs.cs.base = VMM_CODE_BASE;
    struct kvm_segment *data[] = {&sregs.ds, &sregs.es, &sregs.fs, &sregs.gs};
    for (size_t i = 0; i < sizeof(data) / sizeof(data[0]); i++) {
        data[i]->selector = 0;
        data[i]->base = 0;
    }
    uint64_t stack = VMM_STACK_BASE + (uint64_t)v->index * VMM_STACK_SIZE;
    sregs.ss.selector = (uint16_t)(stack >> 4);
    sregs.ss.base = stack;
    if (ioctl(v->fd, KVM_SET_SREGS, &sregs) < 0)
        return -1;

    struct kvm_regs regs;
    memset(&regs, 0, sizeof(regs));
    regs.rip = 0;
    regs.rflags = 0x2;
    regs.rsp = VMM_STACK_SIZE;
    regs.rsi = v->index;
    regs.rbx = VMM_PERCPU_BASE + (uint64_t)v->index * VMM_PERCPU_SIZE;
    return ioctl(v->fd, KVM_SET_REGS, &regs);
}

int vmm_realmode_boot(struct vmm *vm, char *err, size_t errlen)
{
    size_t code_size = (size_t)(vmm_guest_code_end - vmm_guest_code);
    memcpy(vm->ram + VMM_CODE_BASE, vmm_guest_code, code_size);
    put_u32(vm, VMM_CTL_TSC_KHZ, vm->tsc_khz);
    put_u32(vm, VMM_CTL_FREQ, vm->opt.freq);
    put_u32(vm, VMM_CTL_TIMEOUT, vm->opt.timeout);
    for (uint32_t i = 0; i < vm->opt.cpus; i++) {
        if (setup_registers(&vm->vcpus[i]) < 0) {
            snprintf(err, errlen, "cannot set up vCPU %u: %s", i, strerror(errno));
            return -1;
        }
    }
    return 0;
}
