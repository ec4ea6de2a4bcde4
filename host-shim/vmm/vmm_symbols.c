/*
 * A System.map reader: "ADDRESS TYPE NAME" per line. Only text symbols (t, T, w, W) are kept,
 * sorted by address, so that a lookup is a binary search. Addresses beyond _etext belong to no
 * function and get no name.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm_symbols.h"

struct vmm_symbol {
    uint64_t addr;
    char *name;
};

struct vmm_symbols {
    struct vmm_symbol *sym;
    size_t count;
    uint64_t etext; /* 0: unknown */
};

static int by_addr(const void *a, const void *b)
{
    const struct vmm_symbol *x = a, *y = b;
    return (x->addr > y->addr) - (x->addr < y->addr);
}

static int add(struct vmm_symbols *s, size_t *cap, uint64_t addr, const char *name)
{
    if (s->count == *cap) {
        size_t n = *cap ? *cap * 2 : 4096;
        struct vmm_symbol *p = realloc(s->sym, n * sizeof(*p));
        if (!p)
            return -1;
        s->sym = p;
        *cap = n;
    }
    s->sym[s->count].name = strdup(name);
    if (!s->sym[s->count].name)
        return -1;
    s->sym[s->count++].addr = addr;
    return 0;
}

struct vmm_symbols *vmm_symbols_load(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    struct vmm_symbols *s = calloc(1, sizeof(*s));
    size_t cap = 0;
    char line[512], name[256], type;
    unsigned long long addr;
    bool ok = s != NULL;
    while (ok && fgets(line, sizeof(line), f)) {
        if (sscanf(line, "%llx %c %255s", &addr, &type, name) != 3)
            continue;
        if (strcmp(name, "_etext") == 0)
            s->etext = addr;
        if (strchr("tTwW", type))
            ok = add(s, &cap, addr, name) == 0;
    }
    fclose(f);
    if (!ok || !s || s->count == 0) {
        snprintf(err, errlen, "%s: %s", path, ok ? "no text symbol in it" : "out of memory");
        vmm_symbols_free(s);
        return NULL;
    }
    qsort(s->sym, s->count, sizeof(s->sym[0]), by_addr);
    return s;
}

const char *vmm_symbols_find(const struct vmm_symbols *s, uint64_t addr, uint64_t *offset)
{
    if (!s || s->count == 0 || addr < s->sym[0].addr || (s->etext && addr >= s->etext))
        return NULL;
    size_t lo = 0, hi = s->count; /* the last symbol at or below addr is in [lo, hi) */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->sym[mid].addr <= addr)
            lo = mid;
        else
            hi = mid;
    }
    *offset = addr - s->sym[lo].addr;
    return s->sym[lo].name;
}

void vmm_symbols_free(struct vmm_symbols *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->count; i++)
        free(s->sym[i].name);
    free(s->sym);
    free(s);
}
