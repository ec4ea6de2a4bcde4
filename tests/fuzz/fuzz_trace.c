/*
 * Fuzz target for vmwdt-replay's trace parser (DESIGN.md section 6), the code that reads a file
 * from outside line by line. Two passes over each input:
 * - as a whole trace, line by line with one reader, as the replayer reads it, up to the first
 *   line that cannot be read;
 * - its first line as one record, against a reader already past a 4-vCPU header and a
 *   snapshot, so that record fields are reached even when the input has no valid header.
 * Besides "never crashes, leaks or reads out of bounds", every record the parser accepts must
 * obey what the format promises the replay: t never decreases, every vCPU named exists, a
 * register is one of the four, a restore follows a snapshot, nothing follows end, and expect
 * lists hold [t >= 0, existing cpu]; and a line accepted has no duplicate key, as jansson's
 * JSON_REJECT_DUPLICATES would tell. A failed property aborts.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_target.h"
#include "replay.h"

int fuzz_last_rc;

static void check(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_trace: property failed: %s\n", what);
        abort();
    }
}

static void check_events(const struct event_list *l, uint32_t cpus)
{
    check(l->n <= l->cap, "an event list's length fits its capacity");
    for (size_t i = 0; i < l->n; i++)
        check(l->v[i].t >= 0 && l->v[i].cpu < cpus, "expected events name t >= 0 and a vCPU");
}

/* The promises a parsed record makes; *prev_t is the previous record's t (-1: none). */
static void check_record(const struct reader *rd, const struct record *r, int64_t *prev_t,
                         bool *ended, bool *snapshot)
{
    check(!*ended, "no record follows end");
    check(r->line == rd->line, "a record carries its line");
    check(r->t >= 0 && r->t >= *prev_t, "t never decreases");
    *prev_t = r->t;
    switch (r->op) {
    case OP_WRITE:
    case OP_READ:
        check(r->cpu < rd->cpus && r->reg <= 12 && r->reg % 4 == 0, "a register of a vCPU");
        break;
    case OP_WRITE_RAW:
        check(r->data != NULL, "a raw write has its bytes");
        break;
    case OP_GUEST:
        check(r->cpu < rd->cpus, "guest names a vCPU");
        break;
    case OP_SNAPSHOT:
        *snapshot = true;
        break;
    case OP_RESTORE:
        check(*snapshot, "restore follows a snapshot");
        break;
    case OP_EXPECT:
        check_events(&r->irq, rd->cpus);
        check_events(&r->reset, rd->cpus);
        break;
    case OP_END:
        *ended = true;
        break;
    default:
        /* sleep, wake, and any op added later: OP_END stays the enum's last. */
        check(r->op <= OP_END, "a known op");
        break;
    }
    if (r->op != OP_EXPECT)
        check(r->irq.n == 0 && r->reset.n == 0, "only expect carries events");
}

/* Parses data[0..size) as a trace; 0 when every line could be read and the header came. */
static int whole_trace(const uint8_t *data, size_t size)
{
    struct reader rd = {0};
    int64_t prev_t = -1;
    bool ended = false, snapshot = false;
    int rc = 0;
    size_t at = 0;
    while (rc == 0 && at < size) {
        const uint8_t *nl = memchr(data + at, '\n', size - at);
        size_t len = nl ? (size_t)(nl - (data + at)) + 1 : size - at;
        char *line = malloc(len + 1);
        if (line == NULL)
            return -1;
        memcpy(line, data + at, len);
        line[len] = '\0';
        at += len;
        rd.line++;
        struct record r;
        memset(&r, 0, sizeof r);
        int got = reader_line(&rd, line, len, &r);
        check(got == READ_RECORD || got == READ_SKIPPED || got == READ_ERROR, "a known result");
        if (got != READ_ERROR) {
            /* An accepted line is JSON without a duplicate key, as jansson's own check says. */
            json_error_t e;
            json_t *again = json_loadb(line, len, JSON_REJECT_DUPLICATES, &e);
            check(again != NULL || strspn(line, " \t\r\n\v\f") == len,
                  "an accepted line has no duplicate key");
            json_decref(again);
        }
        if (got == READ_RECORD) {
            check(rd.header, "records come after the header");
            check(rd.cpus >= 1 && rd.cpus <= VMWDT_MAX_CPUS && rd.action <= VMWDT_ACTION_NONE,
                  "the header's cpus and action are in range");
            check_record(&rd, &r, &prev_t, &ended, &snapshot);
        }
        record_clear(&r);
        free(line);
        if (got == READ_ERROR)
            rc = -1;
    }
    return rc == 0 && rd.header ? 0 : -1;
}

/* Parses the first line of data as one record after a 4-vCPU header and a snapshot. */
static void one_record(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t len = nl ? (size_t)(nl - data) + 1 : size;
    char *line = malloc(len + 1);
    if (line == NULL)
        return;
    memcpy(line, data, len);
    line[len] = '\0';
    struct reader rd = { .line = 3, .header = true, .cpus = 4, .have_snapshot = true,
                         .prev_t = 0, .prev_line = 2 };
    struct record r;
    memset(&r, 0, sizeof r);
    if (reader_line(&rd, line, len, &r) == READ_RECORD) {
        int64_t prev_t = 0;
        bool ended = false, snapshot = true;
        check_record(&rd, &r, &prev_t, &ended, &snapshot);
    }
    record_clear(&r);
    free(line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    replay_diag = NULL;
    fuzz_last_rc = whole_trace(data, size);
    one_record(data, size);
    return 0;
}
