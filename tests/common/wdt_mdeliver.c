/*
 * The model's check of one vmwdt_run_due() call. See wm_deliver() in wdt_model.h: which owed
 * events the callbacks may tell at the current time, and which they must.
 */
#include "wdt_model.h"

#include <stdio.h>
#include <stdlib.h>

static const char *kind_name(int k)
{
    return k == WM_IRQ ? "irq" : k == WM_RESET ? "reset" : "logged";
}

int wm_deliver(struct wm *m, const struct wm_fired *fired, size_t n, int ret, char *err,
               size_t errlen)
{
    size_t told = 0, extra_logged;
    if (m->asleep) {
        if (n != 0 || ret != 0) {
            snprintf(err, errlen, "run_due at %lld while asleep reported %zu events (ret %d)",
                     (long long)m->now, n, ret);
            return -1;
        }
        return 0;
    }
    /* Which owed events this call told; on the stack for the usual handful. */
    bool small[64] = {false};
    bool *gone = m->nowed <= 64 ? small : calloc(m->nowed, sizeof(*gone));
    if (gone == NULL)
        abort();
    /* Per vCPU: the callbacks must tell a prefix of its owed events, in due order, that holds
     * every event that must come now. */
    for (uint32_t c = 0; c < m->cpus; c++) {
        size_t want[3] = {0, 0, 0}, got[3] = {0, 0, 0}, must_end = 0;
        for (size_t i = 0; i < n; i++)
            if (fired[i].cpu == c)
                got[fired[i].kind]++;
        for (size_t i = 0; i < m->nowed; i++) {
            const struct wm_event *e = &m->owed[i];
            if (e->cpu == c && e->due <= m->now && (e->settled || e->latest <= m->now))
                must_end = i + 1;
        }
        for (size_t i = 0; i < m->nowed && (want[WM_IRQ] < got[WM_IRQ] ||
                                           want[WM_RESET] < got[WM_RESET] || i < must_end); i++) {
            const struct wm_event *e = &m->owed[i];
            if (e->cpu != c)
                continue;
            if (e->due > m->now) {
                snprintf(err, errlen, "cpu %u: %s at %lld told at %lld, before it was due", c,
                         kind_name(e->kind), (long long)e->due, (long long)m->now);
                goto fail;
            }
            want[e->kind]++;
            gone[i] = true;
        }
        if (want[WM_IRQ] != got[WM_IRQ] || want[WM_RESET] != got[WM_RESET]) {
            snprintf(err, errlen, "cpu %u at %lld: the model owes %zu irq and %zu reset up to "
                     "here, the library told %zu and %zu", c, (long long)m->now, want[WM_IRQ],
                     want[WM_RESET], got[WM_IRQ], got[WM_RESET]);
            goto fail;
        }
        told += want[WM_IRQ] + want[WM_RESET] + want[WM_LOGGED];
    }
    /* Logged expiries make no callback: the count run_due returns says how many came. */
    if ((size_t)(ret < 0 ? 0 : ret) < told) {
        snprintf(err, errlen, "run_due at %lld returned %d, fewer than the %zu events told",
                 (long long)m->now, ret, told);
        goto fail;
    }
    extra_logged = (size_t)ret - told;
    for (size_t i = 0; i < m->nowed && extra_logged > 0; i++) {
        const struct wm_event *e = &m->owed[i];
        if (!gone[i] && e->kind == WM_LOGGED && e->due <= m->now) {
            bool earlier_left = false;
            for (size_t j = 0; j < i; j++)
                if (!gone[j] && m->owed[j].cpu == e->cpu)
                    earlier_left = true;
            if (!earlier_left) {
                gone[i] = true;
                extra_logged--;
            }
        }
    }
    if (extra_logged != 0) {
        snprintf(err, errlen, "run_due at %lld returned %d: %zu more than the model owes",
                 (long long)m->now, ret, extra_logged);
        goto fail;
    }
    size_t w = 0;
    for (size_t i = 0; i < m->nowed; i++)
        if (!gone[i])
            m->owed[w++] = m->owed[i];
    m->nowed = w;
    if (gone != small)
        free(gone);
    return 0;
fail:
    if (gone != small)
        free(gone);
    return -1;
}
