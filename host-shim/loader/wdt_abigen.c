/*
 * wdt_abigen: turns the ABI manifest (abi/vmwdt.abi.json) into C, at build time.
 *
 *   wdt_abigen check MANIFEST HEADER MAP OUT.c   a program of _Static_assert()s that compiles
 *                                                only when the manifest matches vmwdt.h
 *   wdt_abigen table MANIFEST HEADER MAP OUT.h   the loader's function table (names, symbol
 *                                                versions and the minor each belongs to,
 *                                                libffi types), with the same
 *                                                function checks
 *
 * Before writing anything it checks that three lists of functions agree: the manifest's, the
 * functions the header declares with VMWDT_EXPORT, and the global names of the version script
 * (each at the version the manifest gives, a node VMWDT_<major>.<minor> no later than the
 * manifest's abi_minor, each node inheriting the previous minor's). The compiler can prove that a manifest entry
 * matches the header, but not that the header declares nothing more; this name check closes
 * that gap. Any disagreement is printed and the exit status is 1, which fails the build.
 *
 * The output is written to OUT.tmp and renamed, so a failed run never leaves a stale file.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#define MAX_NAMES 256
#define MAX_NAME 128

/* A list of names, each optionally tagged with the version node it belongs to. */
struct name_list {
    size_t n;
    char name[MAX_NAMES][MAX_NAME];
    char version[MAX_NAMES][MAX_NAME];
};

static const char *g_manifest_path;
static int g_errors;

static void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "wdt_abigen: %s: ", g_manifest_path ? g_manifest_path : "");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    g_errors++;
}

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

static bool is_ident(int c)
{
    return isalnum(c) || c == '_';
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
static const char *ctype(json_t *v, const char *what)
{
    const char *s = json_string_value(v);
    if (!s || !*s) {
        fail("%s: the C type must be a non-empty string", what);
        return "void";
    }
    for (const char *p = s; *p; p++)
        if (!is_ident((unsigned char)*p) && !strchr(" *(),", *p)) {
            fail("%s: '%s' is not a C type", what, s);
            return "void";
        }
    return s;
}

static const char *cname(json_t *obj, const char *what)
{
    const char *s = json_string_value(json_object_get(obj, "name"));
    bool ok = s && *s && !isdigit((unsigned char)*s);
    for (const char *p = s; ok && *p; p++)
        ok = is_ident((unsigned char)*p);
    if (!ok) {
        fail("%s: \"name\" must be a C identifier", what);
        return "invalid_name";
    }
    return s;
}

/* The libffi type that passes a value of C type t, or NULL when there is none. */
static const char *ffi_type_of(const char *t)
{
    static const struct {
        const char *c, *ffi;
    } ints[] = {
        {"void", "ffi_type_void"},         {"int", "ffi_type_sint"},
        {"unsigned int", "ffi_type_uint"}, {"int32_t", "ffi_type_sint32"},
        {"uint32_t", "ffi_type_uint32"},   {"int64_t", "ffi_type_sint64"},
        {"uint64_t", "ffi_type_uint64"},   {"int16_t", "ffi_type_sint16"},
        {"uint16_t", "ffi_type_uint16"},   {"int8_t", "ffi_type_sint8"},
        {"uint8_t", "ffi_type_uint8"},
    };
    if (strchr(t, '*'))
        return "ffi_type_pointer";
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        if (strcmp(t, ints[i].c) == 0)
            return ints[i].ffi;
    return NULL;
}

/* The function's prototype as C text: "RET (*)(ARGS)", or with a name "RET name(ARGS)". */
static void prototype(char *buf, size_t len, json_t *fn, const char *name, bool named_params)
{
    char what[MAX_NAME + 16];
    snprintf(what, sizeof what, "function %s", name);
    const char *ret = ctype(json_object_get(fn, "returns"), what);
    json_t *params = json_object_get(fn, "params");
    size_t off = (size_t)snprintf(buf, len, "%s %s%s%s(", ret, name ? "" : "(*",
                                  name ? name : "", name ? "" : ")");
    if (!json_is_array(params)) {
        fail("%s: \"params\" must be an array", what);
        params = NULL;
    }
    if (json_array_size(params) == 0)
        off += (size_t)snprintf(buf + off, off < len ? len - off : 0, "void");
    size_t i;
    json_t *p;
    json_array_foreach(params, i, p)
    {
        const char *pt = ctype(json_object_get(p, "type"), what);
        const char *pn = cname(p, what);
        off += (size_t)snprintf(buf + off, off < len ? len - off : 0, "%s%s%s%s",
                                i ? ", " : "", pt, named_params ? " " : "",
                                named_params ? pn : "");
    }
    snprintf(buf + (off < len ? off : len - 1), off < len ? len - off : 1, ")");
}

/*
 * The minor version of a symbol version node "VMWDT_<major>.<minor>" of the manifest's major,
 * or -1 (reported) when the name is not one.
 */
static long node_minor(const char *v, long long major, const char *what)
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
static void check_names(json_t *root, const char *header, const char *map)
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
static void emit_function_asserts(FILE *out, json_t *fns)
{
    size_t i;
    json_t *fn;
    char proto[2048];
    json_array_foreach(fns, i, fn)
    {
        const char *name = cname(fn, "function");
        prototype(proto, sizeof proto, fn, NULL, false);
        fprintf(out,
                "_Static_assert(__builtin_types_compatible_p(__typeof__(&%s), %s),\n"
                "               \"%s: type differs between the manifest and vmwdt.h\");\n",
                name, proto, name);
    }
}

static long long get_int(json_t *obj, const char *key, const char *what)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v)) {
        fail("%s: \"%s\" must be an integer", what, key);
        return 0;
    }
    return json_integer_value(v);
}

/* Struct checks: size, alignment, and each field's type and offset, with no field left out. */
static void emit_struct_asserts(FILE *out, json_t *structs)
{
    size_t i, j;
    json_t *st, *f;
    json_array_foreach(structs, i, st)
    {
        const char *sn = cname(st, "struct");
        char what[MAX_NAME + 16];
        snprintf(what, sizeof what, "struct %s", sn);
        long long size = get_int(st, "size", what), align = get_int(st, "align", what);
        json_t *fields = json_object_get(st, "fields");
        if (!json_is_array(fields) || json_array_size(fields) == 0)
            fail("%s: \"fields\" must be a non-empty array", what);
        fprintf(out, "_Static_assert(sizeof(struct %s) == %lld, \"struct %s: size\");\n", sn,
                size, sn);
        fprintf(out, "_Static_assert(_Alignof(struct %s) == %lld, \"struct %s: alignment\");\n",
                sn, align, sn);
        const char *prev = NULL;
        json_array_foreach(fields, j, f)
        {
            const char *fname = cname(f, what);
            const char *ft = ctype(json_object_get(f, "type"), what);
            long long off = get_int(f, "offset", what);
            fprintf(out,
                    "_Static_assert(offsetof(struct %s, %s) == %lld, \"%s.%s: offset\");\n"
                    "_Static_assert(__builtin_types_compatible_p("
                    "__typeof__(((struct %s *)0)->%s), %s), \"%s.%s: type\");\n",
                    sn, fname, off, sn, fname, sn, fname, ft, sn, fname);
            /* Only padding may lie between two listed fields: a field the manifest lacks
             * would need at least one whole alignment unit of the next field. */
            if (prev)
                fprintf(out,
                        "_Static_assert(offsetof(struct %s, %s) - (offsetof(struct %s, %s) + "
                        "sizeof(((struct %s *)0)->%s)) < _Alignof(__typeof__(((struct %s *)0)->%s)),"
                        " \"struct %s: a field between %s and %s is missing from the manifest\");\n",
                        sn, fname, sn, prev, sn, prev, sn, fname, sn, prev, fname);
            else
                fprintf(out,
                        "_Static_assert(offsetof(struct %s, %s) == 0, \"struct %s: the manifest "
                        "lacks its first field\");\n",
                        sn, fname, sn);
            prev = fname;
        }
        if (prev)
            fprintf(out,
                    "_Static_assert(sizeof(struct %s) - (offsetof(struct %s, %s) + "
                    "sizeof(((struct %s *)0)->%s)) < _Alignof(struct %s), \"struct %s: a field "
                    "after %s is missing from the manifest\");\n",
                    sn, sn, prev, sn, prev, sn, sn, prev);
    }
}

static void emit_value_assert(FILE *out, json_t *c, const char *what)
{
    const char *name = cname(c, what);
    long long v = get_int(c, "value", name);
    fprintf(out, "_Static_assert((%s) == %lldLL, \"%s: value\");\n", name, v, name);
}

static void emit_constant_asserts(FILE *out, json_t *consts, json_t *enums)
{
    size_t i, j;
    json_t *c, *e;
    json_array_foreach(consts, i, c)
    {
        const char *name = cname(c, "constant");
        fprintf(out, "#ifndef %s\n#error \"%s is not defined by vmwdt.h\"\n#endif\n", name, name);
        emit_value_assert(out, c, "constant");
    }
    json_array_foreach(enums, i, e)
    {
        const char *en = cname(e, "enum");
        json_t *values = json_object_get(e, "values");
        if (!json_is_array(values))
            fail("enum %s: \"values\" must be an array", en);
        /* The enum type must exist; an unknown tag is an incomplete type and fails sizeof. */
        fprintf(out, "_Static_assert(sizeof(enum %s) > 0, \"enum %s exists\");\n", en, en);
        json_array_foreach(values, j, c)
        {
            emit_value_assert(out, c, "enum value");
            fprintf(out,
                    "_Static_assert(__builtin_types_compatible_p(__typeof__(%s), int), "
                    "\"%s: an enumerator\");\n",
                    cname(c, "enum value"), cname(c, "enum value"));
        }
    }
}

static void emit_check(FILE *out, json_t *root)
{
    json_t *fns = json_object_get(root, "functions"), *structs = json_object_get(root, "structs");
    json_t *consts = json_object_get(root, "constants"), *enums = json_object_get(root, "enums");
    fprintf(out, "/* Generated from the ABI manifest by wdt_abigen; do not edit. */\n"
                 "#include <stddef.h>\n#include <stdint.h>\n#include <stdio.h>\n"
                 "#include \"vmwdt.h\"\n\n");
    emit_function_asserts(out, fns);
    fprintf(out, "\n#if defined(__LP64__)\n/* The manifest's sizes and offsets are LP64's. */\n");
    emit_struct_asserts(out, structs);
    fprintf(out, "#endif\n\n");
    emit_constant_asserts(out, consts, enums);
    fprintf(out,
            "\nint main(void)\n{\n"
            "    printf(\"the ABI manifest matches vmwdt.h: %zu functions, %zu structs, "
            "%zu constants, %zu enums\\n\");\n    return 0;\n}\n",
            json_array_size(fns), json_array_size(structs), json_array_size(consts),
            json_array_size(enums));
}

static void emit_table(FILE *out, json_t *root)
{
    json_t *fns = json_object_get(root, "functions");
    size_t i, j, max_args = 1;
    json_t *fn, *p;
    char proto[2048];
    fprintf(out, "/* Generated from the ABI manifest by wdt_abigen; do not edit. */\n"
                 "#ifndef WDT_ABI_TABLE_H\n#define WDT_ABI_TABLE_H\n\n"
                 "#include <ffi.h>\n#include \"vmwdt.h\"\n\nenum wdt_fn_index {\n");
    json_array_foreach(fns, i, fn)
    {
        fprintf(out, "    WDT_FN_%s,\n", cname(fn, "function") + strlen("vmwdt_"));
        if (json_array_size(json_object_get(fn, "params")) > max_args)
            max_args = json_array_size(json_object_get(fn, "params"));
    }
    fprintf(out,
            "    WDT_FN_COUNT\n};\n\n#define WDT_FN_MAX_ARGS %zu\n\n"
            "struct wdt_fn_desc {\n    const char *name;\n    const char *version;\n"
            "    unsigned minor; /* the ABI minor version that added it (its node's) */\n"
            "    const char *prototype;\n    ffi_type *ret;\n    unsigned nargs;\n"
            "    ffi_type *args[WDT_FN_MAX_ARGS];\n};\n\n"
            "static const struct wdt_fn_desc wdt_fn_table[WDT_FN_COUNT] = {\n",
            max_args);
    json_array_foreach(fns, i, fn)
    {
        const char *name = cname(fn, "function");
        const char *ret = ctype(json_object_get(fn, "returns"), name);
        const char *rf = ffi_type_of(ret);
        if (strncmp(name, "vmwdt_", 6) != 0)
            fail("function %s: names begin with vmwdt_", name);
        if (!rf)
            fail("function %s: no libffi type for return type '%s'", name, ret);
        prototype(proto, sizeof proto, fn, name, true);
        const char *v = json_string_value(json_object_get(fn, "version"));
        long minor = node_minor(v, json_integer_value(json_object_get(root, "abi_major")), name);
        fprintf(out, "    [WDT_FN_%s] = {\"%s\", \"%s\", %ld, \"%s\", &%s, %zu, {", name + 6,
                name, v, minor, proto,
                rf ? rf : "ffi_type_void", json_array_size(json_object_get(fn, "params")));
        json_array_foreach(json_object_get(fn, "params"), j, p)
        {
            const char *pt = ctype(json_object_get(p, "type"), name);
            const char *pf = ffi_type_of(pt);
            if (!pf || strcmp(pf, "ffi_type_void") == 0)
                fail("function %s: no libffi type for parameter type '%s'", name, pt);
            fprintf(out, "%s&%s", j ? ", " : "", pf ? pf : "ffi_type_void");
        }
        fprintf(out, "%s}},\n", json_array_size(json_object_get(fn, "params")) ? "" : "NULL");
    }
    fprintf(out, "};\n\n");
    emit_function_asserts(out, fns);
    fprintf(out, "\n#endif /* WDT_ABI_TABLE_H */\n");
}

static json_t *load_manifest(const char *path)
{
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        fail("line %d: %s", jerr.line, jerr.text);
        return NULL;
    }
    const char *format = json_string_value(json_object_get(root, "format"));
    if (!format || strcmp(format, "vmwdt-abi-manifest") != 0)
        fail("\"format\" must be \"vmwdt-abi-manifest\"");
    if (json_integer_value(json_object_get(root, "manifest_version")) != 1)
        fail("\"manifest_version\" must be 1");
    static const char *const arrays[] = {"functions", "structs", "constants", "enums"};
    for (size_t i = 0; i < 4; i++)
        if (!json_is_array(json_object_get(root, arrays[i])))
            fail("\"%s\" must be an array", arrays[i]);
    if (json_array_size(json_object_get(root, "functions")) == 0)
        fail("\"functions\" must not be empty");
    if (!json_is_integer(json_object_get(root, "abi_major")) ||
        !json_is_integer(json_object_get(root, "abi_minor")))
        fail("\"abi_major\" and \"abi_minor\" must be integers");
    return root;
}

int main(int argc, char **argv)
{
    if (argc != 6 || (strcmp(argv[1], "check") != 0 && strcmp(argv[1], "table") != 0)) {
        fprintf(stderr, "usage: wdt_abigen check|table MANIFEST HEADER MAP OUT\n");
        return 2;
    }
    g_manifest_path = argv[2];
    json_t *root = load_manifest(argv[2]);
    if (!root || g_errors) {
        json_decref(root);
        return 1;
    }
    check_names(root, argv[3], argv[4]);
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", argv[5]);
    FILE *out = g_errors ? NULL : fopen(tmp, "w");
    if (out) {
        if (strcmp(argv[1], "check") == 0)
            emit_check(out, root);
        else
            emit_table(out, root);
        if (fclose(out) != 0)
            fail("%s: %s", tmp, strerror(errno));
        if (g_errors)
            remove(tmp);
        else if (rename(tmp, argv[5]) != 0)
            fail("%s: %s", argv[5], strerror(errno));
    } else if (!g_errors) {
        fail("%s: %s", tmp, strerror(errno));
    }
    json_decref(root);
    return g_errors ? 1 : 0;
}
