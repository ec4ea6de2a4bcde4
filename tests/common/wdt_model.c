/*
 * The reference model. See wdt_model.h. Written from DESIGN.md sections 2 and 4 alone: windows
 * are kept as the guest reading at which they end, not as budgets, so that the model does not
 * share the library's arithmetic.
 */
#include "wdt_model.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Action values of enum vmwdt_action, so that the model needs no library header. */
enum { WM_A_IRQ_THEN_RESET, WM_A_IRQ_ONLY, WM_A_RESET, WM_A_NONE };

static bool counting(const struct wm_vcpu *v)
{
    return v->phase == WM_FIRST || v->phase == WM_SECOND;
}

int wm_init(struct wm *m, uint32_t cpus, int action, int64_t t0, const int64_t *origin)
{
    memset(m, 0, sizeof(*m));
    m->v = calloc(cpus, sizeof(*m->v));
    if (m->v == NULL)
        return -ENOMEM;
    m->cpus = cpus;
    m->action = action;
    m->now = t0;
    for (uint32_t i = 0; i < cpus; i++) {
        m->v[i].g_base = origin[i];
        m->v[i].g_since = t0;
        m->v[i].running = true;
        m->v[i].inherit = INT64_MIN;
    }
    return 0;
}

void wm_fini(struct wm *m)
{
    free(m->v);
    free(m->owed);
    memset(m, 0, sizeof(*m));
}

static int64_t guest_at(const struct wm_vcpu *v, int64_t t)
{
    return v->running ? v->g_base + (t - v->g_since) : v->g_base;
}

int64_t wm_guest(const struct wm *m, uint32_t cpu)
{
    return guest_at(&m->v[cpu], m->now);
}

static void owe(struct wm *m, uint32_t cpu, uint8_t kind, int64_t due, int64_t latest)
{
    if (m->nowed == m->capowed) {
        size_t cap = m->capowed ? 2 * m->capowed : 64;
        struct wm_event *o = realloc(m->owed, cap * sizeof(*o));
        if (o == NULL)
            abort();
        m->owed = o;
        m->capowed = cap;
    }
    m->owed[m->nowed++] = (struct wm_event){.due = due, .latest = latest, .cpu = cpu,
                                            .kind = kind, .settled = false};
}

/* The expiry of cpu's window, due at host time t (DESIGN.md section 2, by action). */
static void expire(struct wm *m, uint32_t cpu, int64_t t)
{
    struct wm_vcpu *v = &m->v[cpu];
    int64_t latest = v->lenient ? t + WM_RECHECK_NS : t;
    if (v->inherit > latest)
        latest = v->inherit;
    if (v->phase == WM_SECOND) {
        bool resets = m->action == WM_A_IRQ_THEN_RESET || m->action == WM_A_RESET;
        owe(m, cpu, resets ? WM_RESET : WM_LOGGED, t, latest);
        v->phase = WM_STOPPED;
        return;
    }
    switch (m->action) {
    case WM_A_IRQ_THEN_RESET:
        owe(m, cpu, WM_IRQ, t, latest);
        v->raised = true;
        v->phase = WM_SECOND;
        v->end_g += v->window;  /* the second window starts where the first ended */
        v->lenient = false;
        v->inherit = latest;
        break;
    case WM_A_IRQ_ONLY:
        owe(m, cpu, WM_IRQ, t, latest);
        v->raised = true;
        v->phase = WM_STOPPED;
        break;
    case WM_A_RESET:
        owe(m, cpu, WM_RESET, t, latest);
        v->phase = WM_STOPPED;
        break;
    default:
        owe(m, cpu, WM_LOGGED, t, latest);
        v->phase = WM_STOPPED;
        break;
    }
}

/* Expiries due at the current time (a window of 0 ns, a budget of 0 at wake). */
static void expire_now(struct wm *m, uint32_t cpu)
{
    struct wm_vcpu *v = &m->v[cpu];
    while (!m->asleep && counting(v) && v->end_g <= wm_guest(m, cpu))
        expire(m, cpu, m->now);
}

void wm_advance(struct wm *m, int64_t t)
{
    if (t <= m->now)
        return;
    for (uint32_t c = 0; c < m->cpus && !m->asleep; c++) {
        struct wm_vcpu *v = &m->v[c];
        if (!v->running) {
            int64_t left = v->end_g - guest_at(v, m->now);
            if (counting(v) && left > 0 && left < WM_RECHECK_NS)
                v->lenient = true;
            continue;
        }
        int64_t g_to = guest_at(v, t);
        while (counting(v) && v->end_g <= g_to)
            expire(m, c, t - (g_to - v->end_g));
    }
    m->now = t;
}

void wm_clock_run(struct wm *m, uint32_t cpu, bool running)
{
    struct wm_vcpu *v = &m->v[cpu];
    v->g_base = wm_guest(m, cpu);
    v->g_since = m->now;
    v->running = running;
}

static void start_window(struct wm *m, uint32_t cpu)
{
    struct wm_vcpu *v = &m->v[cpu];
    v->win_freq = v->freq;
    v->window = (int64_t)((uint64_t)v->load * 1000000000ull / v->freq);
    v->raised = false;
    v->phase = WM_FIRST;
    v->lenient = false;
    v->inherit = INT64_MIN;
    if (m->asleep)
        v->budget = v->window;
    else
        v->end_g = wm_guest(m, cpu) + v->window;
}

int wm_write(struct wm *m, uint32_t cpu, uint32_t reg, uint32_t val)
{
    struct wm_vcpu *v = &m->v[cpu];
    int rc = 0;
    switch (reg) {
    case 0x0:
        if (val == 0) {
            v->enabled = false;
            v->phase = WM_IDLE;
        } else if (!v->enabled) {
            if (v->freq == 0)
                return -EINVAL;
            v->enabled = true;
            start_window(m, cpu);
        }
        break;
    case 0x4:
        if (v->freq == 0)
            return -EINVAL;
        v->load = val;
        if (v->enabled)
            start_window(m, cpu);
        else
            v->raised = false;
        break;
    case 0xC:
        v->freq = val;
        break;
    default:
        rc = -EINVAL;
        break;
    }
    expire_now(m, cpu);
    return rc;
}

static int64_t left_of(const struct wm *m, uint32_t cpu)
{
    const struct wm_vcpu *v = &m->v[cpu];
    return m->asleep ? v->budget : v->end_g - wm_guest(m, cpu);
}

uint32_t wm_read(struct wm *m, uint32_t cpu, uint32_t reg)
{
    const struct wm_vcpu *v = &m->v[cpu];
    switch (reg) {
    case 0x0:
        return (v->enabled ? 1u : 0u) | (v->raised ? 2u : 0u);
    case 0x4:
        return v->load;
    case 0x8: {
        if (!v->enabled)
            return v->load;
        if (v->phase != WM_FIRST || v->win_freq == 0)
            return 0;
        /* Ticks left, rounded up, saturating. */
        unsigned __int128 ns = (unsigned __int128)left_of(m, cpu);
        unsigned __int128 ticks = (ns * v->win_freq + 999999999u) / 1000000000u;
        return ticks > UINT32_MAX ? UINT32_MAX : (uint32_t)ticks;
    }
    case 0xC:
        return v->freq;
    default:
        return 0;
    }
}

void wm_touch(struct wm *m, uint32_t cpu)
{
    for (size_t i = 0; i < m->nowed; i++) {
        struct wm_event *e = &m->owed[i];
        if (e->cpu != cpu)
            continue;
        e->settled = true;
        /* The library queues what it settled at the time it settled it. */
        if (e->latest < m->now)
            e->latest = m->now;
    }
}

void wm_sleep(struct wm *m)
{
    if (m->asleep)
        return;
    for (uint32_t c = 0; c < m->cpus; c++) {
        wm_touch(m, c);
        if (counting(&m->v[c]))
            m->v[c].budget = m->v[c].end_g - wm_guest(m, c);
    }
    m->asleep = true;
}

void wm_wake(struct wm *m)
{
    if (!m->asleep)
        return;
    m->asleep = false;
    for (uint32_t c = 0; c < m->cpus; c++) {
        if (counting(&m->v[c]))
            m->v[c].end_g = wm_guest(m, c) + m->v[c].budget;
        /* Events held over the sleep are reported from now on. */
        wm_touch(m, c);
        expire_now(m, c);
    }
}

void wm_snapshot(struct wm *m, struct wm_snap_vcpu *snap)
{
    for (uint32_t c = 0; c < m->cpus; c++) {
        const struct wm_vcpu *v = &m->v[c];
        wm_touch(m, c);
        snap[c] = (struct wm_snap_vcpu){
            .enabled = v->enabled, .raised = v->raised, .stopped = v->phase == WM_STOPPED,
            .freq = v->freq, .load = v->load, .window = v->window,
            .budget = counting(v) ? left_of(m, c) : 0,
        };
    }
}

void wm_restore(struct wm *m, const struct wm_snap_vcpu *snap, bool fresh, int action)
{
    wm_sleep(m);
    if (fresh) {
        m->nowed = 0;
        m->action = action;
    }
    for (uint32_t c = 0; c < m->cpus; c++) {
        struct wm_vcpu *v = &m->v[c];
        const struct wm_snap_vcpu *s = &snap[c];
        v->enabled = s->enabled;
        v->raised = s->raised;
        v->freq = s->freq;
        v->load = s->load;
        /* The document keeps the register, not the f the window was started with. */
        v->win_freq = s->freq;
        v->window = s->window;
        v->budget = s->budget;
        v->phase = !s->enabled ? WM_IDLE : s->stopped ? WM_STOPPED : s->raised ? WM_SECOND
                                                                               : WM_FIRST;
        v->lenient = false;
        v->inherit = INT64_MIN;
    }
}

int64_t wm_next_latest(const struct wm *m)
{
    int64_t next = INT64_MAX;
    /* Asleep, nothing is checked: owed events wait for wake. */
    if (m->asleep)
        return next;
    for (size_t i = 0; i < m->nowed; i++)
        if (m->owed[i].latest < next)
            next = m->owed[i].latest;
    for (uint32_t c = 0; c < m->cpus; c++) {
        const struct wm_vcpu *v = &m->v[c];
        if (!counting(v) || !v->running)
            continue;
        int64_t t = m->now + (v->end_g - wm_guest(m, c));
        int64_t latest = v->lenient ? t + WM_RECHECK_NS : t;
        if (v->inherit > latest)
            latest = v->inherit;
        if (latest < next)
            next = latest;
    }
    return next;
}
