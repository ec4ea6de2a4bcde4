/*
 * The checkpoint stream of vmwdt-vmm: what a checkpoint holds and its codec over a file
 * descriptor (a file or a socket). CHECKPOINT.md describes the bytes.
 *
 * The reader validates the whole stream (magic, format version, every length and checksum,
 * the order of the sections, the vCPU count) before it returns anything, so that a caller
 * applies a checkpoint only once all of it is known to be good: nothing is half-restored.
 * The codec carries the vCPU and VM records (KVM's state, vmm_state.h) as opaque records of
 * the size the caller expects; checking and applying what is inside them is the VM's business.
 */
#ifndef VMM_CKPT_FORMAT_H
#define VMM_CKPT_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VMM_CKPT_MAGIC "VMWDTCKP" /* 8 bytes, no terminator on the stream */
#define VMM_CKPT_VERSION 1
#define VMM_CKPT_HEADER_SIZE 64
#define VMM_CKPT_SECTION_HEADER_SIZE 24

#define VMM_CKPT_MAX_CPUS 4096
#define VMM_CKPT_MAX_MEMORY (1ULL << 30)
#define VMM_CKPT_MAX_PLUGIN (64ULL << 20)
#define VMM_CKPT_MAX_TRACE (1ULL << 30)

/* Section types, in the order they appear on the stream. */
enum vmm_ckpt_type {
    VMM_CKPT_MEMORY = 1, /* guest RAM, header.ram_size bytes */
    VMM_CKPT_CLOCK = 2,  /* struct vmm_ckpt_clock */
    VMM_CKPT_VCPU = 3,   /* one per vCPU, index = vCPU: its record */
    VMM_CKPT_HOST = 4,   /* the VMM's own per-vCPU state: struct vmm_ckpt_host_vcpu each */
    VMM_CKPT_PLUGIN = 5, /* the plugin's snapshot document (DESIGN.md section 5), as is */
    VMM_CKPT_TRACE = 6,  /* optional: where a --record trace stands */
    VMM_CKPT_END = 7,    /* the number of sections before it */
    VMM_CKPT_VM = 8,     /* the VM-wide KVM state, after the clock: one record */
};

struct vmm_ckpt_header {
    uint32_t version; /* filled by the reader; the writer always writes VMM_CKPT_VERSION */
    uint32_t cpus;
    uint32_t freq;    /* CLOCK_FREQ_HZ the guest programs */
    uint32_t timeout; /* the guest's timeout in seconds */
    uint32_t clock;   /* enum vmwdt_clock of the source's device */
    uint64_t ram_size;
};

/* The time state: what the guest's TSC-timed pets and the output's timestamps depend on. */
struct vmm_ckpt_clock {
    uint32_t tsc_khz;        /* the guest TSC frequency (KVM_GET_TSC_KHZ) */
    int64_t run_start_ns;    /* CLOCK_MONOTONIC at the start of the source's run */
    int64_t run_elapsed_ns;  /* the source's run time when its last vCPU stopped */
    int64_t stop_ns;         /* CLOCK_MONOTONIC when the last vCPU stopped */
    int64_t plugin_ns;       /* the source's vmwdt_sleep + vmwdt_snapshot_json time */
};

/* What the VMM's host side knows of a vCPU that KVM does not. */
struct vmm_ckpt_host_vcpu {
    bool irq_pending;      /* the stall interrupt waited for delivery */
    bool halted;           /* the guest had executed HLT and was idle */
    bool paused;           /* a --pause kept the vCPU out of KVM_RUN */
    bool wdt_enabled;      /* the guest's last STATUS enable bit, for the enable/disable lines */
    int64_t sleep_left_ns; /* what was left of the guest's bound on that HLT; -1: none */
};

struct vmm_ckpt_trace {
    int64_t last_t;       /* the last t written, in ns of the trace's time */
    uint64_t file_length; /* bytes of the trace file when the stream was written */
    bool in_place;        /* the destination appends to the same file; text is empty */
    char *text;           /* otherwise the trace so far, to start the destination's own */
    size_t text_len;
};

struct vmm_ckpt {
    struct vmm_ckpt_header hdr;
    uint8_t *memory;                 /* hdr.ram_size bytes */
    struct vmm_ckpt_clock clock;
    uint8_t *vm_state;               /* vm_size bytes */
    size_t vm_size;
    uint8_t *vcpus;                  /* hdr.cpus records of vcpu_size bytes */
    size_t vcpu_size;
    struct vmm_ckpt_host_vcpu *host; /* hdr.cpus */
    char *plugin_json;               /* NUL-terminated */
    size_t plugin_len;
    bool has_trace;
    struct vmm_ckpt_trace trace;
};

/* The name of a section in messages: "memory", "vCPU 1", "plugin document"... */
void vmm_ckpt_section_name(uint32_t type, uint32_t index, char *buf, size_t len);

/*
 * Writes c to fd. Returns 0, or a negative errno with a message in err. A socket is written
 * with MSG_NOSIGNAL, so a peer that went away gives -EPIPE, not SIGPIPE.
 */
int vmm_ckpt_write(int fd, const struct vmm_ckpt *c, char *err, size_t errlen);

/* What the reader expects: a vCPU count (0: any), and the sizes of the records it carries. */
struct vmm_ckpt_shape {
    uint32_t cpus;
    size_t vcpu_size;
    size_t vm_size;
};

/*
 * Reads and validates a whole checkpoint from fd, reading nothing past its end section.
 * Returns 0 with *out filled (free it with vmm_ckpt_free), or -1 with *out empty and a
 * message in err that names what is wrong and, for a section, which one.
 */
int vmm_ckpt_read(int fd, const struct vmm_ckpt_shape *want, struct vmm_ckpt *out, char *err,
                  size_t errlen);

void vmm_ckpt_free(struct vmm_ckpt *c);

#endif /* VMM_CKPT_FORMAT_H */
