/*
 * The checkpoint primitives of vmwdt-vmm on a running real-mode VM: vmm_vcpu_pause_all() parks
 * every vCPU thread out of KVM_RUN (and the guest stands still while parked), the vCPU and VM
 * state reads back and writes back, and after vmm_vcpu_resume_all() the guest goes on petting
 * without a stall. A state of a VM of another kind is refused.
 *
 * usage: vmm_state_test PLUGIN; exit 0 pass, 1 fail, 77 skip (KVM unusable here).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vmm.h"
#include "vmm_kvm.h"
#include "vmm_layout.h"
#include "vmm_output.h"
#include "vmm_realmode.h"
#include "vmm_state.h"
#include "vmm_vcpu.h"
#include "vmm_watchdog.h"

#define CPUS 2

static int failures;

#define CHECK(cond, ...)                                          \
    do {                                                          \
        if (!(cond)) {                                            \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);           \
            printf(__VA_ARGS__);                                  \
            printf("\n");                                         \
            failures++;                                           \
        }                                                         \
    } while (0)

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* The TSC value of the vCPU's next pet, which the guest moves on at every pet. */
static uint64_t next_pet(struct vmm *vm, uint32_t cpu)
{
    uint64_t v;
    memcpy(&v, vm->ram + VMM_PERCPU_BASE + cpu * VMM_PERCPU_SIZE + VMM_PC_NEXT, sizeof(v));
    return v;
}

static void init_vm(struct vmm *vm, const char *plugin)
{
    memset(vm, 0, sizeof(*vm));
    vm->kvm_fd = vm->vm_fd = -1;
    vm->reset_cpu = -1;
    pthread_mutex_init(&vm->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&vm->cond, &attr);
    pthread_condattr_destroy(&attr);
    vm->opt.cpus = CPUS;
    vm->opt.freq = 10;
    vm->opt.timeout = 2;
    vm->opt.clock = VMWDT_CLOCK_AUTO;
    vm->opt.plugin_path = plugin;
}

static void check_states(struct vmm *vm)
{
    static struct vmm_vcpu_state before[CPUS], again[CPUS];
    struct vmm_vm_state vms;
    char err[256];
    uint64_t next[CPUS];
    for (uint32_t i = 0; i < CPUS; i++) {
        next[i] = next_pet(vm, i);
        CHECK(vmm_vcpu_state_get(&vm->vcpus[i], &before[i], err, sizeof(err)) == 0, "%s", err);
        CHECK(!(before[i].sregs.cr0 & 1), "vCPU %u is not in real mode", i);
        CHECK(before[i].sregs.cs.base == VMM_CODE_BASE, "vCPU %u: CS base 0x%llx", i,
              (unsigned long long)before[i].sregs.cs.base);
        CHECK(before[i].msr_count > 0, "vCPU %u: no MSR read", i);
        CHECK(!before[i].has_lapic, "a lapic without an irqchip");
    }
    CHECK(vmm_vm_state_get(vm, &vms, err, sizeof(err)) == 0, "%s", err);
    /* Parked for longer than a pet interval (1 s): nothing moves. */
    sleep_ms(1200);
    for (uint32_t i = 0; i < CPUS; i++) {
        CHECK(next_pet(vm, i) == next[i], "vCPU %u petted while parked", i);
        CHECK(vmm_vcpu_state_get(&vm->vcpus[i], &again[i], err, sizeof(err)) == 0, "%s", err);
        CHECK(again[i].regs.rip == before[i].regs.rip, "vCPU %u ran while parked", i);
    }
    for (uint32_t i = 0; i < CPUS; i++)
        CHECK(vmm_vcpu_state_set(&vm->vcpus[i], &before[i], err, sizeof(err)) == 0, "%s", err);
    CHECK(vmm_vm_state_set(vm, &vms, err, sizeof(err)) == 0, "%s", err);
    before[0].has_lapic = true;
    CHECK(vmm_vcpu_state_set(&vm->vcpus[0], &before[0], err, sizeof(err)) == -1,
          "a state with a lapic was taken by a VM without an irqchip");
    CHECK(strstr(err, "irqchip") != NULL, "message: %s", err);
    vms.has_irqchip = true;
    CHECK(vmm_vm_state_set(vm, &vms, err, sizeof(err)) == -1, "a VM state with an irqchip was taken");
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: vmm_state_test PLUGIN\n");
        return 1;
    }
    static struct vmm vm;
    init_vm(&vm, argv[1]);
    char err[256] = "";
    vmm_output_set_start(vmm_now_ns());
    int rc = vmm_kvm_open(&vm, err, sizeof(err));
    if (rc == VMM_EXIT_USAGE) {
        printf("skip: %s\n", err);
        return 77;
    }
    if (rc != 0 || vmm_realmode_create(&vm, err, sizeof(err)) < 0 ||
        vmm_kvm_create_vcpus(&vm, err, sizeof(err)) < 0 ||
        vmm_realmode_boot(&vm, err, sizeof(err)) < 0 || vmm_vcpu_init() < 0 ||
        vmm_watchdog_open(&vm) != 0 || vmm_vcpu_start_all(&vm) != 0) {
        printf("FAIL: cannot start the VM: %s\n", err);
        return 1;
    }
    sleep_ms(1500);
    vmm_vcpu_pause_all(&vm);
    pthread_mutex_lock(&vm.lock);
    CHECK(vm.parked == CPUS && vm.alive == CPUS, "parked %u of %u", vm.parked, vm.alive);
    pthread_mutex_unlock(&vm.lock);
    check_states(&vm);
    uint64_t next[CPUS];
    for (uint32_t i = 0; i < CPUS; i++)
        next[i] = next_pet(&vm, i);
    vmm_vcpu_resume_all(&vm);
    /* Two and a half pet intervals, more than the 2 s window: the guest must go on petting. */
    sleep_ms(2500);
    for (uint32_t i = 0; i < CPUS; i++)
        CHECK(next_pet(&vm, i) != next[i], "vCPU %u did not pet after the resume", i);
    pthread_mutex_lock(&vm.lock);
    CHECK(vm.parked == 0, "%u vCPUs still parked", vm.parked);
    CHECK(vm.reset_cpu < 0 && !vm.failed, "reset %d, failed %d", vm.reset_cpu, vm.failed);
    for (uint32_t i = 0; i < CPUS; i++)
        CHECK(!vm.vcpus[i].irq_pending, "vCPU %u: a stall interrupt", i);
    pthread_mutex_unlock(&vm.lock);
    vmwdt_plugin_sleep(vm.plugin, vm.dev);
    vmm_vcpu_stop_all(&vm);
    vmwdt_plugin_destroy(vm.plugin, vm.dev);
    vmwdt_plugin_close(vm.plugin);
    vmm_kvm_close(&vm);
    printf("%s\n", failures ? "FAIL" : "PASS");
    return failures ? 1 : 0;
}
