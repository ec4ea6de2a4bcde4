/*
 * The trace recorder: a run's watchdog accesses and guest-clock changes as a DESIGN.md
 * section 6 trace for vmwdt-replay. Every function is safe from every thread.
 */
#ifndef VMM_TRACE_H
#define VMM_TRACE_H

#include <stdbool.h>
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

#endif /* VMM_TRACE_H */
