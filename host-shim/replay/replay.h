/*
 * vmwdt-replay's parts (see vmwdt_replay.c for the trace format's exact semantics): reading a
 * trace one record at a time (replay_parse.c), applying a record to the plugin
 * (replay_ops.c), and checking and printing the events (replay_events.c).
 */
#ifndef VMWDT_REPLAY_H
#define VMWDT_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "vmwdt_loader.h"

#define EXIT_EXPECT 1
#define EXIT_TRACE 2
#define EXIT_SETUP 3
#define STUCK_LIMIT 1000
#define POLL_LIMIT 10000000

enum op {
    OP_WRITE,
    OP_WRITE_RAW,
    OP_READ,
    OP_GUEST,
    OP_SLEEP,
    OP_WAKE,
    OP_SNAPSHOT,
    OP_RESTORE,
    OP_EXPECT,
    OP_ACTION,
    OP_END /* stays last: the fuzz target checks ops against it */
};

struct event {
    int64_t t;
    uint32_t cpu;
};

struct event_list {
    struct event *v;
    size_t n, cap;
};

/* One record, as read; what it owns (data, irq, reset) is freed by record_clear(). */
struct record {
    size_t line;
    enum op op;
    int64_t t;
    uint32_t cpu, reg, value;
    bool has_expect;
    uint32_t expect;
    uint64_t offset;
    uint8_t *data;
    uint32_t len;
    bool flag; /* guest: running; restore: fresh */
    struct event_list irq, reset;
};

/* The state of reading a trace: what the rules of later lines depend on, and no more. */
struct reader {
    FILE *f;
    char *buf;
    size_t cap;
    size_t line;       /* the number of the last line read */
    bool header;       /* the header line was read */
    uint32_t cpus, action;
    bool have_snapshot; /* a snapshot record came */
    size_t end_line;    /* the end record's line, 0 before it */
    int64_t prev_t;     /* the previous record's t and line (prev_line 0: none yet) */
    size_t prev_line;
};

enum { READ_ERROR = -1, READ_DONE = 0, READ_RECORD = 1, READ_SKIPPED = 2 };

/* Where diagnostics about the trace go (NULL: nowhere), and the name they give it. */
extern FILE *replay_diag;
extern const char *replay_trace_path;

/*
 * Parses one line (line number rd->line, len bytes, NUL-terminated at len) into *r. Returns
 * READ_RECORD, READ_SKIPPED (a blank line or the header) or READ_ERROR (said why).
 */
int reader_line(struct reader *rd, const char *buf, size_t len, struct record *r);

/* Reads rd->f up to its header line: 0, or -1 (said why). */
int reader_start(struct reader *rd);

/* Reads the next record from rd->f: READ_RECORD, READ_DONE at the end, or READ_ERROR. */
int reader_next(struct reader *rd, struct record *r);

void reader_free(struct reader *rd);
void record_clear(struct record *r);
int events_push(struct event_list *l, int64_t t, uint32_t cpu);

/* A vCPU's virtual guest clock: base while frozen, base + (now - since) while running. */
struct guest_clock {
    bool running;
    int64_t base, since;
};

struct replay {
    struct vmwdt_plugin *plugin;
    vmwdt *dev;
    struct vmwdt_config cfg;
    struct vmwdt_host_ops ops;
    uint32_t cpus;
    int64_t now;
    struct guest_clock *clock;
    struct event_list irq, reset; /* since the previous expect */
    char *snapshot;
    size_t records, expects, failures, refused, irqs, resets;
};

/* replay_ops.c: the plugin's callbacks and the records' effects. */
int64_t guest_read(const struct guest_clock *c, int64_t now);
void replay_host_ops(struct replay *rp, uint32_t action);
int create_device(struct replay *rp);
/* Runs every timer due at or before t, then sets the virtual time to t. */
bool advance(struct replay *rp, int64_t t, size_t line);
/* Applies one record; false when the replay cannot go on (the device is gone). */
bool apply(struct replay *rp, struct record *r);
const char *why(struct replay *rp, int rc);

/* replay_events.c: events as they come, expectations, failures and the summary. */
void on_irq(void *opaque, uint32_t cpu);
void on_reset(void *opaque, uint32_t cpu);
void failure(struct replay *rp, size_t line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void compare_events(struct replay *rp, size_t line, const char *kind, struct event_list *got,
                    struct event_list *want);
void print_summary(const struct replay *rp);

#endif /* VMWDT_REPLAY_H */
