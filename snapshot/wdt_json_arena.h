/*
 * Parsing untrusted JSON with the codec's private jansson so that jansson never sees an
 * allocation fail: a scan of the text bounds the memory the parse can need, that memory is
 * reserved before jansson starts, and every allocation of the parse is served from it.
 */
#ifndef WDT_JSON_ARENA_H
#define WDT_JSON_ARENA_H

#include <jansson.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>

/* What the scan counts: enough to bound every allocation jansson makes while parsing. */
struct wdt_json_scan {
    size_t len;          /* bytes before the terminating NUL */
    size_t max_token;    /* longest token, quotes included */
    size_t objects;      /* '{' outside strings */
    size_t arrays;       /* '[' outside strings */
    size_t strings;      /* string tokens */
    size_t string_bytes; /* their raw length, quotes included */
    size_t bare;         /* runs of other characters: numbers, true, false, null, junk */
};

/*
 * Scans at most limit bytes of text. Returns 0, -EMSGSIZE when text is longer than limit, or
 * -ELOOP when arrays and objects nest deeper than max_depth.
 */
int wdt_json_scan_text(const char *text, size_t limit, int max_depth, struct wdt_json_scan *out);

/* The bytes a parse of a text with these counts may allocate, with a margin. */
size_t wdt_json_arena_bound(const struct wdt_json_scan *s);

struct wdt_json_chunk;

struct wdt_json_arena {
    struct wdt_json_chunk *chunks; /* the reservation first, then any overflow chunk */
    char *next, *end;              /* free space of the newest chunk */
    size_t used;                   /* bytes handed out, alignment included */
    jmp_buf out_of_memory;         /* where an allocation that cannot be served returns to */
};

/*
 * Parses text (scanned as s) with jansson's flags. Returns 0 with *root set to a tree that
 * lives in a until wdt_json_arena_release(a) (never json_decref() it), -EINVAL when jansson
 * refused the text (e says why; e is always initialised), or -ENOMEM when the reservation, or
 * later an overflow chunk, could not be allocated: jansson itself never sees a failure.
 */
int wdt_json_arena_loads(struct wdt_json_arena *a, const char *text,
                         const struct wdt_json_scan *s, size_t flags, json_error_t *e,
                         json_t **root);

/* Gives jansson the arena's allocator, once; to be called before any other use of jansson. */
void wdt_json_arena_install(void);

/* Frees everything the parse allocated, the tree included. */
void wdt_json_arena_release(struct wdt_json_arena *a);

#endif /* WDT_JSON_ARENA_H */
