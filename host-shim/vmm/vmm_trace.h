/*
 * The trace recorder: a run's watchdog accesses and guest-clock changes as a DESIGN.md
 * section 6 trace for vmwdt-replay. Every function is safe from every thread.
 */
#ifndef VMM_TRACE_H
#define VMM_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vmm_trace;

struct vmm_trace *vmm_trace_open(const char *path, uint32_t cpus, int64_t start_ns);
void vmm_trace_write(struct vmm_trace *tr, uint64_t offset, const uint8_t *data, uint32_t len);
void vmm_trace_read(struct vmm_trace *tr, uint64_t offset, uint32_t len);
void vmm_trace_guest(struct vmm_trace *tr, uint32_t cpu, bool running);
/* The same at host time now_ns (vmm_now_ns()), for a caller that accounts time itself; a time
 * before the last record's is recorded as that one's, since t never decreases. */
void vmm_trace_guest_at(struct vmm_trace *tr, uint32_t cpu, bool running, int64_t now_ns);
int vmm_trace_close(struct vmm_trace *tr); /* writes the end record; 0 or -errno */

/*
 * Across a checkpoint (vmm_checkpoint.c). vmm_trace_op records "sleep", "snapshot", "wake" or
 * "restore" (with "fresh": true: the destination is a new device instance).
 * vmm_trace_position flushes and tells the last t and the file's length; 0 or -1.
 * vmm_trace_abandon closes without the end record: the destination carries the trace on.
 * vmm_trace_continue opens a trace that follows on from last_t: a new file that starts with
 * prefix (the source's trace so far), or, with prefix NULL, the source's own file appended
 * to, which must be in_place_length bytes long (errno ESTALE when not). NULL with errno.
 */
void vmm_trace_op(struct vmm_trace *tr, const char *op);
int vmm_trace_position(struct vmm_trace *tr, int64_t *last_t, uint64_t *length);
void vmm_trace_abandon(struct vmm_trace *tr);
struct vmm_trace *vmm_trace_continue(const char *path, uint32_t cpus, int64_t start_ns,
                                     int64_t last_t, const char *prefix, size_t prefix_len,
                                     uint64_t in_place_length);

#endif /* VMM_TRACE_H */
