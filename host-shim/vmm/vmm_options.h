/*
 * vmwdt-vmm's command line as parsed (DESIGN.md section 8), and its exit statuses.
 */
#ifndef VMM_OPTIONS_H
#define VMM_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>

#include "vmwdt_loader.h"

/* Exit statuses. */
#define VMM_EXIT_OK    0
#define VMM_EXIT_ERROR 1
#define VMM_EXIT_USAGE 2  /* bad arguments, or /dev/kvm missing or unusable */
#define VMM_EXIT_RESET 36 /* the watchdog asked for a reset (crosvm's status) */

#define VMM_MAX_CPUS    64
#define VMM_MAX_ACTIONS 64

/*
 * With --kernel, VMM_ACT_HANG and VMM_ACT_OFFLINE are done by the guest itself: they become
 * words of its command line, and the host's timeline skips them.
 */
enum vmm_action_kind {
    VMM_ACT_HANG, VMM_ACT_PAUSE, VMM_ACT_RESUME, VMM_ACT_OFFLINE,
    VMM_ACT_SAVE,    /* --save-at: checkpoint to opt.save_path and end the run */
    VMM_ACT_MIGRATE, /* --migrate-at: carry the run on in a new process */
};

/* Something the host does to one vCPU at a chosen time. */
struct vmm_action {
    enum vmm_action_kind kind;
    uint32_t cpu;
    int64_t at_ns;       /* since the start of the run */
    bool irqs_on;        /* VMM_ACT_HANG: spin with interrupts enabled */
    int64_t duration_ns; /* VMM_ACT_PAUSE: for the message */
};

struct vmm_options {
    uint32_t cpus;
    int64_t run_ns;
    uint32_t freq;
    uint32_t timeout;
    enum vmwdt_clock clock;
    const char *plugin_path; /* NULL: the loader's default */
    const char *record_path; /* NULL: no trace */
    const char *kernel;      /* --kernel: a Linux bzImage; NULL: the built-in real-mode guest */
    const char *initrd;
    const char *append;      /* words added to the guest's command line */
    const char *system_map;  /* NULL: System.map beside the kernel, if there is one */
    struct vmm_action actions[VMM_MAX_ACTIONS]; /* sorted by time */
    unsigned action_count;

    /* Checkpoints (vmm_checkpoint.c, vmm_migrate.c). */
    const char *save_path;    /* --save */
    const char *restore_path; /* --restore */
    int migrate_fd;           /* the hidden --migrate-fd: the stream from a migrating source */
    bool have_cpus, have_freq, have_timeout, have_clock; /* given on the command line */
    int argc;                 /* the command line, for the destination of --migrate-at */
    char **argv;
};

/*
 * Parses the command line into o. Returns 0, -1 after --help (printed), or VMM_EXIT_USAGE
 * after a message and the usage on stderr.
 */
int vmm_cli_parse(int argc, char **argv, struct vmm_options *o);

/* The name of a clock as the command line spells it. */
const char *vmm_cli_clock_name(enum vmwdt_clock c);

#endif /* VMM_OPTIONS_H */
