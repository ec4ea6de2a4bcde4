/*
 * The codec's parse under memory pressure (see wdt_json_arena.h).
 *
 * jansson 2.14 (and its development tree) ignores a failed append to its lexer's buffer and then
 * reads and writes past the end of the text it saved: an allocation that fails mid-parse can
 * corrupt the heap of the process the library runs in. The codec therefore links a private copy
 * of jansson that no other code in the process can reach (its symbols are made local to the
 * codec's object), and gives that copy an allocator of its own: before a parse starts, the scan
 * of the text bounds what jansson can allocate, one malloc() reserves that much, and every
 * allocation of the parse is carved from the reservation. If the reservation cannot be made the
 * restore fails with -ENOMEM before jansson runs.
 *
 * The bound follows jansson's own sizes (its private headers are included below) and growth
 * rules; the fuzz targets check on every input that it holds. Should it ever fall short, the
 * allocator takes another chunk from malloc(); only if that fails too does it leave the parse
 * with longjmp(): jansson holds nothing but arena memory while it parses, so dropping the whole
 * arena releases everything, and jansson still never sees a failed allocation.
 *
 * Allocations outside a parse (the encoder builds its tree with the same jansson) go to
 * malloc() and free(): jansson's building functions handle a NULL from them.
 */
#include "wdt_json_arena.h"

#include <errno.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "jansson_private.h"
#include "wdt_snapshot.h"

#define ALIGN ((size_t)alignof(max_align_t))

struct wdt_json_chunk {
    struct wdt_json_chunk *next;
    size_t size; /* usable bytes after the header */
    alignas(max_align_t) char data[];
};

/* The arena of the parse running on this thread, if any. */
static _Thread_local struct wdt_json_arena *current;

static atomic_uint_fast64_t stat_parses, stat_overflows, stat_max_used;

/* The tests' override of the reservation's size (0: the bound), to reach the overflow paths. */
static atomic_size_t test_reserve;

static size_t round_up(size_t n)
{
    return (n + ALIGN - 1) & ~(ALIGN - 1);
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool is_structural(char c)
{
    return c == '{' || c == '}' || c == '[' || c == ']' || c == ',' || c == ':';
}

int wdt_json_scan_text(const char *text, size_t limit, int max_depth, struct wdt_json_scan *out)
{
    struct wdt_json_scan s = {0};
    enum { OUTSIDE, STRING, BARE } state = OUTSIDE;
    bool esc = false;
    size_t token = 0; /* length of the token being scanned */
    int depth = 0;
    size_t i = 0;

    for (; text[i] != '\0'; i++) {
        if (i >= limit)
            return -EMSGSIZE;
        char c = text[i];
        if (state == STRING) {
            token++;
            if (esc)
                esc = false;
            else if (c == '\\')
                esc = true;
            else if (c == '"') {
                s.string_bytes += token;
                s.max_token = token > s.max_token ? token : s.max_token;
                state = OUTSIDE;
            }
            continue;
        }
        if (state == BARE) {
            if (!is_space(c) && !is_structural(c) && c != '"') {
                token++;
                continue;
            }
            s.max_token = token > s.max_token ? token : s.max_token;
            state = OUTSIDE;
        }
        if (c == '"') {
            state = STRING;
            s.strings++;
            token = 1;
        } else if (c == '{' || c == '[') {
            if (++depth > max_depth)
                return -ELOOP;
            if (c == '{')
                s.objects++;
            else
                s.arrays++;
        } else if (c == '}' || c == ']') {
            depth--;
        } else if (!is_space(c) && !is_structural(c)) {
            state = BARE;
            s.bare++;
            token = 1;
        }
    }
    /* An unterminated string or a trailing number still went through the lexer's buffer. */
    if (state == STRING)
        s.string_bytes += token;
    if (state != OUTSIDE)
        s.max_token = token > s.max_token ? token : s.max_token;
    s.max_token = s.max_token > 1 ? s.max_token : 1;
    s.len = i;
    *out = s;
    return 0;
}

/*
 * Every allocation jansson's parser makes, by what causes it (each rounded up to ALIGN):
 * - the lexer's buffer: 16 bytes, doubled while a token does not fit (each step a new block):
 *   less than 4 (max_token + 1) + 16 in all;
 * - a string token: its decoded copy (raw length + 1), then a json_string_t for a value or a
 *   hashtable pair holding the key for a member;
 * - a number: a json_integer_t or json_real_t (true, false and null are not allocated);
 * - an array: its json_array_t and a table of 8 slots, doubled when full: fewer than
 *   8 + 4 n slots for n elements;
 * - an object: its json_object_t and 8 buckets, doubled when full: fewer than 8 + 4 n buckets
 *   for n members.
 * Every value is an element or member of at most one container, so n summed over containers is
 * at most the number of values, itself at most objects + arrays + strings + bare runs (jansson
 * takes a value only where separators end the previous one).
 */
size_t wdt_json_arena_bound(const struct wdt_json_scan *s)
{
    size_t values = s->objects + s->arrays + s->strings + s->bare;
    size_t scalar = sizeof(json_integer_t) > sizeof(json_real_t) ? sizeof(json_integer_t)
                                                                  : sizeof(json_real_t);
    size_t string_owner = sizeof(json_string_t) > offsetof(struct hashtable_pair, key)
                              ? sizeof(json_string_t)
                              : offsetof(struct hashtable_pair, key);
    size_t b = 0;

    b += 4 * (s->max_token + 1) + 16 + 64 * ALIGN;
    b += 2 * (s->string_bytes + s->strings) + s->strings * (string_owner + 2 * ALIGN);
    b += s->bare * round_up(scalar);
    b += s->arrays * (round_up(sizeof(json_array_t)) + 8 * sizeof(json_t *) + 2 * ALIGN);
    b += s->objects * (round_up(sizeof(json_object_t)) + 8 * sizeof(struct hashtable_bucket) +
                       2 * ALIGN);
    /* A value grows either an array's table or an object's buckets, and each growth is one
     * more allocation. */
    size_t slot = sizeof(json_t *) > sizeof(struct hashtable_bucket)
                      ? sizeof(json_t *)
                      : sizeof(struct hashtable_bucket);
    b += values * (4 * slot + ALIGN);
    /* A margin for what the count above may have missed; the fuzz targets check it holds. */
    return b + b / 8 + 4096;
}

static struct wdt_json_chunk *new_chunk(size_t size)
{
    if (size > SIZE_MAX - sizeof(struct wdt_json_chunk))
        return NULL;
    struct wdt_json_chunk *c = malloc(sizeof(*c) + size);
    if (c != NULL) {
        c->next = NULL;
        c->size = size;
    }
    return c;
}

static void *arena_malloc(size_t n)
{
    struct wdt_json_arena *a = current;
    if (a == NULL)
        return malloc(n);
    size_t need = round_up(n > 0 ? n : 1);
    if (need < n || need > (size_t)(a->end - a->next)) {
        /* The bound fell short: take another chunk, or leave the parse without jansson. */
        size_t size = need > ((size_t)64 << 10) ? need : ((size_t)64 << 10);
        struct wdt_json_chunk *c = need < n ? NULL : new_chunk(size);
        if (c == NULL)
            longjmp(a->out_of_memory, 1);
        c->next = a->chunks;
        a->chunks = c;
        a->next = c->data;
        a->end = c->data + c->size;
    }
    void *p = a->next;
    a->next += need;
    a->used += need;
    return p;
}

static bool arena_owns(const struct wdt_json_arena *a, const void *p)
{
    for (const struct wdt_json_chunk *c = a->chunks; c != NULL; c = c->next) {
        if ((const char *)p >= c->data && (const char *)p < c->data + c->size)
            return true;
    }
    return false;
}

/* Arena memory is released with the arena, all at once. */
static void arena_free(void *p)
{
    struct wdt_json_arena *a = current;
    if (p == NULL || (a != NULL && arena_owns(a, p)))
        return;
    free(p);
}

static void install_allocator(void)
{
    json_set_alloc_funcs(arena_malloc, arena_free);
}

/*
 * jansson keeps its allocator in plain globals: they are set once, and every user of this copy
 * of jansson (the encoder too) calls this first, so that each read of them comes after the
 * write.
 */
void wdt_json_arena_install(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, install_allocator);
}

void wdt_json_arena_release(struct wdt_json_arena *a)
{
    struct wdt_json_chunk *c = a->chunks;
    while (c != NULL) {
        struct wdt_json_chunk *next = c->next;
        free(c);
        c = next;
    }
    a->chunks = NULL;
    a->next = a->end = NULL;
}

static void note_parse(const struct wdt_json_arena *a, bool overflowed)
{
    atomic_fetch_add(&stat_parses, 1);
    if (overflowed)
        atomic_fetch_add(&stat_overflows, 1);
    uint_fast64_t max = atomic_load(&stat_max_used);
    while (a->used > max && !atomic_compare_exchange_weak(&stat_max_used, &max, a->used)) {
    }
}

int wdt_json_arena_loads(struct wdt_json_arena *a, const char *text,
                         const struct wdt_json_scan *s, size_t flags, json_error_t *e,
                         json_t **root)
{
    wdt_json_arena_install();

    /* jansson leaves e untouched when it fails before its lexer starts: never read garbage. */
    memset(e, 0, sizeof(*e));
    memset(a, 0, sizeof(*a));
    size_t bound = atomic_load(&test_reserve);
    if (bound == 0)
        bound = wdt_json_arena_bound(s);
    a->chunks = new_chunk(bound);
    if (a->chunks == NULL)
        return -ENOMEM;
    a->next = a->chunks->data;
    a->end = a->next + bound;

    json_t *volatile parsed = NULL;
    volatile bool jumped = false;
    current = a;
    if (setjmp(a->out_of_memory) == 0)
        parsed = json_loads(text, flags, e);
    else
        jumped = true;
    current = NULL;
    note_parse(a, jumped || a->chunks->next != NULL);
    if (parsed == NULL) {
        wdt_json_arena_release(a);
        /*
         * jansson fills e on every refusal of the text; an empty e means it failed before its
         * lexer ran, which only an allocation can cause.
         */
        return jumped || e->text[0] == '\0' ? -ENOMEM : -EINVAL;
    }
    *root = parsed;
    return 0;
}

void wdt_snap_parse_test_reserve(size_t bytes)
{
    atomic_store(&test_reserve, bytes);
}

void wdt_snap_parse_stats(struct wdt_snap_parse_stats *out)
{
    out->parses = atomic_load(&stat_parses);
    out->overflows = atomic_load(&stat_overflows);
    out->max_used = atomic_load(&stat_max_used);
}
