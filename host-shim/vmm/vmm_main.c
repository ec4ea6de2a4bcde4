/*
 * vmwdt-vmm: runs a KVM guest on N vCPUs against a vmwdt plugin loaded through the loader,
 * and prints the watchdog's events (DESIGN.md section 8). This file puts the parts together:
 * the command line, the VM and its guest, the watchdog, the timeline of host actions, the
 * signals that end a run early, and the exit status.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vmm.h"
#include "vmm_kvm.h"
#include "vmm_linux.h"
#include "vmm_migrate.h"
#include "vmm_output.h"
#include "vmm_realmode.h"
#include "vmm_restore.h"
#include "vmm_runclock.h"
#include "vmm_stats.h"
#include "vmm_wdt_stats.h"
#include "vmm_trace.h"
#include "vmm_vcpu.h"
#include "vmm_watchdog.h"

/* ---- the timeline of host actions ---- */

/* How long a Linux guest may boot before its ready line; KVMs that emulate it take minutes. */
#define VMM_BOOT_LIMIT_NS (600 * VMM_NS_PER_S)

static void apply_action(struct vmm *vm, const struct vmm_action *a)
{
    struct vmm_vcpu *v = &vm->vcpus[a->cpu];
    /* A Linux guest hangs and offlines its CPUs itself (its command line says when). */
    if (vm->opt.kernel && (a->kind == VMM_ACT_HANG || a->kind == VMM_ACT_OFFLINE))
        return;
    switch (a->kind) {
    case VMM_ACT_HANG:
        vmm_event(a->cpu, "hang with interrupts %s", a->irqs_on ? "enabled" : "disabled");
        if (vm->guest->hang)
            vm->guest->hang(v, a->irqs_on);
        break;
    case VMM_ACT_PAUSE:
        vmm_event(a->cpu, "paused for %.3f s", (double)a->duration_ns / VMM_NS_PER_S);
        v->paused = true;
        break;
    case VMM_ACT_RESUME:
        vmm_event(a->cpu, "resumed");
        v->paused = false;
        break;
    case VMM_ACT_OFFLINE:
        break;
    case VMM_ACT_SAVE:
    case VMM_ACT_MIGRATE:
        /* The caller runs these without the lock. */
        return;
    }
    vmm_vcpu_kick(v);
}

/* --save-at and --migrate-at: the VM stops, and may go on here or elsewhere. */
static void apply_checkpoint(struct vmm *vm, const struct vmm_action *a)
{
    int rc = 0;
    if (a->kind == VMM_ACT_SAVE)
        rc = vmm_migrate_save(vm);
    else
        vmm_migrate_out(vm);
    if (rc != 0) {
        pthread_mutex_lock(&vm->lock);
        vm->failed = 1;
        pthread_mutex_unlock(&vm->lock);
    }
}

/*
 * Applies the actions at their times until the run ends, a reset comes, a vCPU fails or a
 * signal asks to stop.
 */
static void run_timeline(struct vmm *vm)
{
    unsigned next = 0;
    /* A migrated run goes on from its checkpoint: what came before it is done. */
    while (next < vm->opt.action_count && vm->opt.actions[next].at_ns <= vm->resume_after_ns &&
           vm->resume_after_ns > 0)
        next++;
    pthread_mutex_lock(&vm->lock);
    while (vm->reset_cpu < 0 && !vm->failed && !vm->stop_signal && !vm->handed_off) {
        int64_t now = vmm_elapsed_ns();
        int64_t until;
        if (vm->origin_ns < 0) {
            /* A Linux guest still boots: nothing is due before its ready line. */
            if (now >= VMM_BOOT_LIMIT_NS) {
                fprintf(stderr, "vmwdt-vmm: the guest printed no ready line within %d s\n",
                        (int)(VMM_BOOT_LIMIT_NS / VMM_NS_PER_S));
                vm->failed = 1;
                break;
            }
            until = VMM_BOOT_LIMIT_NS;
        } else {
            now -= vm->origin_ns;
            if (next < vm->opt.action_count && vm->opt.actions[next].at_ns <= now) {
                const struct vmm_action *a = &vm->opt.actions[next++];
                if (a->kind == VMM_ACT_SAVE || a->kind == VMM_ACT_MIGRATE) {
                    pthread_mutex_unlock(&vm->lock);
                    apply_checkpoint(vm, a);
                    pthread_mutex_lock(&vm->lock);
                } else {
                    apply_action(vm, a);
                }
                continue;
            }
            if (now >= vm->opt.run_ns)
                break;
            until = vm->opt.run_ns;
            if (next < vm->opt.action_count && vm->opt.actions[next].at_ns < until)
                until = vm->opt.actions[next].at_ns;
            until += vm->origin_ns;
        }
        struct timespec ts;
        int64_t abs = vmm_output_start() + until;
        ts.tv_sec = (time_t)(abs / VMM_NS_PER_S);
        ts.tv_nsec = (long)(abs % VMM_NS_PER_S);
        pthread_cond_timedwait(&vm->cond, &vm->lock, &ts);
    }
    pthread_mutex_unlock(&vm->lock);
}

/* ---- SIGINT and SIGTERM ---- */

/*
 * SIGINT and SIGTERM end the run as if its time were up, so that the vCPU threads stop, the
 * trace gets its end record and the summary is printed; main() then ends the process by the
 * same signal. They are blocked in every thread and taken by sigwait() in a thread of their
 * own, which can take the lock that a signal handler could not.
 */
static sigset_t stop_signals(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    return set;
}

static void *signal_thread(void *arg)
{
    struct vmm *vm = arg;
    sigset_t set = stop_signals();
    int sig;
    if (sigwait(&set, &sig) != 0)
        return NULL;
    pthread_mutex_lock(&vm->lock);
    /* Once the VMM is ending, main() wakes this thread with a signal of its own. */
    if (!vm->signals_done) {
        vm->stop_signal = sig;
        pthread_cond_broadcast(&vm->cond);
        /* A run that went on in a destination process ends there: the signal goes on too. */
        if (vm->handoff_pid > 0)
            kill(vm->handoff_pid, sig);
    }
    pthread_mutex_unlock(&vm->lock);
    return NULL;
}

/* Ends the process by sig, as if the signal had not been caught. */
static void die_by_signal(int sig)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    signal(sig, SIG_DFL);
    raise(sig);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

/* ---- the run ---- */

/* The VM and its guest, up to the moment the vCPUs may start. */
static int create_vm(struct vmm *vm, bool restoring)
{
    char err[256] = "";
    bool lx = vm->opt.kernel != NULL;
    int rc = vmm_kvm_open(vm, err, sizeof(err));
    /* A restored guest gets its RAM and registers from the checkpoint instead of booting. */
    if (rc == 0 && ((lx ? vmm_linux_create(vm, err, sizeof(err))
                        : vmm_realmode_create(vm, err, sizeof(err))) < 0 ||
                    vmm_kvm_create_vcpus(vm, err, sizeof(err)) < 0 ||
                    (!restoring && (lx ? vmm_linux_boot(vm, err, sizeof(err))
                                       : vmm_realmode_boot(vm, err, sizeof(err))) < 0)))
        rc = VMM_EXIT_ERROR;
    if (rc == 0 && vmm_vcpu_init() < 0) {
        snprintf(err, sizeof(err), "cannot install the vCPU kick handler: %s", strerror(errno));
        rc = VMM_EXIT_ERROR;
    }
    if (rc != 0)
        fprintf(stderr, "vmwdt-vmm: %s\n", err);
    return rc;
}

static int open_trace(struct vmm *vm)
{
    if (!vm->opt.record_path)
        return 0;
    vm->trace = vmm_trace_open(vm->opt.record_path, vm->opt.cpus, vmm_output_start());
    if (vm->trace)
        return 0;
    fprintf(stderr, "vmwdt-vmm: cannot write %s: %s\n", vm->opt.record_path, strerror(errno));
    return VMM_EXIT_ERROR;
}

/* The exit status of a run that has ended, and its last line. */
static int run_status(struct vmm *vm)
{
    pthread_mutex_lock(&vm->lock);
    int stop_signal = vm->stop_signal;
    pthread_mutex_unlock(&vm->lock);
    int status = vm->failed ? VMM_EXIT_ERROR
                 : vm->reset_cpu >= 0 ? VMM_EXIT_RESET
                                      : VMM_EXIT_OK;
    if (status == VMM_EXIT_RESET)
        vmm_note("the watchdog reset the VM (vCPU %d); exit status 36", vm->reset_cpu);
    else if (status == VMM_EXIT_OK && stop_signal)
        vmm_note("stopped by signal %d (%s)", stop_signal, strsignal(stop_signal));
    else if (status == VMM_EXIT_OK)
        vmm_note("the run ended");
    return status;
}

/*
 * A run from a checkpoint (--restore, or the destination of --migrate-at): the empty VM and
 * device first, then the checkpoint, read and validated whole before any of it is loaded.
 * Ends with the vCPUs running; 0 or an exit status.
 */
static int restore_vm(struct vmm *vm)
{
    struct vmm_ckpt c;
    struct vmm_restore_times t = {.read_ns = vmm_now_ns()};
    bool from_file = vm->opt.restore_path != NULL;
    int rc = from_file ? vmm_migrate_read(vm, &c) : 0;
    if (rc == 0)
        rc = create_vm(vm, true);
    if (rc == 0)
        rc = vmm_watchdog_open(vm);
    if (rc == 0 && !from_file)
        rc = vmm_migrate_read(vm, &c);
    if (rc != 0)
        return rc;
    t.read_done_ns = vmm_now_ns();
    /* A migrated run keeps the source's timeline; a restored one starts its own now. */
    int64_t start = from_file ? vmm_now_ns() : c.clock.run_start_ns;
    vmm_output_set_start(start);
    vm->resume_after_ns = from_file ? 0 : c.clock.run_elapsed_ns;
    char err[512] = "";
    if (vmm_restore_load(vm, &c, &t.restore_ns, err, sizeof(err)) < 0) {
        fprintf(stderr, "vmwdt-vmm: checkpoint %s refused: %s\n",
                from_file ? vm->opt.restore_path : "stream", err);
        vmm_ckpt_free(&c);
        return VMM_EXIT_USAGE;
    }
    t.loaded_ns = vmm_now_ns();
    /* The trace before the answer: a destination that cannot write it refuses the VM. */
    if (vmm_restore_trace(vm, &c, start, err, sizeof(err)) < 0) {
        fprintf(stderr, "vmwdt-vmm: %s\n", err);
        rc = VMM_EXIT_USAGE;
    }
    if (rc == 0 && !from_file)
        rc = vmm_migrate_accept(vm);
    if (rc == 0 && vmm_restore_start(vm, &c, &t.tsc_leap, &t.resumed_ns, &t.wake_ns) == 0)
        vmm_restore_report(vm, &c, &t);
    vmm_ckpt_free(&c);
    return rc;
}

static int run_vm(struct vmm *vm)
{
    bool restoring = vm->opt.restore_path || vm->opt.migrate_fd >= 0;
    vmm_output_set_start(vmm_now_ns());
    int rc = restoring ? restore_vm(vm) : create_vm(vm, false);
    if (rc == 0 && !restoring)
        rc = vmm_watchdog_open(vm);
    if (rc != 0)
        return rc;
    if (!restoring) {
        vmm_output_set_start(vmm_now_ns());
        rc = open_trace(vm);
        if (rc != 0)
            return rc;
    }
    vmm_note("%u vCPUs, %.3f s, freq %u Hz, timeout %u s, clock %s, TSC %u kHz, plugin %s",
             vm->opt.cpus, (double)vm->opt.run_ns / VMM_NS_PER_S, vm->opt.freq,
             vm->opt.timeout, vmm_cli_clock_name(vm->opt.clock), vm->tsc_khz,
             vmwdt_plugin_path(vm->plugin));
    if (vm->opt.kernel)
        vmm_note("Linux %s, command line: %s", vm->opt.kernel, vmm_linux_cmdline(vm));
    /* A Linux guest halts inside KVM_RUN: its trace clocks are sampled (vmm_runclock.h). */
    vm->clock_sampled = vm->opt.kernel && vm->trace && vm->opt.clock != VMWDT_CLOCK_MONOTONIC;
    vm->origin_ns = vm->opt.kernel ? -1 : 0;
    struct vmm_runclock *clocks = NULL;
    if (restoring || vmm_vcpu_start_all(vm) == 0) {
        clocks = vm->clock_sampled ? vmm_runclock_start(vm) : NULL;
        if (vm->clock_sampled && !clocks)
            fprintf(stderr, "vmwdt-vmm: cannot sample the vCPU threads' clocks: the trace "
                            "records every guest clock as running\n");
        run_timeline(vm);
        vmm_runclock_stop(clocks);
    }
    /*
     * Stop the countdowns while the vCPU threads still exist: the plugin reads their clocks
     * until it sleeps, and it is destroyed only once no vCPU thread can call into it.
     */
    vmwdt_plugin_sleep(vm->plugin, vm->dev);
    vmm_vcpu_stop_all(vm);
    vmm_runclock_finish(clocks);
    if (vm->opt.kernel)
        vmm_linux_close(vm);
    if (vm->handed_off && vm->handoff_pid > 0) {
        /* The destination carries the run and its trace on and prints how it ends. */
        vmm_trace_abandon(vm->trace);
        vm->trace = NULL;
        vmm_stats_print(vm);
        return VMM_EXIT_OK;
    }
    int status = run_status(vm);
    if (vm->trace && vmm_trace_close(vm->trace) < 0) {
        fprintf(stderr, "vmwdt-vmm: writing %s failed\n", vm->opt.record_path);
        status = VMM_EXIT_ERROR;
    }
    vm->trace = NULL;
    vmm_wdt_stats_print(vm->plugin, vm->dev, vm->opt.cpus, (double)vmm_elapsed_ns() / VMM_NS_PER_S, stdout);
    vmm_stats_print(vm);
    return status;
}

int main(int argc, char **argv)
{
    struct vmm vm;
    memset(&vm, 0, sizeof(vm));
    int rc = vmm_cli_parse(argc, argv, &vm.opt);
    if (rc < 0)
        return VMM_EXIT_OK;
    if (rc > 0)
        return rc;
    vm.kvm_fd = vm.vm_fd = -1;
    vm.reset_cpu = -1;
    pthread_mutex_init(&vm.lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&vm.cond, &attr);
    pthread_condattr_destroy(&attr);
    setvbuf(stdout, NULL, _IOLBF, 0);

    /* Before any other thread exists, so that every thread inherits the mask. */
    sigset_t stop = stop_signals();
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    pthread_t sig_thread;
    bool have_sig_thread = pthread_create(&sig_thread, NULL, signal_thread, &vm) == 0;
    if (!have_sig_thread)
        pthread_sigmask(SIG_UNBLOCK, &stop, NULL);

    int status = run_vm(&vm);

    if (vm.dev)
        vmwdt_plugin_destroy(vm.plugin, vm.dev);
    vmwdt_plugin_close(vm.plugin);
    if (vm.trace)
        vmm_trace_close(vm.trace);
    if (vm.opt.kernel)
        vmm_linux_close(&vm);
    vmm_kvm_close(&vm);
    if (vm.handed_off && vm.handoff_pid > 0)
        status = vmm_migrate_wait(&vm);
    /* Not pthread_cancel(): a signal ends sigwait() without unwinding the thread's stack. */
    if (have_sig_thread) {
        pthread_mutex_lock(&vm.lock);
        vm.signals_done = true;
        pthread_mutex_unlock(&vm.lock);
        pthread_kill(sig_thread, SIGTERM);
        pthread_join(sig_thread, NULL);
    }
    /* A run a signal ended, and nothing worse, ends by that signal. */
    if (status == VMM_EXIT_OK && vm.stop_signal) {
        fflush(NULL);
        die_by_signal(vm.stop_signal);
    }
    return status;
}
