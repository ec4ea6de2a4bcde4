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
 * Before writing anything it checks that the manifest's functions, vmwdt.h's exports and
 * vmwdt.map's global names agree, each at its node (wdt_abigen_names.c). Any disagreement is
 * printed and the exit status is 1, which fails the build.
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

#include "wdt_abigen.h"

const char *g_manifest_path;
int g_errors;

void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "wdt_abigen: %s: ", g_manifest_path ? g_manifest_path : "");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    g_errors++;
}

bool is_ident(int c)
{
    return isalnum(c) || c == '_';
}

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

const char *cname(json_t *obj, const char *what)
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
    snprintf(what, sizeof what, "function %s", name ? name : "pointer");
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
