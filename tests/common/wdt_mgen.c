/*
 * Random operations for the model test. See wdt_mgen.h.
 */
#include "wdt_mgen.h"

#include <string.h>

uint64_t mg_next(struct mg *g)
{
    /* xorshift64*: small, fast and the same on every host, so a seed replays exactly. */
    g->s ^= g->s >> 12;
    g->s ^= g->s << 25;
    g->s ^= g->s >> 27;
    return g->s * 0x2545F4914F6CDD1DULL;
}

uint64_t mg_below(struct mg *g, uint64_t n)
{
    return n == 0 ? 0 : mg_next(g) % n;
}

/* A reading somewhere: near 0 on either side, far negative, or far positive. */
static int64_t mg_origin(struct mg *g)
{
    switch (mg_below(g, 4)) {
    case 0:
        return -(int64_t)mg_below(g, 50000000);
    case 1:
        return -(int64_t)mg_below(g, 1000000000000000000ULL);
    case 2:
        return (int64_t)mg_below(g, 1000000000000000000ULL);
    default:
        return 0;
    }
}

void mg_device(struct mg *g, uint32_t *cpus, int *action, int64_t *t0, int64_t *origin)
{
    *cpus = 1 + (uint32_t)mg_below(g, 4);
    *action = (int)mg_below(g, 4);
    *t0 = mg_origin(g);
    for (uint32_t i = 0; i < *cpus; i++)
        origin[i] = mg_origin(g);
}

/* A frequency: the usual ones, the extremes, and any. */
static uint32_t mg_freq(struct mg *g)
{
    static const uint32_t common[] = {1000, 1000, 1000, 1000, 1000, 1000, 1000000, 1000000,
                                      1, 10, 1000000000, UINT32_MAX};
    if (mg_below(g, 10) == 0)
        return mg_below(g, 20) == 0 ? 0 : (uint32_t)mg_next(g);
    return common[mg_below(g, sizeof(common) / sizeof(common[0]))];
}

/* A LOAD_CNT: mostly windows of up to 30 ms at the frequency most often used (1000 Hz),
 * some 0, some a few microseconds at high frequencies, some any count. */
static uint32_t mg_load(struct mg *g)
{
    switch (mg_below(g, 8)) {
    case 0:
        return 0;
    case 1:
        return (uint32_t)mg_next(g);
    case 2:
        return (uint32_t)mg_below(g, 3000);
    default:
        return (uint32_t)mg_below(g, 31);
    }
}

/* A time step: none, nanoseconds, around the floor, around a window. */
static int64_t mg_dt(struct mg *g)
{
    switch (mg_below(g, 6)) {
    case 0:
        return 0;
    case 1:
        return (int64_t)mg_below(g, 1000);
    case 2:
        return (int64_t)mg_below(g, 2000000);
    case 3:
        return 1000000 * (int64_t)mg_below(g, 4) + (int64_t)mg_below(g, 3) - 1;
    default:
        return (int64_t)mg_below(g, 30000000);
    }
}

void mg_op(struct mg *g, uint32_t cpus, struct md_op *op)
{
    uint64_t r = mg_below(g, 1000);
    memset(op, 0, sizeof(*op));
    op->cpu = (uint32_t)mg_below(g, cpus);
    op->check = mg_below(g, 4) == 0;
    if (r < 130) {
        op->kind = MD_WRITE;
        op->reg = VMWDT_REG_LOAD_CNT;
        op->val = mg_load(g);
    } else if (r < 230) {
        op->kind = MD_WRITE;
        op->reg = VMWDT_REG_STATUS;
        op->val = mg_below(g, 3) == 0 ? 0 : mg_below(g, 4) == 0 ? (uint32_t)mg_next(g) : 1;
    } else if (r < 280) {
        op->kind = MD_WRITE;
        op->reg = VMWDT_REG_CLOCK_FREQ_HZ;
        op->val = mg_freq(g);
    } else if (r < 290) {
        op->kind = MD_WRITE;
        op->reg = VMWDT_REG_CURRENT_CNT;
        op->val = (uint32_t)mg_next(g);
    } else if (r < 380) {
        op->kind = MD_READ;
        op->reg = 4 * (uint32_t)mg_below(g, 4);
    } else if (r < 620) {
        op->kind = MD_ADVANCE;
        op->dt = mg_dt(g);
    } else if (r < 650) {
        op->kind = MD_LATE;
        op->dt = mg_dt(g);
    } else if (r < 670) {
        op->kind = MD_RUN;
    } else if (r < 770) {
        op->kind = MD_FREEZE;
    } else if (r < 880) {
        op->kind = MD_THAW;
    } else if (r < 905) {
        op->kind = MD_SLEEP;
    } else if (r < 940) {
        op->kind = MD_WAKE;
    } else if (r < 960) {
        op->kind = MD_SNAPSHOT;
    } else if (r < 975) {
        op->kind = MD_RESTORE;
    } else if (r < 985) {
        op->kind = MD_FRESH;
        op->val = (uint32_t)mg_below(g, 4);
    } else {
        op->kind = MD_BAD;
        op->val = (uint32_t)mg_next(g);
    }
}
