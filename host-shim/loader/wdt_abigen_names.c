/*
 * wdt_abigen's name check: the functions the manifest lists, those vmwdt.h declares with
 * VMWDT_EXPORT and the global names of the version script vmwdt.map must be the same, each at
 * the node the manifest gives it, and the script's nodes must inherit one another minor by minor.
 * The compiler can prove that a manifest entry matches the header, but not that the header
 * declares nothing more; this check closes that gap.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wdt_abigen.h"

/* A list of names, each optionally tagged with the version node it belongs to. */
struct name_list {
    size_t n;
    char name[MAX_NAMES][MAX_NAME];
    char version[MAX_NAMES][MAX_NAME];
};

static int list_add(struct name_list *l, const char *name, size_t len, const char *version)
{
    if (l->n >= MAX_NAMES || len >= MAX_NAME) {
        fail("too many or too long names");
        return -1;
    }
    memcpy(l->name[l->n], name, len);
    l->name[l->n][len] = '\0';
    snprintf(l->version[l->n], MAX_NAME, "%s", version ? version : "");
    l->n++;
    return 0;
}

static long list_find(const struct name_list *l, const char *name)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->name[i], name) == 0)
            return (long)i;
    return -1;
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "wdt_abigen: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t got = fread(buf + len, 1, cap - len - 1, f);
        len += got;
        if (got == 0)
            break;
        if (len + 1 == cap) {
            char *nbuf = realloc(buf, cap * 2);
            if (!nbuf) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nbuf;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf)
        buf[len] = '\0';
    return buf;
}

/*
 * The functions the header exports: every line that begins with VMWDT_EXPORT declares one,
 * whose name is the identifier just before the first '(' that follows (possibly on a later
 * line). Lines of the preprocessor (the macro's own definition) begin with '#' and are skipped.
 */
static int parse_header(const char *path, struct name_list *out)
{
    char *text = read_text(path);
    if (!text)
        return -1;
    const char *kw = "VMWDT_EXPORT";
    size_t kwlen = strlen(kw);
    for (char *line = text; line && *line;) {
        char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (strncmp(p, kw, kwlen) == 0 && !is_ident((unsigned char)p[kwlen])) {
            char *paren = strchr(p + kwlen, '(');
            char *end = paren;
            while (end && end > p && isspace((unsigned char)end[-1]))
                end--;
            char *start = end;
            while (start && start > p && is_ident((unsigned char)start[-1]))
                start--;
            if (!paren || start == end)
                fail("%s: a VMWDT_EXPORT declaration without a function name", path);
            else
                list_add(out, start, (size_t)(end - start), NULL);
        }
        line = strchr(line, '\n');
        if (line)
            line++;
    }
    free(text);
    return 0;
}

/* Next token of a version script: a word, or one of { } ; : (comments skipped). */
static const char *map_token(const char *p, char *tok, size_t toklen)
{
    for (;;) {
        while (*p && isspace((unsigned char)*p))
            p++;
        if (p[0] == '/' && p[1] == '*') {
            const char *e = strstr(p + 2, "*/");
            p = e ? e + 2 : p + strlen(p);
        } else if (*p == '#') {
            while (*p && *p != '\n')
                p++;
        } else {
            break;
        }
    }
    if (!*p)
        return NULL;
    size_t n = 0;
    if (strchr("{};:", *p)) {
        tok[n++] = *p++;
    } else {
        while (*p && !isspace((unsigned char)*p) && !strchr("{};:", *p) && n + 1 < toklen)
            tok[n++] = *p++;
    }
    tok[n] = '\0';
    return p;
}

/*
 * The global names of a version script, each with its node: NODE { global: a; b; local: *; }
 * PARENT; Wildcard patterns are not names and are skipped.
 */
static int parse_map(const char *path, struct name_list *out, struct name_list *nodes)
{
    char *text = read_text(path);
    if (!text)
        return -1;
    char tok[MAX_NAME], node[MAX_NAME] = "";
    int depth = 0;
    bool global = true, after_node = false;
    for (const char *p = text; (p = map_token(p, tok, sizeof tok));) {
        if (strcmp(tok, "{") == 0) {
            depth++;
            global = true;
            list_add(nodes, node, strlen(node), NULL); /* no parent until one is named */
        } else if (strcmp(tok, "}") == 0) {
            depth--;
            after_node = depth == 0;
        } else if (depth == 0) {
            if (strcmp(tok, ";") == 0)
                after_node = false;
            else if (after_node && nodes->n > 0) /* NODE { ... } PARENT; */
                snprintf(nodes->version[nodes->n - 1], MAX_NAME, "%s", tok);
            else
                snprintf(node, sizeof node, "%s", tok);
        } else if (strcmp(tok, "global") == 0 || strcmp(tok, "local") == 0) {
            global = strcmp(tok, "global") == 0;
        } else if (strcmp(tok, ":") != 0 && strcmp(tok, ";") != 0 && global &&
                   !strpbrk(tok, "*?[")) {
            list_add(out, tok, strlen(tok), node);
        }
    }
    free(text);
    return 0;
}

/* A C type from the manifest, pasted into generated code: only a type's characters pass. */
/*
 * The minor version of a symbol version node "VMWDT_<major>.<minor>" of the manifest's major,
 * or -1 (reported) when the name is not one.
 */
long node_minor(const char *v, long long major, const char *what)
{
    unsigned maj, min;
    int end = 0;
    if (!v || sscanf(v, "VMWDT_%u.%u%n", &maj, &min, &end) != 2 || v[end] != '\0' ||
        maj != major) {
        fail("%s: \"%s\" is not a version node VMWDT_%lld.<minor>", what, v ? v : "", major);
        return -1;
    }
    return (long)min;
}

/*
 * The version script's nodes: VMWDT_<major>.0 has no parent and each later minor inherits the
 * one before it, so that a host bound to an older node finds every symbol it knows.
 */
static void check_nodes(const struct name_list *nodes, const char *map, long long major)
{
    for (size_t i = 0; i < nodes->n; i++) {
        long minor = node_minor(nodes->name[i], major, map);
        char want[MAX_NAME] = "";
        if (minor > 0)
            snprintf(want, sizeof want, "VMWDT_%lld.%ld", major, minor - 1);
        if (minor >= 0 && strcmp(nodes->version[i], want) != 0)
            fail("%s: node %s inherits '%s', expected '%s'", map, nodes->name[i],
                 nodes->version[i], want);
    }
}

/* Checks that the manifest's functions, the header's exports and the map's names agree. */
void check_names(json_t *root, const char *header, const char *map)
{
    json_t *fns = json_object_get(root, "functions");
    long long major = json_integer_value(json_object_get(root, "abi_major"));
    long long minor = json_integer_value(json_object_get(root, "abi_minor"));
    struct name_list hdr = {0}, ver = {0}, man = {0}, nodes = {0};
    if (parse_header(header, &hdr) < 0 || parse_map(map, &ver, &nodes) < 0) {
        g_errors++;
        return;
    }
    check_nodes(&nodes, map, major);
    size_t i;
    json_t *fn;
    json_array_foreach(fns, i, fn)
    {
        const char *name = cname(fn, "function");
        const char *v = json_string_value(json_object_get(fn, "version"));
        if (!v || !*v)
            fail("function %s: \"version\" must be a symbol version string", name);
        else if (node_minor(v, major, name) > minor)
            fail("function %s: node %s is of a later minor than \"abi_minor\" %lld", name, v,
                 minor);
        if (list_find(&man, name) >= 0)
            fail("function %s is listed twice", name);
        list_add(&man, name, strlen(name), v);
        long h = list_find(&hdr, name), m = list_find(&ver, name);
        if (h < 0)
            fail("function %s is not declared with VMWDT_EXPORT in %s", name, header);
        if (m < 0)
            fail("function %s is not a global name of %s", name, map);
        else if (v && strcmp(ver.version[m], v) != 0)
            fail("function %s is in node %s of %s, not %s", name, ver.version[m], map, v);
    }
    for (i = 0; i < hdr.n; i++)
        if (list_find(&man, hdr.name[i]) < 0)
            fail("%s declares %s, which the manifest lacks", header, hdr.name[i]);
    for (i = 0; i < ver.n; i++)
        if (list_find(&man, ver.name[i]) < 0)
            fail("%s exports %s (%s), which the manifest lacks", map, ver.name[i],
                 ver.version[i]);
}

/* Function checks: the header's declaration has exactly the manifest's type. */
