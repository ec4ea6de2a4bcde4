/*
 * What the two parts of wdt_abigen share: its error report, and the name check of
 * wdt_abigen_names.c (the manifest's functions against vmwdt.h's exports and vmwdt.map's nodes).
 */
#ifndef WDT_ABIGEN_H
#define WDT_ABIGEN_H

#include <stdbool.h>

#include <jansson.h>

/* The longest name a manifest, header or version script may use, and how many of them. */
#define MAX_NAME 128
#define MAX_NAMES 256

/* The manifest being read, for messages, and how many errors were reported. */
extern const char *g_manifest_path;
extern int g_errors;

/* Reports an error about the manifest; the run then fails and writes nothing. */
void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A character of a C identifier. */
bool is_ident(int c);

/* The "name" of a manifest object, checked to be a C identifier. */
const char *cname(json_t *obj, const char *what);

/*
 * The minor version of a symbol version node "VMWDT_<major>.<minor>" of the manifest's major,
 * or -1 (reported) when the name is not one.
 */
long node_minor(const char *v, long long major, const char *what);

/*
 * Checks that the manifest's functions, the header's exports and the map's names agree, each
 * function at its node, each node inheriting the previous minor's.
 */
void check_names(json_t *root, const char *header, const char *map);

#endif /* WDT_ABIGEN_H */
