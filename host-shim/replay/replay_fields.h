/* The trace's field readers (replay_fields.c), for the record parser. */
#ifndef REPLAY_FIELDS_H
#define REPLAY_FIELDS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "replay.h"

/* Says why line cannot be read, on replay_diag. */
void trace_error(size_t line, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * fields_index() notes obj's members, so that field_get() and the readers below find them
 * without a hash lookup each; fields_forget() before obj is freed. field_get(): obj[key] or
 * NULL, for any object.
 */
void fields_index(const json_t *obj);
/* The members of every object in v, nested ones included (for an indexed obj, from the index). */
size_t fields_members(const json_t *v);
void fields_forget(void);
json_t *field_get(const json_t *obj, const char *key);

/*
 * Each reader returns true with *out set, or false after saying why. keys_allowed: every key
 * of obj is one of allowed (NULL-terminated) or "comment". get_int, get_u32: an integer in
 * range. get_reg: a register's name. get_hex: "data" as hex digits, into r->data. get_events:
 * a list of [t, cpu]. get_cpu: an existing vCPU.
 */
bool keys_allowed(json_t *obj, const char *const *allowed, size_t line, const char *what);
bool get_int(json_t *obj, const char *key, int64_t min, int64_t max, int64_t *out, size_t line, const char *what);
bool get_u32(json_t *obj, const char *key, uint32_t max, uint32_t *out, size_t line, const char *what);
bool get_bool(json_t *obj, const char *key, bool *out, size_t line, const char *what);
bool get_reg(json_t *obj, uint32_t *out, size_t line, const char *what);
bool get_hex(json_t *obj, struct record *r, size_t line);
bool get_events(json_t *obj, const char *key, struct event_list *l, uint32_t cpus, size_t line);
bool get_cpu(json_t *obj, uint32_t cpus, uint32_t *out, size_t line, const char *what);

#endif /* REPLAY_FIELDS_H */
