/*
 * The replay's output and checks: each event printed as it comes and kept until the next
 * expect record compares it, failures named by line, and the summary line.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "replay.h"

static void print_event(const char *what, int64_t t, uint32_t cpu)
{
    printf("{\"t\": %" PRId64 ", \"event\": \"%s\", \"cpu\": %" PRIu32 "}\n", t, what, cpu);
}

void on_irq(void *opaque, uint32_t cpu)
{
    struct replay *rp = opaque;
    rp->irqs++;
    print_event("irq", rp->now, cpu);
    if (events_push(&rp->irq, rp->now, cpu) < 0)
        rp->failures++;
}

void on_reset(void *opaque, uint32_t cpu)
{
    struct replay *rp = opaque;
    rp->resets++;
    print_event("reset", rp->now, cpu);
    if (events_push(&rp->reset, rp->now, cpu) < 0)
        rp->failures++;
}

void failure(struct replay *rp, size_t line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "vmwdt-replay: %s: line %zu: FAILED: ", replay_trace_path, line);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    rp->failures++;
}

static int cmp_event(const void *a, const void *b)
{
    const struct event *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    return x->cpu < y->cpu ? -1 : x->cpu > y->cpu;
}

static void format_events(char *buf, size_t len, const struct event_list *l)
{
    size_t off = (size_t)snprintf(buf, len, "[");
    for (size_t i = 0; i < l->n && off < len; i++) {
        if (i == 16) {
            off += (size_t)snprintf(buf + off, len - off, ", ... (%zu in all)", l->n);
            break;
        }
        off += (size_t)snprintf(buf + off, len - off, "%s[%" PRId64 ", %" PRIu32 "]", i ? ", " : "",
                                l->v[i].t, l->v[i].cpu);
    }
    if (off < len)
        snprintf(buf + off, len - off, "]");
}

/* The events reported must equal the expected ones as multisets; both lists get sorted. */
void compare_events(struct replay *rp, size_t line, const char *kind, struct event_list *got,
                           struct event_list *want)
{
    /* An empty list may have no array at all, which qsort() must not be given. */
    if (got->n)
        qsort(got->v, got->n, sizeof *got->v, cmp_event);
    if (want->n)
        qsort(want->v, want->n, sizeof *want->v, cmp_event);
    bool same = got->n == want->n;
    for (size_t i = 0; same && i < got->n; i++)
        same = cmp_event(&got->v[i], &want->v[i]) == 0;
    if (!same) {
        char w[1024], g[1024];
        format_events(w, sizeof w, want);
        format_events(g, sizeof g, got);
        failure(rp, line, "expect: %s events differ: expected %s, got %s", kind, w, g);
    }
    got->n = 0;
}

void print_summary(const struct replay *rp)
{
    printf("{\"summary\": \"%s\", \"records\": %zu, \"irq\": %zu, \"reset\": %zu, "
           "\"expects\": %zu, \"failures\": %zu, \"refused\": %zu, \"t\": %" PRId64 "}\n",
           rp->failures ? "fail" : "pass", rp->records, rp->irqs, rp->resets, rp->expects,
           rp->failures, rp->refused, rp->now);
}

