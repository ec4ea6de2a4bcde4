/*
 * The vCPU threads. Each runs KVM_RUN in a loop, forwards every access to the watchdog's range
 * to the plugin (and to the trace), hands other exits to the guest's hooks, and waits on
 * vm->cond while the host pauses it, parks it, or the guest halts in user space.
 *
 * A vCPU spinning in guest code is made to leave KVM_RUN with SIGUSR1, whose handler sets
 * kvm_run.immediate_exit so that a signal that lands just before KVM_RUN is not lost.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "vmm_emulate.h"
#include "vmm_output.h"
#include "vmm_stats.h"
#include "vmm_trace.h"
#include "vmm_vcpu.h"
#include "vmm_ckpt_state.h"

#define VMM_KICK_SIGNAL SIGUSR1

/* The kvm_run of the vCPU that the current thread runs, for the kick signal's handler. */
static __thread struct kvm_run *tls_run;

static void kick_handler(int sig)
{
    (void)sig;
    if (tls_run)
        tls_run->immediate_exit = 1;
}

int vmm_vcpu_init(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = kick_handler;
    sigemptyset(&sa.sa_mask);
    return sigaction(VMM_KICK_SIGNAL, &sa, NULL);
}

void vmm_vcpu_fail(struct vmm_vcpu *v, const char *what)
{
    struct vmm *vm = v->vm;
    fprintf(stderr, "vmwdt-vmm: vCPU %u: %s\n", v->index, what);
    pthread_mutex_lock(&vm->lock);
    vm->failed = 1;
    pthread_cond_broadcast(&vm->cond);
    pthread_mutex_unlock(&vm->lock);
}

/*
 * Records whether the vCPU's guest clock runs. A vCPU out of KVM_RUN (halted, paused or
 * parked) adds neither guest time nor thread CPU time, so for those clocks the trace freezes
 * the replayer's clock too; a MONOTONIC clock never stops, so nothing is recorded for it.
 */
static void vcpu_set_clock(struct vmm_vcpu *v, bool running)
{
    struct vmm *vm = v->vm;
    if (v->clock_running == running)
        return;
    v->clock_running = running;
    if (vm->trace && vm->opt.clock != VMWDT_CLOCK_MONOTONIC && !vm->clock_sampled)
        vmm_trace_guest(vm->trace, v->index, running);
}

static void to_timespec(int64_t ns, struct timespec *ts)
{
    ts->tv_sec = (time_t)(ns / VMM_NS_PER_S);
    ts->tv_nsec = (long)(ns % VMM_NS_PER_S);
}

/* With the lock held: whether a vCPU halted in user space must wake up. */
static bool halt_over(struct vmm_vcpu *v)
{
    if (v->vm->guest->wake && v->vm->guest->wake(v))
        return true;
    return vmm_now_ns() >= v->sleep_ns;
}

static void set_parked(struct vmm_vcpu *v, bool parked)
{
    if (v->parked == parked)
        return;
    v->parked = parked;
    if (parked)
        v->vm->parked++;
    else
        v->vm->parked--;
    pthread_cond_broadcast(&v->vm->cond);
}

static bool vcpu_exit(struct vmm_vcpu *v);

/*
 * Blocks while the vCPU must stay out of KVM_RUN: parked for pause_all, paused by the host, or
 * halted by the guest. Returns false when the run is over.
 */
static bool vcpu_wait(struct vmm_vcpu *v)
{
    struct vmm *vm = v->vm;
    pthread_mutex_lock(&vm->lock);
    for (;;) {
        if (vm->stop || vm->failed) {
            set_parked(v, false);
            pthread_mutex_unlock(&vm->lock);
            return false;
        }
        if (vm->pause_all && !v->parked) {
            /* Its state must be whole while parked (vmm_ckpt_state.h). Without the lock: an
             * exit that completing the last one brings may call into the plugin. */
            pthread_mutex_unlock(&vm->lock);
            for (int i = 0; i < 8 && vmm_ckpt_settle(v) == 0 && vcpu_exit(v); i++)
                continue;
            pthread_mutex_lock(&vm->lock);
            if (vm->stop || vm->failed || !vm->pause_all)
                continue;
        }
        if (vm->pause_all || v->paused) {
            set_parked(v, vm->pause_all);
            vcpu_set_clock(v, false);
            pthread_cond_wait(&vm->cond, &vm->lock);
            continue;
        }
        set_parked(v, false);
        if (!v->halted || halt_over(v))
            break;
        vcpu_set_clock(v, false);
        if (v->sleep_ns == INT64_MAX) {
            pthread_cond_wait(&vm->cond, &vm->lock);
        } else {
            struct timespec ts;
            to_timespec(v->sleep_ns, &ts);
            pthread_cond_timedwait(&vm->cond, &vm->lock, &ts);
        }
    }
    if (v->halted) {
        v->halted = false;
        v->sleep_ns = INT64_MAX;
    }
    pthread_mutex_unlock(&vm->lock);
    return true;
}

/*
 * A 4-byte STATUS write to a vCPU's registers that changes its enable bit is printed as
 * "watchdog enabled" or "watchdog disabled" of that vCPU (whichever vCPU wrote it).
 */
static void note_status(struct vmm *vm, uint64_t offset, const uint8_t *data, uint32_t len)
{
    if (len != 4 || offset % 16 != 0 || offset / 16 >= vm->opt.cpus)
        return;
    uint32_t cpu = (uint32_t)(offset / 16);
    bool enabled = data[0] & 1;
    pthread_mutex_lock(&vm->lock);
    if (vm->vcpus[cpu].wdt_enabled != enabled) {
        vm->vcpus[cpu].wdt_enabled = enabled;
        vmm_event(cpu, "watchdog %s", enabled ? "enabled" : "disabled");
    }
    pthread_mutex_unlock(&vm->lock);
}

static void handle_wdt(struct vmm_vcpu *v, uint64_t offset, bool is_write, uint8_t *data,
                       uint32_t len)
{
    struct vmm *vm = v->vm;
    if (is_write) {
        note_status(vm, offset, data, len);
        vmwdt_plugin_mmio_write(vm->plugin, vm->dev, offset, data, len);
        if (vm->trace)
            vmm_trace_write(vm->trace, offset, data, len);
    } else {
        vmwdt_plugin_mmio_read(vm->plugin, vm->dev, offset, data, len);
        if (vm->trace)
            vmm_trace_read(vm->trace, offset, len);
    }
}

static void handle_mmio(struct vmm_vcpu *v)
{
    struct vmm *vm = v->vm;
    struct kvm_run *run = v->run;
    uint64_t addr = run->mmio.phys_addr;
    uint32_t len = run->mmio.len <= sizeof(run->mmio.data) ? run->mmio.len : 8;
    bool is_write = run->mmio.is_write != 0;
    if (addr >= vm->wdt_base && addr - vm->wdt_base < vm->wdt_size) {
        handle_wdt(v, addr - vm->wdt_base, is_write, run->mmio.data, len);
    } else if (vm->guest->mmio) {
        vm->guest->mmio(v, addr, is_write, run->mmio.data, len);
    } else if (!is_write) {
        /* Nothing lives there: reads see zeros, writes are dropped. */
        memset(run->mmio.data, 0, len);
    }
}

static void handle_pio(struct vmm_vcpu *v)
{
    struct kvm_run *run = v->run;
    uint8_t *data = (uint8_t *)run + run->io.data_offset;
    bool is_write = run->io.direction == KVM_EXIT_IO_OUT;
    if (v->vm->guest->pio)
        v->vm->guest->pio(v, run->io.port, is_write, data, run->io.size, run->io.count);
    else if (!is_write)
        memset(data, 0, (size_t)run->io.size * run->io.count);
}

/* Handles one exit; returns false when the vCPU cannot go on. */
static bool vcpu_exit(struct vmm_vcpu *v)
{
    struct kvm_run *run = v->run;
    char what[256];
    switch (run->exit_reason) {
    case KVM_EXIT_MMIO:
        handle_mmio(v);
        return true;
    case KVM_EXIT_IO:
        handle_pio(v);
        return true;
    case KVM_EXIT_HLT:
        v->halted = true;
        vcpu_set_clock(v, false);
        return true;
    case KVM_EXIT_IRQ_WINDOW_OPEN:
    case KVM_EXIT_INTR:
        return true;
    case KVM_EXIT_SHUTDOWN:
        vmm_vcpu_fail(v, "the guest shut down (triple fault)");
        return false;
    case KVM_EXIT_FAIL_ENTRY:
        snprintf(what, sizeof(what), "KVM entry failed (reason 0x%llx)",
                 (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
        vmm_vcpu_fail(v, what);
        return false;
    case KVM_EXIT_INTERNAL_ERROR:
        if (vmm_emulate_failure(v, what, sizeof(what)) == 1)
            return true;
        vmm_vcpu_fail(v, what);
        return false;
    default:
        snprintf(what, sizeof(what), "unexpected KVM exit reason %u", run->exit_reason);
        vmm_vcpu_fail(v, what);
        return false;
    }
}

static void vcpu_loop(struct vmm_vcpu *v)
{
    while (vcpu_wait(v)) {
        if (v->vm->guest->before_run && v->vm->guest->before_run(v) < 0)
            break;
        vcpu_set_clock(v, true);
        int64_t t0 = vmm_now_ns();
        int r = ioctl(v->fd, KVM_RUN, 0);
        int saved = errno;
        v->stats.in_run_ns += vmm_now_ns() - t0;
        if (r < 0) {
            if (saved == EINTR || saved == EAGAIN) {
                v->run->immediate_exit = 0;
                continue;
            }
            vmm_vcpu_fail(v, strerror(saved));
            break;
        }
        if (!vcpu_exit(v))
            break;
    }
}

static void *vcpu_thread(void *arg)
{
    struct vmm_vcpu *v = arg;
    struct vmm *vm = v->vm;
    tls_run = v->run;
    v->stats.tid = gettid();
    int rc = vmwdt_plugin_set_vcpu_thread(vm->plugin, vm->dev, v->index, getpid(), v->stats.tid);
    if (rc < 0) {
        char what[128];
        snprintf(what, sizeof(what), "vmwdt_set_vcpu_thread failed: %s",
                 vmwdt_plugin_strerror(vm->plugin, rc));
        vmm_vcpu_fail(v, what);
    } else {
        vcpu_loop(v);
    }
    vcpu_set_clock(v, false);
    vmm_stats_collect(v);
    pthread_mutex_lock(&vm->lock);
    vm->alive--;
    pthread_cond_broadcast(&vm->cond);
    pthread_mutex_unlock(&vm->lock);
    return NULL;
}

int vmm_vcpu_start_all(struct vmm *vm)
{
    for (uint32_t i = 0; i < vm->opt.cpus; i++) {
        struct vmm_vcpu *v = &vm->vcpus[i];
        pthread_mutex_lock(&vm->lock);
        vm->alive++;
        pthread_mutex_unlock(&vm->lock);
        int rc = pthread_create(&v->thread, NULL, vcpu_thread, v);
        if (rc != 0) {
            fprintf(stderr, "vmwdt-vmm: cannot start vCPU %u: %s\n", i, strerror(rc));
            /* A VM that lacks a vCPU has failed: the threads already started end, and the
             * exit status says so. */
            pthread_mutex_lock(&vm->lock);
            vm->alive--;
            vm->failed = 1;
            pthread_cond_broadcast(&vm->cond);
            pthread_mutex_unlock(&vm->lock);
            return -1;
        }
        v->thread_started = true;
    }
    return 0;
}

void vmm_vcpu_kick(struct vmm_vcpu *v)
{
    pthread_cond_broadcast(&v->vm->cond);
    if (v->thread_started)
        pthread_kill(v->thread, VMM_KICK_SIGNAL);
}

void vmm_vcpu_pause_all(struct vmm *vm)
{
    pthread_mutex_lock(&vm->lock);
    vm->pause_all = true;
    for (uint32_t i = 0; i < vm->opt.cpus; i++)
        vmm_vcpu_kick(&vm->vcpus[i]);
    while (vm->parked < vm->alive && !vm->stop && !vm->failed)
        pthread_cond_wait(&vm->cond, &vm->lock);
    pthread_mutex_unlock(&vm->lock);
}

void vmm_vcpu_resume_all(struct vmm *vm)
{
    pthread_mutex_lock(&vm->lock);
    vm->pause_all = false;
    pthread_cond_broadcast(&vm->cond);
    pthread_mutex_unlock(&vm->lock);
}

void vmm_vcpu_stop_all(struct vmm *vm)
{
    if (!vm->vcpus)
        return;
    pthread_mutex_lock(&vm->lock);
    vm->stop = true;
    for (uint32_t i = 0; i < vm->opt.cpus; i++)
        vmm_vcpu_kick(&vm->vcpus[i]);
    pthread_mutex_unlock(&vm->lock);
    for (uint32_t i = 0; i < vm->opt.cpus; i++) {
        if (vm->vcpus[i].thread_started) {
            pthread_join(vm->vcpus[i].thread, NULL);
            vm->vcpus[i].thread_started = false;
        }
    }
}
