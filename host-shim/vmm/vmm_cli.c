/*
 * vmwdt-vmm's command line (DESIGN.md section 8): parses it into struct vmm_options, checking
 * everything that needs no KVM, so that bad arguments change nothing and exit 2.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm_checkpoint.h"
#include "vmm_options.h"
#include "vmm_output.h"

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
            "  --kernel BZIMAGE         boot this Linux kernel instead of the built-in guest;\n"
            "                           --hang is then a hard lockup (irqs-off) done by the guest\n"
            "  --initrd CPIO            its initramfs\n"
            "  --append CMDLINE         words added to its command line\n"
            "  --system-map PATH        its System.map, to name where a vCPU stalled (default:\n"
            "                           System.map beside the kernel)\n"
            "  --offline CPU@SECONDS    the guest takes that CPU offline then; repeatable\n"
            "  --save-at S --save FILE  at S seconds, write a checkpoint of the VM to FILE\n"
            "                           and end the run (exit 0)\n"
            "  --restore FILE           resume a checkpoint in this process; --seconds counts\n"
            "                           from the restore, --cpus, --freq, --timeout come from\n"
            "                           FILE (and must match it if given)\n"
            "  --migrate-at S           at S seconds, carry the run on in a new vmwdt-vmm\n"
            "                           process and exit with its status; repeatable\n"
            "  --help                   this text\n"
            "\n"
            "Exit status: 0 the run ended, 36 the watchdog requested a reset, 2 bad arguments\n"
            "KVM unusable or a refused checkpoint, 1 any other error. SIGINT and SIGTERM end the run early, with\n"
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
    *out_ns = (int64_t)llround(v * VMM_NS_PER_S);
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
    bool irqs_on = false;
    if (colon && strcmp(colon + 1, "irqs-on") == 0)
        irqs_on = true;
    else if (colon && strcmp(colon + 1, "irqs-off") != 0)
        return bad_arg("--hang %s: the mode must be irqs-off or irqs-on", arg);
    struct vmm_action *a = new_action(o);
    if (!a)
        return bad_arg("too many --hang and --pause options (at most %d)", VMM_MAX_ACTIONS / 2);
    *a = (struct vmm_action){.kind = VMM_ACT_HANG, .cpu = cpu, .at_ns = at, .irqs_on = irqs_on};
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

static int parse_offline(struct vmm_options *o, const char *arg)
{
    uint32_t cpu;
    const char *rest;
    int64_t at;
    if (!parse_cpu_at(arg, &cpu, &rest) || !parse_seconds(rest, '\0', &at, NULL))
        return bad_arg("--offline %s: expected CPU@SECONDS", arg);
    struct vmm_action *a = new_action(o);
    if (!a)
        return bad_arg("too many --hang, --pause and --offline options (at most %d)",
                       VMM_MAX_ACTIONS / 2);
    *a = (struct vmm_action){.kind = VMM_ACT_OFFLINE, .cpu = cpu, .at_ns = at};
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

/* --save-at S and --migrate-at S: a time on the timeline, like --hang's. */
static int parse_checkpoint_at(struct vmm_options *o, const char *name, const char *arg,
                               enum vmm_action_kind kind)
{
    int64_t at;
    if (!parse_seconds(arg, '\0', &at, NULL))
        return bad_arg("%s %s: expected decimal seconds", name, arg);
    struct vmm_action *a = new_action(o);
    if (!a)
        return bad_arg("too many timed options (at most %d)", VMM_MAX_ACTIONS);
    *a = (struct vmm_action){.kind = kind, .at_ns = at};
    return 0;
}

/* Checks what single options cannot: required options, ranges that depend on each other. */
static int check_options(struct vmm_options *o, bool have_cpus, bool have_seconds)
{
    const char *bad = vmm_checkpoint_check_cli(o);
    if (bad)
        return bad_arg("%s", bad);
    /* A restored VM's vCPU count comes from its checkpoint, checked once that is read. */
    if ((!have_cpus && !o->restore_path) || !have_seconds)
        return bad_arg("--cpus and --seconds are required");
    if (o->run_ns <= 0)
        return bad_arg("--seconds must be more than 0");
    if ((uint64_t)o->freq * o->timeout > UINT32_MAX)
        return bad_arg("--freq times --timeout must fit in 32 bits (LOAD_CNT)");
    if (!o->kernel && (o->initrd || o->append || o->system_map))
        return bad_arg("--initrd, --append and --system-map need --kernel");
    for (unsigned i = 0; i < o->action_count; i++) {
        const struct vmm_action *a = &o->actions[i];
        if (have_cpus && a->cpu >= o->cpus)
            return bad_arg("vCPU %u does not exist (--cpus %u)", a->cpu, o->cpus);
        if (a->kind == VMM_ACT_OFFLINE && !o->kernel)
            return bad_arg("--offline needs --kernel");
        if (a->kind == VMM_ACT_HANG && a->irqs_on && o->kernel)
            return bad_arg("--hang %u@...:irqs-on: a Linux guest hangs with interrupts off only "
                           "(a hard lockup)", a->cpu);
    }
    qsort(o->actions, o->action_count, sizeof(o->actions[0]), compare_actions);
    return 0;
}

int vmm_cli_parse(int argc, char **argv, struct vmm_options *o)
{
    enum { O_CPUS = 256, O_SECONDS, O_FREQ, O_TIMEOUT, O_HANG, O_PAUSE, O_CLOCK, O_PLUGIN,
           O_RECORD, O_KERNEL, O_INITRD, O_APPEND, O_SYSTEM_MAP, O_OFFLINE, O_HELP, O_SAVE_AT,
           O_SAVE, O_RESTORE, O_MIGRATE_AT, O_MIGRATE_FD };
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
        {"kernel", required_argument, NULL, O_KERNEL},
        {"initrd", required_argument, NULL, O_INITRD},
        {"append", required_argument, NULL, O_APPEND},
        {"system-map", required_argument, NULL, O_SYSTEM_MAP},
        {"offline", required_argument, NULL, O_OFFLINE},
        {"help", no_argument, NULL, O_HELP},
        {"save-at", required_argument, NULL, O_SAVE_AT},
        {"save", required_argument, NULL, O_SAVE},
        {"restore", required_argument, NULL, O_RESTORE},
        {"migrate-at", required_argument, NULL, O_MIGRATE_AT},
        /* Internal: the destination of --migrate-at reads its checkpoint from this fd. */
        {"migrate-fd", required_argument, NULL, O_MIGRATE_FD},
        {NULL, 0, NULL, 0},
    };
    *o = (struct vmm_options){.freq = 10, .timeout = 8, .clock = VMWDT_CLOCK_AUTO,
                              .migrate_fd = -1, .argc = argc, .argv = argv};
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
            o->have_freq = true;
            if (!parse_u32(optarg, 1, UINT32_MAX, &o->freq))
                rc = bad_arg("--freq %s: expected 1..4294967295", optarg);
            break;
        case O_TIMEOUT:
            o->have_timeout = true;
            if (!parse_u32(optarg, 1, MAX_TIMEOUT, &o->timeout))
                rc = bad_arg("--timeout %s: expected 1..%d seconds", optarg, MAX_TIMEOUT);
            break;
        case O_HANG: rc = parse_hang(o, optarg); break;
        case O_PAUSE: rc = parse_pause(o, optarg); break;
        case O_CLOCK: o->have_clock = true; rc = parse_clock(o, optarg); break;
        case O_PLUGIN: o->plugin_path = optarg; break;
        case O_RECORD: o->record_path = optarg; break;
        case O_KERNEL: o->kernel = optarg; break;
        case O_INITRD: o->initrd = optarg; break;
        case O_APPEND: o->append = optarg; break;
        case O_SYSTEM_MAP: o->system_map = optarg; break;
        case O_OFFLINE: rc = parse_offline(o, optarg); break;
        case O_HELP: usage(stdout); return -1;
        case O_SAVE_AT: rc = parse_checkpoint_at(o, "--save-at", optarg, VMM_ACT_SAVE); break;
        case O_SAVE: o->save_path = optarg; break;
        case O_RESTORE: o->restore_path = optarg; break;
        case O_MIGRATE_AT:
            rc = parse_checkpoint_at(o, "--migrate-at", optarg, VMM_ACT_MIGRATE);
            break;
        case O_MIGRATE_FD: {
            uint32_t fd = 0;
            if (!parse_u32(optarg, 3, 1 << 20, &fd))
                rc = bad_arg("--migrate-fd %s: expected a file descriptor", optarg);
            o->migrate_fd = (int)fd;
            break;
        }
        default:
            rc = bad_arg("unknown or incomplete option '%s'", argv[optind - 1]);
            break;
        }
    }
    o->have_cpus = have_cpus;
    if (rc == 0 && optind < argc)
        rc = bad_arg("unexpected argument '%s'", argv[optind]);
    return rc ? rc : check_options(o, have_cpus, have_seconds);
}

const char *vmm_cli_clock_name(enum vmwdt_clock c)
{
    switch (c) {
    case VMWDT_CLOCK_GUEST_TIME: return "guest-time";
    case VMWDT_CLOCK_THREAD_CPU: return "thread-cpu";
    case VMWDT_CLOCK_MONOTONIC: return "monotonic";
    default: return "auto";
    }
}

