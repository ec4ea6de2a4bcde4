/*
 * The watchdog device and its callbacks. raise_irq prints the event and leaves the interrupt
 * pending on that vCPU, whose thread delivers it (the guest's before_run hook); request_reset
 * ends the run with status 36, as crosvm exits.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <syslog.h>

#include "vmm_output.h"
#include "vmm_vcpu.h"
#include "vmm_watchdog.h"

static void on_raise_irq(void *opaque, uint32_t cpu)
{
    struct vmm *vm = opaque;
    if (cpu >= vm->opt.cpus)
        return;
    pthread_mutex_lock(&vm->lock);
    if (!vm->stop) {
        vmm_event(cpu, "stall interrupt");
        vm->vcpus[cpu].irq_pending = true;
        vmm_vcpu_kick(&vm->vcpus[cpu]);
    }
    pthread_mutex_unlock(&vm->lock);
}

static void on_request_reset(void *opaque, uint32_t cpu)
{
    struct vmm *vm = opaque;
    pthread_mutex_lock(&vm->lock);
    if (!vm->stop && vm->reset_cpu < 0) {
        vmm_event(cpu, "reset requested");
        vm->reset_cpu = (int)cpu;
        pthread_cond_broadcast(&vm->cond);
    }
    pthread_mutex_unlock(&vm->lock);
}

static void on_log(void *opaque, int level, const char *msg)
{
    (void)opaque;
    vmm_print(stderr, level <= LOG_WARNING ? "plugin warning" : "plugin", "%s", msg);
}

int vmm_watchdog_open(struct vmm *vm)
{
    char err[512] = "";
    int rc = vmwdt_plugin_open(vm->opt.plugin_path, 0, &vm->plugin, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "vmwdt-vmm: cannot load the plugin: %s\n", err[0] ? err : "error");
        return VMM_EXIT_ERROR;
    }
    struct vmwdt_config cfg = {
        .size = sizeof(cfg),
        .cpu_count = vm->opt.cpus,
        .clock = (uint32_t)vm->opt.clock,
        .action = VMWDT_ACTION_IRQ_THEN_RESET,
        .timers = VMWDT_TIMERS_THREAD,
    };
    struct vmwdt_host_ops ops = {
        .size = sizeof(ops),
        .opaque = vm,
        .raise_irq = on_raise_irq,
        .request_reset = on_request_reset,
        .log = on_log,
    };
    rc = vmwdt_plugin_create(vm->plugin, &cfg, &ops, &vm->dev);
    if (rc < 0) {
        fprintf(stderr, "vmwdt-vmm: vmwdt_create failed: %s\n",
                vmwdt_plugin_strerror(vm->plugin, rc));
        return VMM_EXIT_ERROR;
    }
    return 0;
}
