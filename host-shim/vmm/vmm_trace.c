/*
 * The trace recorder: writes a run's watchdog MMIO accesses and the vCPUs' guest-clock
 * changes as a DESIGN.md section 6 trace that vmwdt-replay can play back.
 *
 * What matches the real run exactly: the sequence of guest writes and reads per vCPU, their
 * values, and the times at which each vCPU left and re-entered KVM_RUN (a halt or a pause).
 * What does not: the replayer's guest clocks run at host rate whenever a vCPU is recorded as
 * running, while a real vCPU thread's CPU time (and so the THREAD_CPU and AUTO clocks) runs
 * slower when the host has fewer free cores than busy vCPUs. Replayed events therefore come at
 * or before the real ones, by the CPU time the real vCPU thread was denied. Under the
 * GUEST_TIME clock on a host that does not account guest time, the real run sees no event at
 * all while the replay does.
 *
 * t is taken under the recorder's lock, so it never decreases even though every vCPU thread
 * records its own accesses.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "vmm_output.h"
#include "vmm_trace.h"

struct vmm_trace {
    FILE *f;
    pthread_mutex_t lock;
    uint32_t cpus;
    int64_t start_ns;
    int64_t last_t;
    int error; /* the first write error, as errno */
};

static const char *const reg_names[] = {"STATUS", "LOAD_CNT", "CURRENT_CNT", "CLOCK_FREQ_HZ"};

struct vmm_trace *vmm_trace_open(const char *path, uint32_t cpus, int64_t start_ns)
{
    struct vmm_trace *tr = calloc(1, sizeof(*tr));
    if (!tr)
        return NULL;
    tr->f = fopen(path, "we");
    if (!tr->f) {
        int saved = errno;
        free(tr);
        errno = saved;
        return NULL;
    }
    pthread_mutex_init(&tr->lock, NULL);
    tr->cpus = cpus;
    tr->start_ns = start_ns;
    fprintf(tr->f, "{\"vmwdt_trace\": 1, \"cpus\": %u, \"action\": \"irq_then_reset\"}\n", cpus);
    return tr;
}

/* Starts a record of host time now_ns: takes the lock and prints {"t": T, "op": "<op>". */
static void record_begin_at(struct vmm_trace *tr, const char *op, int64_t now_ns)
{
    pthread_mutex_lock(&tr->lock);
    int64_t t = now_ns - tr->start_ns;
    if (t < tr->last_t)
        t = tr->last_t;
    tr->last_t = t;
    fprintf(tr->f, "{\"t\": %lld, \"op\": \"%s\"", (long long)t, op);
}

static void record_begin(struct vmm_trace *tr, const char *op)
{
    record_begin_at(tr, op, vmm_now_ns());
}

static void record_end(struct vmm_trace *tr)
{
    if (fputs("}\n", tr->f) == EOF && !tr->error)
        tr->error = errno ? errno : EIO;
    pthread_mutex_unlock(&tr->lock);
}

/* Whether an access is one the register form describes: 4 bytes, aligned, an existing vCPU. */
static bool is_register(const struct vmm_trace *tr, uint64_t offset, uint32_t len)
{
    return len == 4 && offset % 4 == 0 && offset / 16 < tr->cpus;
}

void vmm_trace_write(struct vmm_trace *tr, uint64_t offset, const uint8_t *data, uint32_t len)
{
    record_begin(tr, "write");
    if (is_register(tr, offset, len)) {
        uint32_t value = (uint32_t)data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16 |
                         (uint32_t)data[3] << 24;
        fprintf(tr->f, ", \"cpu\": %u, \"reg\": \"%s\", \"value\": %u", (unsigned)(offset / 16),
                reg_names[(offset % 16) / 4], value);
    } else {
        fprintf(tr->f, ", \"offset\": %llu, \"data\": \"", (unsigned long long)offset);
        for (uint32_t i = 0; i < len; i++)
            fprintf(tr->f, "%02x", data[i]);
        fputc('"', tr->f);
    }
    record_end(tr);
}

/* Reads that the register form cannot describe are left out: the format has no raw read. */
void vmm_trace_read(struct vmm_trace *tr, uint64_t offset, uint32_t len)
{
    if (!is_register(tr, offset, len))
        return;
    record_begin(tr, "read");
    fprintf(tr->f, ", \"cpu\": %u, \"reg\": \"%s\"", (unsigned)(offset / 16),
            reg_names[(offset % 16) / 4]);
    record_end(tr);
}

void vmm_trace_guest(struct vmm_trace *tr, uint32_t cpu, bool running)
{
    vmm_trace_guest_at(tr, cpu, running, vmm_now_ns());
}

void vmm_trace_guest_at(struct vmm_trace *tr, uint32_t cpu, bool running, int64_t now_ns)
{
    record_begin_at(tr, "guest", now_ns);
    fprintf(tr->f, ", \"cpu\": %u, \"running\": %s", cpu, running ? "true" : "false");
    record_end(tr);
}

int vmm_trace_close(struct vmm_trace *tr)
{
    if (!tr)
        return 0;
    record_begin(tr, "end");
    record_end(tr);
    int err = tr->error;
    if (fclose(tr->f) != 0 && !err)
        err = errno ? errno : EIO;
    pthread_mutex_destroy(&tr->lock);
    free(tr);
    return err ? -err : 0;
}

/* ---- a trace across a checkpoint ---- */

void vmm_trace_op(struct vmm_trace *tr, const char *op)
{
    record_begin(tr, op);
    if (strcmp(op, "restore") == 0)
        fputs(", \"fresh\": true", tr->f);
    record_end(tr);
}

int vmm_trace_position(struct vmm_trace *tr, int64_t *last_t, uint64_t *length)
{
    pthread_mutex_lock(&tr->lock);
    int rc = fflush(tr->f) == 0 && !tr->error ? 0 : -1;
    long pos = ftell(tr->f);
    *last_t = tr->last_t;
    *length = pos > 0 ? (uint64_t)pos : 0;
    pthread_mutex_unlock(&tr->lock);
    return rc == 0 && pos > 0 ? 0 : -1;
}

void vmm_trace_abandon(struct vmm_trace *tr)
{
    if (!tr)
        return;
    fclose(tr->f);
    pthread_mutex_destroy(&tr->lock);
    free(tr);
}

struct vmm_trace *vmm_trace_continue(const char *path, uint32_t cpus, int64_t start_ns,
                                     int64_t last_t, const char *prefix, size_t prefix_len,
                                     uint64_t in_place_length)
{
    struct vmm_trace *tr = calloc(1, sizeof(*tr));
    if (!tr)
        return NULL;
    tr->f = fopen(path, prefix ? "we" : "ae");
    if (!tr->f) {
        int saved = errno;
        free(tr);
        errno = saved;
        return NULL;
    }
    /* Appending: the file must be exactly what the source left, or the records would not
     * follow on from its last one. */
    long size = prefix ? 0 : (fseek(tr->f, 0, SEEK_END), ftell(tr->f));
    if ((prefix && fwrite(prefix, 1, prefix_len, tr->f) != prefix_len) ||
        (!prefix && (size < 0 || (uint64_t)size != in_place_length))) {
        fclose(tr->f);
        free(tr);
        errno = prefix ? EIO : ESTALE;
        return NULL;
    }
    pthread_mutex_init(&tr->lock, NULL);
    tr->cpus = cpus;
    tr->start_ns = start_ns;
    tr->last_t = last_t;
    return tr;
}
