/*
 * The source side of a checkpoint: the command line's rules, and taking the running VM apart
 * into a checkpoint (or resuming it when the checkpoint goes nowhere). The stream's format is
 * vmm_ckpt_format.h's business, moving it vmm_migrate.c's, and the destination's
 * vmm_restore.c's.
 *
 * Time: the guest times its pets with RDTSC, so each vCPU's state, IA32_TSC in it, is read
 * right after the vCPUs stop (vmm_restore.c puts it back). The watchdog measures each vCPU's
 * own guest clock, which stands still while it does not run; the plugin's document carries
 * each budget and restore re-bases it at wake.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmm_checkpoint.h"
#include "vmm_output.h"
#include "vmm_state.h"
#include "vmm_trace.h"
#include "vmm_vcpu.h"

const char *vmm_checkpoint_check_cli(const struct vmm_options *o)
{
    unsigned saves = 0, migrations = 0;
    for (unsigned i = 0; i < o->action_count; i++) {
        saves += o->actions[i].kind == VMM_ACT_SAVE;
        migrations += o->actions[i].kind == VMM_ACT_MIGRATE;
    }
    if (saves > 1)
        return "--save-at may be given once";
    if ((saves == 1) != (o->save_path != NULL))
        return "--save-at and --save go together";
    if (o->restore_path && o->migrate_fd >= 0)
        return "--restore and --migrate-fd exclude each other";
    if (o->kernel && (saves || migrations || o->restore_path || o->migrate_fd >= 0))
        return "--kernel: checkpoints and migration cover the built-in guest only (a Linux "
               "guest's serial port and sampled clocks are not carried, and its in-kernel "
               "interrupt controller, PIT and kvmclock are not restored and tested yet)";
    return NULL;
}

/* The VMM's own state of each vCPU, read while the vCPUs are parked. */
static void save_host_state(struct vmm *vm, struct vmm_ckpt *c, int64_t stop_ns)
{
    pthread_mutex_lock(&vm->lock);
    for (uint32_t i = 0; i < vm->opt.cpus; i++) {
        const struct vmm_vcpu *v = &vm->vcpus[i];
        int64_t left = -1;
        if (v->halted && v->sleep_ns != INT64_MAX)
            left = v->sleep_ns > stop_ns ? v->sleep_ns - stop_ns : 0;
        c->host[i] = (struct vmm_ckpt_host_vcpu){.irq_pending = v->irq_pending,
                                                 .halted = v->halted, .paused = v->paused,
                                                 .wdt_enabled = v->wdt_enabled,
                                                 .sleep_left_ns = left};
    }
    pthread_mutex_unlock(&vm->lock);
}

/* The trace so far, read back from its file (length bytes). */
static int read_trace_text(const char *path, uint64_t length, struct vmm_ckpt_trace *t)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    t->text = malloc((size_t)length + 1);
    ssize_t n = t->text ? pread(fd, t->text, (size_t)length, 0) : -1;
    close(fd);
    if (n != (ssize_t)length)
        return -1;
    t->text[length] = '\0';
    t->text_len = (size_t)length;
    return 0;
}

/* vmwdt_sleep, then vmwdt_snapshot_json, timed; the trace records both. */
static int save_plugin(struct vmm *vm, struct vmm_ckpt *c, char *err, size_t errlen)
{
    int64_t t0 = vmm_now_ns();
    int rc = vmwdt_plugin_sleep(vm->plugin, vm->dev);
    char *json = NULL;
    if (rc == 0)
        rc = vmwdt_plugin_snapshot_json(vm->plugin, vm->dev, &json);
    c->clock.plugin_ns = vmm_now_ns() - t0;
    if (rc < 0) {
        snprintf(err, errlen, "the plugin's sleep or snapshot failed: %s",
                 vmwdt_plugin_strerror(vm->plugin, rc));
        return -1;
    }
    c->plugin_json = strdup(json);
    c->plugin_len = strlen(json);
    vmwdt_plugin_free(vm->plugin, json);
    if (vm->trace) {
        vmm_trace_op(vm->trace, "sleep");
        vmm_trace_op(vm->trace, "snapshot");
    }
    return c->plugin_json ? 0 : -1;
}

static int save_trace(struct vmm *vm, struct vmm_ckpt *c, bool trace_text, char *err,
                      size_t errlen)
{
    if (!vm->trace)
        return 0;
    c->has_trace = true;
    c->trace.in_place = !trace_text;
    if (vmm_trace_position(vm->trace, &c->trace.last_t, &c->trace.file_length) < 0 ||
        (trace_text && read_trace_text(vm->opt.record_path, c->trace.file_length,
                                       &c->trace) < 0)) {
        snprintf(err, errlen, "cannot read back the trace %s: %s", vm->opt.record_path,
                 strerror(errno));
        return -1;
    }
    return 0;
}

int vmm_checkpoint_take(struct vmm *vm, struct vmm_ckpt *c, bool trace_text, char *err,
                        size_t errlen)
{
    memset(c, 0, sizeof(*c));
    vmm_vcpu_pause_all(vm);
    int64_t stop_ns = vmm_now_ns();
    pthread_mutex_lock(&vm->lock);
    bool over = vm->stop || vm->failed;
    pthread_mutex_unlock(&vm->lock);
    if (over) {
        snprintf(err, errlen, "the VM failed while it was being stopped");
        return -1;
    }
    c->hdr = (struct vmm_ckpt_header){.cpus = vm->opt.cpus, .freq = vm->opt.freq,
                                      .timeout = vm->opt.timeout, .clock = vm->opt.clock,
                                      .ram_size = vm->ram_size};
    c->vcpu_size = sizeof(struct vmm_vcpu_state);
    c->vm_size = sizeof(struct vmm_vm_state);
    c->vcpus = calloc(vm->opt.cpus, c->vcpu_size);
    c->vm_state = calloc(1, c->vm_size);
    c->host = calloc(vm->opt.cpus, sizeof(*c->host));
    if (!c->vcpus || !c->vm_state || !c->host) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    /* The vCPUs first: their TSCs are read as close to their stop as can be. */
    struct vmm_vcpu_state *states = (struct vmm_vcpu_state *)c->vcpus;
    for (uint32_t i = 0; i < vm->opt.cpus; i++) {
        if (vmm_vcpu_state_get(&vm->vcpus[i], &states[i], err, errlen) < 0)
            return -1;
    }
    if (vmm_vm_state_get(vm, (struct vmm_vm_state *)c->vm_state, err, errlen) < 0)
        return -1;
    c->clock.tsc_khz = vm->tsc_khz;
    c->clock.run_start_ns = vmm_output_start();
    c->clock.run_elapsed_ns = stop_ns - vmm_output_start();
    c->clock.stop_ns = stop_ns;
    save_host_state(vm, c, stop_ns);
    c->memory = vm->ram;
    if (save_plugin(vm, c, err, errlen) < 0)
        return -1;
    return save_trace(vm, c, trace_text, err, errlen);
}

void vmm_checkpoint_release(struct vmm_ckpt *c)
{
    c->memory = NULL; /* the VM's own RAM */
    vmm_ckpt_free(c);
}

void vmm_checkpoint_resume(struct vmm *vm)
{
    if (vm->trace)
        vmm_trace_op(vm->trace, "wake");
    vmwdt_plugin_wake(vm->plugin, vm->dev);
    vmm_vcpu_resume_all(vm);
}
