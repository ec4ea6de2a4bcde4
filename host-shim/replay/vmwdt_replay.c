/*
 * vmwdt-replay [--plugin PATH] TRACE.jsonl
 *
 * Replays a trace (DESIGN.md section 6) against a vmwdt plugin loaded through the host loader,
 * in virtual time: the device runs with VMWDT_TIMERS_EXTERNAL and VMWDT_CLOCK_HOST, now_ns()
 * is the virtual time and each vCPU's guest clock is a virtual clock that runs at host rate
 * from t = 0 unless the trace pauses it.
 *
 * Output on stdout: one line per event, {"t": T, "event": "irq"|"reset", "cpu": C}, in the
 * order the plugin reported them, then one summary line. Diagnostics go to stderr, each
 * naming the trace line. Exit status: 0 every expectation held; 1 one did not (or the plugin
 * refused a call the trace needs: sleep, wake, snapshot, restore, run_due); 2 the trace cannot
 * be read; 3 the replay could not start (bad usage, the plugin did not load, the device could
 * not be created).
 *
 * The exact semantics chosen where the contract leaves room:
 * - The trace is read as it is replayed, one record at a time, so memory does not depend on its
 *   length. A line that cannot be read ends the replay with exit 2 (naming it, and no summary
 *   line), also when records before it were applied and printed events or failed an
 *   expectation; after a replay that stopped early (a stuck plugin, end) the rest of the trace
 *   is still read and checked. The header is read before the plugin is loaded.
 * - Lines holding only white space are skipped. The first other line is the header:
 *   {"vmwdt_trace": 1, "cpus": N, "action": A}, N in 1..4096, A optional (default
 *   "irq_then_reset"). Every later line is an object with an integer "t" (0..2^63-1, never
 *   below the previous record's) and an "op". Keys that the op does not define are an error,
 *   except "comment", which any line may carry (any JSON value). Integers must be JSON
 *   integers: 1.0 is refused.
 * - write: either "cpu", "reg", "value" (0..2^32-1), or "offset" (0..2^63-1) and "data" (hex,
 *   two digits a byte, either case, empty allowed); mixing the two forms is an error. A write
 *   the plugin refuses is reported on stderr and counted in the summary ("refused"); it is no
 *   failure, since refusing bad guest input is the device's job.
 * - read: "cpu", "reg", optional "expect" (0..2^32-1). With "expect", a refused read or another
 *   value is a failure; without it the value is not checked.
 * - "cpu" must name an existing vCPU (0..cpus-1), also inside expect lists.
 * - guest: "running" false freezes the vCPU's guest clock at its reading at t; true lets it run
 *   again from t. Repeating the current state changes nothing.
 * - restore: needs an earlier snapshot record in the file (else the trace is unreadable). It
 *   restores the last snapshot taken. "fresh": true destroys the device and creates a new one
 *   with the same configuration before restoring (migration); events the old device had
 *   pending are lost with it. The guest clocks carry on as they are. A restored device is
 *   asleep: the trace wakes it with a "wake" record. A refused restore is a failure.
 * - expect: "irq" and "reset", each optional (missing means none), lists of [t, cpu]. The events
 *   of each kind reported since the previous expect record (or since the start) must equal the
 *   list as a multiset; order does not matter. Every expect record starts a new window, even
 *   when it fails.
 * - Timers: before a record at time t is applied, d = next_deadline_ns() is polled and, while
 *   d <= t (INT64_MAX meaning none), the virtual time is set to d (never moved back: a deadline
 *   already in the past runs at the current time) and run_due() is called with it. Events are
 *   stamped with the virtual time of the call that reported them. Then the virtual time becomes
 *   t and the record is applied. So an event due at exactly a record's t comes before that
 *   record takes effect. If the deadline stays put while run_due() reports nothing 1000 times
 *   in a row, the plugin is stuck: a failure, and the replay stops. So is a plugin that needs
 *   10000000 calls of run_due() in a row without an event before one record: a plugin exact
 *   in virtual time polls a vCPU whose guest clock is frozen once per remaining budget, and a
 *   budget of a few nanoseconds across a long pause would keep the replay busy for years.
 * - action: "action" as in the header; vmwdt_set_action (ABI 1.1) from t on. A plugin of ABI
 *   1.0 lacks it: a failure that says so.
 * - end: timers due up to its t run, then the replay stops. Records after it are an error. A
 *   trace without end stops after its last record (timers due up to that record's t ran).
 * - A failed expectation does not stop the replay: every failure is reported, then exit 1.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replay.h"

/*
 * Replays the records as they are read. After a replay that stopped early the rest is still
 * read, so that a trace that cannot be read exits 2 wherever its bad line is.
 */
static int replay(struct replay *rp, struct reader *rd)
{
    struct record r;
    bool going = true;
    int rc;
    while ((rc = reader_next(rd, &r)) == READ_RECORD) {
        if (going) {
            rp->records++;
            going = advance(rp, r.t, r.line) && apply(rp, &r) && r.op != OP_END;
        }
        record_clear(&r);
    }
    if (rc == READ_ERROR)
        return EXIT_TRACE;
    print_summary(rp);
    return rp->failures ? EXIT_EXPECT : EXIT_SUCCESS;
}

static int setup_and_replay(const char *plugin_path, struct reader *rd)
{
    struct replay rp = {.cpus = rd->cpus};
    char err[512];
    int rc = vmwdt_plugin_open(plugin_path, 0, &rp.plugin, err, sizeof err);
    if (rc < 0) {
        fprintf(stderr, "vmwdt-replay: %s\n", err);
        return EXIT_SETUP;
    }
    rp.clock = calloc(rd->cpus, sizeof *rp.clock);
    for (uint32_t i = 0; rp.clock && i < rd->cpus; i++)
        rp.clock[i].running = true;
    replay_host_ops(&rp, rd->action);
    int status = EXIT_SETUP;
    rc = rp.clock ? create_device(&rp) : -ENOMEM;
    if (rc < 0)
        fprintf(stderr, "vmwdt-replay: %s: creating the device failed: %s\n",
                vmwdt_plugin_path(rp.plugin), why(&rp, rc));
    else
        status = replay(&rp, rd);
    vmwdt_plugin_destroy(rp.plugin, rp.dev);
    vmwdt_plugin_free(rp.plugin, rp.snapshot);
    vmwdt_plugin_close(rp.plugin);
    free(rp.irq.v);
    free(rp.reset.v);
    free(rp.clock);
    return status;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: vmwdt-replay [--plugin PATH] TRACE.jsonl\n"
                 "Replays a vmwdt trace in virtual time; prints each event as a JSON line.\n"
                 "Exit: 0 every expectation held, 1 one failed, 2 the trace cannot be read,\n"
                 "3 the plugin could not be loaded. TRACE may be - for standard input.\n"
                 "The plugin defaults to $VMWDT_PLUGIN, else the library this tree built.\n");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"plugin", required_argument, NULL, 'p'}, {"help", no_argument, NULL, 'h'}, {0}};
    const char *plugin = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "p:h", opts, NULL)) != -1) {
        if (c == 'p') {
            plugin = optarg;
        } else if (c == 'h') {
            usage(stdout);
            return EXIT_SUCCESS;
        } else {
            usage(stderr);
            return EXIT_SETUP;
        }
    }
    if (optind + 1 != argc) {
        usage(stderr);
        return EXIT_SETUP;
    }
    replay_diag = stderr;
    replay_trace_path = argv[optind];
    FILE *f = strcmp(replay_trace_path, "-") == 0 ? stdin : fopen(replay_trace_path, "r");
    if (!f) {
        fprintf(stderr, "vmwdt-replay: %s: %s\n", replay_trace_path, strerror(errno));
        return EXIT_TRACE;
    }
    /* Events go out as they come, a line at a time, with a buffer larger than stdio's. */
    static char out[1 << 16];
    setvbuf(stdout, out, _IOLBF, sizeof out);
    struct reader rd = {.f = f};
    int status = reader_start(&rd) == 0 ? setup_and_replay(plugin, &rd) : EXIT_TRACE;
    reader_free(&rd);
    if (f != stdin)
        fclose(f);
    return status;
}
