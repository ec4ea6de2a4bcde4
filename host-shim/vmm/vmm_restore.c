/*
 * The destination side of a checkpoint: the options it fixes, the records checked whole and
 * loaded into a VM that has never run, the trace carried on, and the start of the vCPUs in the
 * order the plugin's contract gives (vmwdt_restore_json done, threads named, vmwdt_wake, run).
 *
 * Time: each vCPU's IA32_TSC is written back with its state; just before the vCPUs run, what
 * each TSC gained over its saved value anyway (KVM on some hosts ignores the write) moves the
 * guest's own TSC deadlines, so the guest sees neither a jump back nor a leap by the downtime.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmm_ckpt_state.h"
#include "vmm_output.h"
#include "vmm_restore.h"
#include "vmm_state.h"
#include "vmm_trace.h"
#include "vmm_vcpu.h"

#define MS(ns) ((double)(ns) / 1e6)

int vmm_restore_options(struct vmm_options *o, const struct vmm_ckpt *c, char *err,
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

int vmm_restore_load(struct vmm *vm, const struct vmm_ckpt *c, int64_t *plugin_ns, char *err,
                     size_t errlen)
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

int vmm_restore_trace(struct vmm *vm, const struct vmm_ckpt *c, int64_t start_ns, char *err,
                      size_t errlen)
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

int vmm_restore_start(struct vmm *vm, const struct vmm_ckpt *c, int64_t *leap_ticks,
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

void vmm_restore_report(struct vmm *vm, const struct vmm_ckpt *c,
                        const struct vmm_restore_times *t)
{
    const struct vmm_ckpt_clock *k = &c->clock;
    char tsc[160];
    snprintf(tsc, sizeof(tsc), "the guest's TSC deadlines moved by the %+.3f ms its TSC gained "
             "while stopped", (double)t->tsc_leap / vm->tsc_khz);
    if (vm->opt.restore_path) {
        vmm_note("restored %s (%u vCPUs, checkpointed at %.3f s of its run): downtime %.3f ms "
                 "in this process (reading it to the first vCPU running again), of which the "
                 "plugin's restore %.3f ms and wake %.3f ms; %s",
                 vm->opt.restore_path, c->hdr.cpus, (double)k->run_elapsed_ns / VMM_NS_PER_S,
                 MS(t->resumed_ns - t->read_ns), MS(t->restore_ns), MS(t->wake_ns), tsc);
        return;
    }
    vmm_note("pid %d carries the run of pid %d on", (int)getpid(), (int)getppid());
    vmm_note("migrated: downtime %.3f ms (last vCPU stopped to first vCPU running again), of "
             "which the plugin %.3f ms (sleep and snapshot %.3f ms, restore %.3f ms, wake "
             "%.3f ms); %s", MS(t->resumed_ns - k->stop_ns),
             MS(k->plugin_ns + t->restore_ns + t->wake_ns), MS(k->plugin_ns),
             MS(t->restore_ns), MS(t->wake_ns), tsc);
    vmm_note("migrated: after the stop, the checkpoint was read and valid at %.3f ms, loaded "
             "at %.3f ms, the vCPU threads named and parked at %.3f ms",
             MS(t->read_done_ns - k->stop_ns), MS(t->loaded_ns - k->stop_ns),
             MS(t->resumed_ns - t->wake_ns - k->stop_ns));
}
