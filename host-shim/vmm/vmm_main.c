/*
 * vmwdt-vmm: runs a small KVM guest on N vCPUs against a vmwdt plugin loaded through the
 * loader, and prints the watchdog's events. Each vCPU runs code that behaves like the Linux
 * driver (vmm_guest.S); the host can make one hang, with interrupts off or on, or pause it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "vmm.h"
#include "vmm_layout.h"

#define NS_PER_S 1000000000LL
#define MAX_RUN_SECONDS 86400.0
#define MAX_TIMEOUT 3600

static void usage(FILE *f)
{
    fprintf(f,
            "usage: vmwdt-vmm --cpus N --seconds S [options]\n"
            "Runs a KVM guest whose vCPUs pet a vmwdt stall detector like the Linux driver.\n"
            "\n"
            "  --cpus N                 vCPUs, 1..%d\n"
            "  --seconds S              how long the guest runs (decimal seconds)\n"
            "  --freq F                 CLOCK_FREQ_HZ the guest programs (default 10)\n"
            "  --timeout T              the guest's timeout in seconds: LOAD_CNT = F * T,\n"
            "                           a pet every T/2 (default 8)\n"
            "  --hang CPU@SECONDS[:irqs-off|irqs-on]\n"
            "                           at that time the vCPU stops petting and spins with\n"
            "                           interrupts disabled (default) or enabled; repeatable\n"
            "  --pause CPU@SECONDS+DURATION\n"
            "                           keep the vCPU out of KVM_RUN for DURATION; repeatable\n"
            "  --clock auto|guest-time|thread-cpu|monotonic\n"
            "                           the watchdog's guest clock (default auto)\n"
            "  --plugin PATH            the plugin to load (default: the loader's default)\n"
            "  --record TRACE.jsonl     write the run as a vmwdt-replay trace\n"
            "  --help                   this text\n"
            "\n"
            "Exit status: 0 the run ended, 36 the watchdog requested a reset, 2 bad arguments\n"
            "or KVM unusable, 1 any other error. SIGINT and SIGTERM end the run early, with\n"
            "its summary and a complete trace; then the VMM ends by that signal.\n"
            "Environment: VMWDT_PLUGIN (the default plugin), VMWDT_KVM_DEVICE (default /dev/kvm).\n",
            VMM_MAX_CPUS);
}

static int bad_arg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int bad_arg(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("vmwdt-vmm: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs("\n\n", stderr);
    va_end(ap);
    usage(stderr);
    return VMM_EXIT_USAGE;
}

/* Parses a whole unsigned decimal number in [min, max]. */
static bool parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
    if (!s || *s < '0' || *s > '9')
        return false;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return false;
    *out = (uint32_t)v;
    return true;
}

/* Parses decimal seconds in [0, MAX_RUN_SECONDS] up to the end or the stop character. */
static bool parse_seconds(const char *s, char stop, int64_t *out_ns, const char **rest)
{
    if (!s || !((*s >= '0' && *s <= '9') || *s == '.'))
        return false;
    /* strtod() also reads hexadecimal ("0x10" is 16), which is not decimal seconds. */
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
        return false;
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (errno || end == s || !isfinite(v) || v < 0 || v > MAX_RUN_SECONDS)
        return false;
    if (*end != stop && !(stop == '\0' && *end == '\0'))
        return false;
    *out_ns = (int64_t)llround(v * NS_PER_S);
    if (rest)
        *rest = end;
    return true;
}

/* "CPU@..." : the vCPU index and what follows the '@'. */
static bool parse_cpu_at(const char *s, uint32_t *cpu, const char **rest)
{
    const char *at = strchr(s, '@');
    if (!at || at == s || at - s > 10)
        return false;
    char buf[12];
    memcpy(buf, s, (size_t)(at - s));
    buf[at - s] = '\0';
    if (!parse_u32(buf, 0, VMM_MAX_CPUS - 1, cpu))
        return false;
    *rest = at + 1;
    return true;
}

static struct vmm_action *new_action(struct vmm_options *o)
{
    return o->action_count < VMM_MAX_ACTIONS ? &o->actions[o->action_count++] : NULL;
}

static int parse_hang(struct vmm_options *o, const char *arg)
{
    uint32_t cpu;
    const char *rest;
    int64_t at;
    if (!parse_cpu_at(arg, &cpu, &rest))
        return bad_arg("--hang %s: expected CPU@SECONDS[:irqs-off|irqs-on]", arg);
    const char *colon = strchr(rest, ':');
    if (!parse_seconds(rest, colon ? ':' : '\0', &at, NULL))
        return bad_arg("--hang %s: bad time", arg);
    uint32_t command = VMM_CMD_HANG_IRQS_OFF;
    if (colon && strcmp(colon + 1, "irqs-on") == 0)
        command = VMM_CMD_HANG_IRQS_ON;
    else if (colon && strcmp(colon + 1, "irqs-off") != 0)
        return bad_arg("--hang %s: the mode must be irqs-off or irqs-on", arg);
    struct vmm_action *a = new_action(o);
    if (!a)
        return bad_arg("too many --hang and --pause options (at most %d)", VMM_MAX_ACTIONS / 2);
    *a = (struct vmm_action){.kind = VMM_ACT_HANG, .cpu = cpu, .at_ns = at, .command = command};
    return 0;
}

static int parse_pause(struct vmm_options *o, const char *arg)
{
    uint32_t cpu;
    const char *rest;
    int64_t at, duration;
    if (!parse_cpu_at(arg, &cpu, &rest) || !parse_seconds(rest, '+', &at, &rest) ||
        !parse_seconds(rest + 1, '\0', &duration, NULL))
        return bad_arg("--pause %s: expected CPU@SECONDS+DURATION", arg);
    struct vmm_action *a = new_action(o);
    struct vmm_action *b = new_action(o);
    if (!a || !b)
        return bad_arg("too many --hang and --pause options (at most %d)", VMM_MAX_ACTIONS / 2);
    *a = (struct vmm_action){.kind = VMM_ACT_PAUSE, .cpu = cpu, .at_ns = at,
                             .duration_ns = duration};
    *b = (struct vmm_action){.kind = VMM_ACT_RESUME, .cpu = cpu, .at_ns = at + duration};
    return 0;
}

static int parse_clock(struct vmm_options *o, const char *arg)
{
    static const struct { const char *name; enum vmwdt_clock clock; } clocks[] = {
        {"auto", VMWDT_CLOCK_AUTO},
        {"guest-time", VMWDT_CLOCK_GUEST_TIME},
        {"thread-cpu", VMWDT_CLOCK_THREAD_CPU},
        {"monotonic", VMWDT_CLOCK_MONOTONIC},
    };
    for (size_t i = 0; i < sizeof(clocks) / sizeof(clocks[0]); i++) {
        if (strcmp(arg, clocks[i].name) == 0) {
            o->clock = clocks[i].clock;
            return 0;
        }
    }
    return bad_arg("--clock %s: expected auto, guest-time, thread-cpu or monotonic", arg);
}

static int compare_actions(const void *a, const void *b)
{
    const struct vmm_action *x = a, *y = b;
    return (x->at_ns > y->at_ns) - (x->at_ns < y->at_ns);
}

/* Checks what single options cannot: required options, ranges that depend on each other. */
static int check_options(struct vmm_options *o, bool have_cpus, bool have_seconds)
{
    if (!have_cpus || !have_seconds)
        return bad_arg("--cpus and --seconds are required");
    if (o->run_ns <= 0)
        return bad_arg("--seconds must be more than 0");
    if ((uint64_t)o->freq * o->timeout > UINT32_MAX)
        return bad_arg("--freq times --timeout must fit in 32 bits (LOAD_CNT)");
    for (unsigned i = 0; i < o->action_count; i++) {
        if (o->actions[i].cpu >= o->cpus)
            return bad_arg("vCPU %u does not exist (--cpus %u)", o->actions[i].cpu, o->cpus);
    }
    qsort(o->actions, o->action_count, sizeof(o->actions[0]), compare_actions);
    return 0;
}

static int parse_args(int argc, char **argv, struct vmm_options *o)
{
    enum { O_CPUS = 256, O_SECONDS, O_FREQ, O_TIMEOUT, O_HANG, O_PAUSE, O_CLOCK, O_PLUGIN,
           O_RECORD, O_HELP };
    static const struct option longopts[] = {
        {"cpus", required_argument, NULL, O_CPUS},
        {"seconds", required_argument, NULL, O_SECONDS},
        {"freq", required_argument, NULL, O_FREQ},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"hang", required_argument, NULL, O_HANG},
        {"pause", required_argument, NULL, O_PAUSE},
        {"clock", required_argument, NULL, O_CLOCK},
        {"plugin", required_argument, NULL, O_PLUGIN},
        {"record", required_argument, NULL, O_RECORD},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    *o = (struct vmm_options){.freq = 10, .timeout = 8, .clock = VMWDT_CLOCK_AUTO};
    bool have_cpus = false, have_seconds = false;
    opterr = 0;
    int c, rc = 0;
    while (rc == 0 && (c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case O_CPUS:
            have_cpus = true;
            if (!parse_u32(optarg, 1, VMM_MAX_CPUS, &o->cpus))
                rc = bad_arg("--cpus %s: expected 1..%d", optarg, VMM_MAX_CPUS);
            break;
        case O_SECONDS:
            have_seconds = true;
            if (!parse_seconds(optarg, '\0', &o->run_ns, NULL))
                rc = bad_arg("--seconds %s: expected decimal seconds up to %.0f", optarg,
                             MAX_RUN_SECONDS);
            break;
        case O_FREQ:
            if (!parse_u32(optarg, 1, UINT32_MAX, &o->freq))
                rc = bad_arg("--freq %s: expected 1..4294967295", optarg);
            break;
        case O_TIMEOUT:
            if (!parse_u32(optarg, 1, MAX_TIMEOUT, &o->timeout))
                rc = bad_arg("--timeout %s: expected 1..%d seconds", optarg, MAX_TIMEOUT);
            break;
        case O_HANG: rc = parse_hang(o, optarg); break;
        case O_PAUSE: rc = parse_pause(o, optarg); break;
        case O_CLOCK: rc = parse_clock(o, optarg); break;
        case O_PLUGIN: o->plugin_path = optarg; break;
        case O_RECORD: o->record_path = optarg; break;
        case O_HELP: usage(stdout); return -1;
        default:
            rc = bad_arg("unknown or incomplete option '%s'", argv[optind - 1]);
            break;
        }
    }
    if (rc == 0 && optind < argc)
        rc = bad_arg("unexpected argument '%s'", argv[optind]);
    return rc ? rc : check_options(o, have_cpus, have_seconds);
}

/* ---- time and output ---- */

int64_t vmm_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

int64_t vmm_elapsed_ns(const struct vmm *vm)
{
    return vmm_now_ns() - vm->start_ns;
}

static void print_prefixed(FILE *f, const struct vmm *vm, const char *who, const char *fmt,
                           va_list ap)
{
    double t = (double)vmm_elapsed_ns(vm) / NS_PER_S;
    flockfile(f);
    fprintf(f, "[%8.3f] %s: ", t, who);
    vfprintf(f, fmt, ap);
    fputc('\n', f);
    fflush(f);
    funlockfile(f);
}

void vmm_event(struct vmm *vm, uint32_t cpu, const char *fmt, ...)
{
    char who[24];
    snprintf(who, sizeof(who), "vCPU %u", cpu);
    va_list ap;
    va_start(ap, fmt);
    print_prefixed(stdout, vm, who, fmt, ap);
    va_end(ap);
}

static void vmm_note(struct vmm *vm, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void vmm_note(struct vmm *vm, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    print_prefixed(stdout, vm, "vmm", fmt, ap);
    va_end(ap);
}

/* ---- the plugin's callbacks ---- */

static void on_raise_irq(void *opaque, uint32_t cpu)
{
    struct vmm *vm = opaque;
    if (cpu >= vm->opt.cpus)
        return;
    pthread_mutex_lock(&vm->lock);
    if (!vm->stop) {
        vmm_event(vm, cpu, "stall interrupt");
        vm->vcpus[cpu].irq_pending = true;
        vmm_kvm_kick(&vm->vcpus[cpu]);
    }
    pthread_mutex_unlock(&vm->lock);
}

static void on_request_reset(void *opaque, uint32_t cpu)
{
    struct vmm *vm = opaque;
    pthread_mutex_lock(&vm->lock);
    if (!vm->stop && vm->reset_cpu < 0) {
        vmm_event(vm, cpu, "reset requested");
        vm->reset_cpu = (int)cpu;
        pthread_cond_broadcast(&vm->cond);
    }
    pthread_mutex_unlock(&vm->lock);
}

static void on_log(void *opaque, int level, const char *msg)
{
    struct vmm *vm = opaque;
    double t = (double)vmm_elapsed_ns(vm) / NS_PER_S;
    flockfile(stderr);
    fprintf(stderr, "[%8.3f] plugin%s: %s\n", t, level <= LOG_WARNING ? " warning" : "", msg);
    funlockfile(stderr);
}

/* ---- the run ---- */

static void apply_action(struct vmm *vm, const struct vmm_action *a)
{
    struct vmm_vcpu *v = &vm->vcpus[a->cpu];
    switch (a->kind) {
    case VMM_ACT_HANG:
        vmm_event(vm, a->cpu, "hang with interrupts %s",
                  a->command == VMM_CMD_HANG_IRQS_ON ? "enabled" : "disabled");
        __atomic_store_n(v->command, a->command, __ATOMIC_RELEASE);
        break;
    case VMM_ACT_PAUSE:
        vmm_event(vm, a->cpu, "paused for %.3f s", (double)a->duration_ns / NS_PER_S);
        v->paused = true;
        break;
    case VMM_ACT_RESUME:
        vmm_event(vm, a->cpu, "resumed");
        v->paused = false;
        break;
    }
    vmm_kvm_kick(v);
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

/*
 * Applies the actions at their times until the run ends, a reset comes, a vCPU fails or a
 * signal asks to stop.
 */
static void run_timeline(struct vmm *vm)
{
    unsigned next = 0;
    pthread_mutex_lock(&vm->lock);
    while (vm->reset_cpu < 0 && !vm->failed && !vm->stop_signal) {
        int64_t now = vmm_elapsed_ns(vm);
        if (next < vm->opt.action_count && vm->opt.actions[next].at_ns <= now) {
            apply_action(vm, &vm->opt.actions[next++]);
            continue;
        }
        if (now >= vm->opt.run_ns)
            break;
        int64_t until = vm->opt.run_ns;
        if (next < vm->opt.action_count && vm->opt.actions[next].at_ns < until)
            until = vm->opt.actions[next].at_ns;
        struct timespec ts;
        int64_t abs = vm->start_ns + until;
        ts.tv_sec = (time_t)(abs / NS_PER_S);
        ts.tv_nsec = (long)(abs % NS_PER_S);
        pthread_cond_timedwait(&vm->cond, &vm->lock, &ts);
    }
    pthread_mutex_unlock(&vm->lock);
}

static void print_summary(struct vmm *vm)
{
    long hz = sysconf(_SC_CLK_TCK);
    if (hz <= 0)
        hz = 100;
    for (uint32_t i = 0; i < vm->opt.cpus; i++) {
        const struct vmm_vcpu *v = &vm->vcpus[i];
        if (!v->stats_valid)
            continue;
        printf("stats: vCPU %u: in KVM_RUN %.3f s, thread CPU %.3f s "
               "(/proc user %.2f s, system %.2f s, guest_time %.2f s)\n",
               i, (double)v->in_run_ns / NS_PER_S, (double)v->thread_cpu_ns / NS_PER_S,
               (double)v->utime_ticks / hz, (double)v->stime_ticks / hz,
               (double)v->guest_ticks / hz);
    }
    fflush(stdout);
}

static const char *clock_name(enum vmwdt_clock c)
{
    switch (c) {
    case VMWDT_CLOCK_GUEST_TIME: return "guest-time";
    case VMWDT_CLOCK_THREAD_CPU: return "thread-cpu";
    case VMWDT_CLOCK_MONOTONIC: return "monotonic";
    default: return "auto";
    }
}

static int open_plugin(struct vmm *vm)
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

static int run_vm(struct vmm *vm)
{
    char err[256] = "";
    vm->start_ns = vmm_now_ns();
    int rc = vmm_kvm_open(vm, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "vmwdt-vmm: %s\n", err);
        return rc;
    }
    rc = open_plugin(vm);
    if (rc != 0)
        return rc;
    vm->start_ns = vmm_now_ns();
    if (vm->opt.record_path) {
        vm->trace = vmm_trace_open(vm->opt.record_path, vm->opt.cpus, vm->start_ns);
        if (!vm->trace) {
            fprintf(stderr, "vmwdt-vmm: cannot write %s: %s\n", vm->opt.record_path,
                    strerror(errno));
            return VMM_EXIT_ERROR;
        }
    }
    vmm_note(vm, "%u vCPUs, %.3f s, freq %u Hz, timeout %u s, clock %s, TSC %u kHz, plugin %s",
             vm->opt.cpus, (double)vm->opt.run_ns / NS_PER_S, vm->opt.freq, vm->opt.timeout,
             clock_name(vm->opt.clock), vm->tsc_khz, vmwdt_plugin_path(vm->plugin));
    if (vmm_kvm_start_vcpus(vm) == 0)
        run_timeline(vm);
    /*
     * Stop the countdowns while the vCPU threads still exist: the plugin reads their clocks
     * until it sleeps, and it is destroyed only once no vCPU thread can call into it.
     */
    vmwdt_plugin_sleep(vm->plugin, vm->dev);
    vmm_kvm_stop_vcpus(vm);
    pthread_mutex_lock(&vm->lock);
    int stop_signal = vm->stop_signal;
    pthread_mutex_unlock(&vm->lock);
    int status = vm->failed ? VMM_EXIT_ERROR
                 : vm->reset_cpu >= 0 ? VMM_EXIT_RESET
                                      : VMM_EXIT_OK;
    if (status == VMM_EXIT_RESET)
        vmm_note(vm, "the watchdog reset the VM (vCPU %d); exit status 36", vm->reset_cpu);
    else if (status == VMM_EXIT_OK && stop_signal)
        vmm_note(vm, "stopped by signal %d (%s)", stop_signal, strsignal(stop_signal));
    else if (status == VMM_EXIT_OK)
        vmm_note(vm, "the run ended");
    if (vm->trace && vmm_trace_close(vm->trace) < 0) {
        fprintf(stderr, "vmwdt-vmm: writing %s failed\n", vm->opt.record_path);
        status = VMM_EXIT_ERROR;
    }
    vm->trace = NULL;
    print_summary(vm);
    return status;
}

int main(int argc, char **argv)
{
    struct vmm vm;
    memset(&vm, 0, sizeof(vm));
    int rc = parse_args(argc, argv, &vm.opt);
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
    vmm_kvm_close(&vm);
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
