/*
 * Taking a checkpoint of the running VM and putting one into a new VM. The stream's format
 * is vmm_ckpt_format.h's business; moving it is vmm_migrate.c's.
 *
 * Time: the guest times its pets with RDTSC, so each vCPU's IA32_TSC is saved right after
 * the vCPUs stop and written back last before they run again. The guest therefore sees its
 * TSC advance only by what passes between those two moments in each process (the saving and
 * the starting), never backwards and never by the time the checkpoint spent in a file or on
 * the wire. The watchdog measures each vCPU's own guest clock, which stands still while it
 * does not run; the plugin's document carries each budget and restore re-bases it at wake.
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
#include "vmm_trace.h"
#include "vmm_vcpu.h"
#include "vmm_ckpt_state.h"
#include "vmm_state.h"

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
               "guest's in-kernel interrupt controller, PIT and kvmclock state are not carried)";
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

int vmm_checkpoint_options(struct vmm_options *o, const struct vmm_ckpt *c, char *err,
                           size_t errlen)
{
    const struct vmm_ckpt_header *h = &c->hdr;
    if (o->have_cpus && o->cpus != h->cpus) {
        snprintf(err, errlen, "header: the checkpoint is for %u vCPUs, --cpus %u was given",
                 h->cpus, o->cpus);
        return -1;
    }
    if (h->cpus > VMM_MAX_CPUS) {
        snprintf(err, errlen, "header: the checkpoint is for %u vCPUs, this VMM runs at most %d",
                 h->cpus, VMM_MAX_CPUS);
        return -1;
    }
    if ((o->have_freq && o->freq != h->freq) || (o->have_timeout && o->timeout != h->timeout)) {
        snprintf(err, errlen, "header: the checkpoint's guest uses --freq %u --timeout %u, "
                 "--freq %u --timeout %u were given", h->freq, h->timeout, o->freq, o->timeout);
        return -1;
    }
    for (unsigned i = 0; i < o->action_count; i++) {
        if (o->actions[i].cpu >= h->cpus) {
            snprintf(err, errlen, "vCPU %u does not exist (the checkpoint has %u)",
                     o->actions[i].cpu, h->cpus);
            return -1;
        }
    }
    o->cpus = h->cpus;
    o->freq = h->freq;
    o->timeout = h->timeout;
    if (!o->have_clock)
        o->clock = (enum vmwdt_clock)h->clock;
    return 0;
}

static const struct vmm_vcpu_state *vcpu_state(const struct vmm_ckpt *c, uint32_t i)
{
    return (const struct vmm_vcpu_state *)(c->vcpus + (size_t)i * c->vcpu_size);
}

/* Whether a bool read from a stream is one. */
static bool is_bool(const bool *b)
{
    return *(const uint8_t *)b <= 1;
}

/*
 * Every record, checked before any is applied, so that a checkpoint KVM would refuse halfway
 * is refused whole: the MSR counts, the flags, and an irqchip only where this VM has one.
 */
static int check_records(struct vmm *vm, const struct vmm_ckpt *c, char *err, size_t errlen)
{
    const struct vmm_vm_state *s = (const struct vmm_vm_state *)c->vm_state;
    if (!is_bool(&s->has_irqchip) || s->has_irqchip != vm->irqchip) {
        snprintf(err, errlen, "section 'VM state': a VM %s an in-kernel irqchip",
                 *(const uint8_t *)&s->has_irqchip ? "with" : "without");
        return -1;
    }
    for (uint32_t i = 0; i < vm->opt.cpus; i++) {
        const struct vmm_vcpu_state *v = vcpu_state(c, i);
        if (v->msr_count > VMM_STATE_MAX_MSRS || !is_bool(&v->has_xsave) ||
            !is_bool(&v->has_lapic) || v->has_lapic != vm->irqchip) {
            snprintf(err, errlen, "section 'vCPU %u': a field is out of range", i);
            return -1;
        }
    }
    return 0;
}

/* The VMM's own vCPU state: a pending interrupt, a halt and what was left of its bound. */
static void load_host_state(struct vmm *vm, const struct vmm_ckpt *c)
{
    int64_t now = vmm_now_ns();
    for (uint32_t i = 0; i < vm->opt.cpus; i++) {
        struct vmm_vcpu *v = &vm->vcpus[i];
        const struct vmm_ckpt_host_vcpu *h = &c->host[i];
        v->irq_pending = h->irq_pending;
        v->halted = h->halted;
        v->wdt_enabled = h->wdt_enabled;
        v->sleep_ns = h->halted && h->sleep_left_ns >= 0 ? now + h->sleep_left_ns : INT64_MAX;
        /* A pause belongs to the source's timeline: only a migration carries it on. */
        v->paused = h->paused && vm->opt.migrate_fd >= 0;
        v->clock_running = false;
        /* The halt's wake-up test reads IF from the last exit, which this kvm_run never had. */
        v->run->if_flag = (vcpu_state(c, i)->regs.rflags >> 9) & 1;
    }
}

int vmm_checkpoint_load(struct vmm *vm, const struct vmm_ckpt *c, int64_t *plugin_ns,
                        char *err, size_t errlen)
{
    if (c->hdr.ram_size != vm->ram_size) {
        snprintf(err, errlen, "header: %llu bytes of guest RAM, this guest has %llu",
                 (unsigned long long)c->hdr.ram_size, (unsigned long long)vm->ram_size);
        return -1;
    }
    if (check_records(vm, c, err, errlen) < 0)
        return -1;
    memcpy(vm->ram, c->memory, vm->ram_size);
    if (vmm_ckpt_set_tsc_khz(vm, c->clock.tsc_khz, err, errlen) < 0 ||
        vmm_vm_state_set(vm, (const struct vmm_vm_state *)c->vm_state, err, errlen) < 0)
        return -1;
    for (uint32_t i = 0; i < vm->opt.cpus; i++) {
        if (vmm_vcpu_state_set(&vm->vcpus[i], vcpu_state(c, i), err, errlen) < 0)
            return -1;
    }
    load_host_state(vm, c);
    int64_t t0 = vmm_now_ns();
    int rc = vmwdt_plugin_restore_json(vm->plugin, vm->dev, c->plugin_json);
    *plugin_ns = vmm_now_ns() - t0;
    if (rc < 0) {
        snprintf(err, errlen, "section 'plugin document': the plugin refused it: %s",
                 vmwdt_plugin_strerror(vm->plugin, rc));
        return -1;
    }
    return 0;
}

int vmm_checkpoint_trace(struct vmm *vm, const struct vmm_ckpt *c, int64_t start_ns,
                         char *err, size_t errlen)
{
    const char *path = vm->opt.record_path;
    if (!path)
        return 0;
    if (!c->has_trace) {
        snprintf(err, errlen, "--record: the checkpoint holds no trace to continue (record "
                 "the source with --record too)");
        return -1;
    }
    const struct vmm_ckpt_trace *t = &c->trace;
    /* t goes on from the source's last record whatever this process's start. */
    int64_t trace_start = t->in_place ? start_ns : start_ns - t->last_t;
    vm->trace = vmm_trace_continue(path, vm->opt.cpus, trace_start, t->last_t,
                                   t->in_place ? NULL : t->text, t->text_len, t->file_length);
    if (!vm->trace) {
        snprintf(err, errlen, "--record %s: %s", path,
                 errno == ESTALE ? "the file is not the one the source was writing"
                                 : strerror(errno));
        return -1;
    }
    vmm_trace_op(vm->trace, "restore");
    return 0;
}

/* The IA32_TSC a vCPU had when saved; 0 when its record lacks it. */
static uint64_t saved_tsc(const struct vmm_vcpu_state *s)
{
    for (uint32_t i = 0; i < s->msr_count; i++) {
        if (s->msrs[i].index == 0x10)
            return s->msrs[i].data;
    }
    return 0;
}

/*
 * What each parked vCPU's TSC gained over its saved value: a guest that did not run must see
 * none of it, so where KVM kept it the guest's deadlines move by as much.
 */
static int64_t settle_tsc(struct vmm *vm, const struct vmm_ckpt *c)
{
    int64_t leap0 = 0;
    for (uint32_t i = 0; i < vm->opt.cpus; i++) {
        uint64_t now = vmm_ckpt_read_tsc(&vm->vcpus[i]);
        uint64_t then = saved_tsc(vcpu_state(c, i));
        int64_t leap = now && then ? (int64_t)(now - then) : 0;
        if (i == 0)
            leap0 = leap;
        if (leap != 0 && vm->guest->tsc_moved)
            vm->guest->tsc_moved(&vm->vcpus[i], leap);
    }
    return leap0;
}

int vmm_checkpoint_start(struct vmm *vm, const struct vmm_ckpt *c, int64_t *leap_ticks,
                         int64_t *resumed_ns, int64_t *plugin_ns)
{
    /* Each thread names itself to the plugin, then parks until the device is awake. */
    pthread_mutex_lock(&vm->lock);
    vm->pause_all = true;
    pthread_mutex_unlock(&vm->lock);
    if (vmm_vcpu_start_all(vm) < 0)
        return -1;
    vmm_vcpu_pause_all(vm);
    *leap_ticks = settle_tsc(vm, c);
    if (vm->trace)
        vmm_trace_op(vm->trace, "wake");
    int64_t t0 = vmm_now_ns();
    vmwdt_plugin_wake(vm->plugin, vm->dev);
    *resumed_ns = vmm_now_ns();
    *plugin_ns = *resumed_ns - t0;
    vmm_vcpu_resume_all(vm);
    return 0;
}
