/*
 * The host's plugin loader (vmwdt_loader.h).
 *
 * The function table (names, symbol versions, libffi types) is generated at build time from
 * the ABI manifest, abi/vmwdt.abi.json, so the manifest is the single description of what a
 * plugin must provide. At open the loader checks the file, dlopen()s it with RTLD_NOW |
 * RTLD_LOCAL, binds vmwdt_abi_version first and checks the version it reports, then binds every
 * other manifest function with dlvsym() at its version and prepares one libffi call interface
 * per function. A function that a later minor version added (its node is VMWDT_1.m) is bound
 * only when the plugin reports minor m or later, and must then be there; with an older plugin
 * it stays unbound and its wrapper refuses with -ENOSYS, while everything older works. Each vmwdt_plugin_* call then goes through ffi_call(); a prepared interface is
 * only read, so calls may come from many threads at once.
 */
#define _GNU_SOURCE
#include "vmwdt_loader.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wdt_abi_table.h"

struct wdt_bound_fn {
    void (*fn)(void);
    ffi_cif cif;
    ffi_type *args[WDT_FN_MAX_ARGS];
};

struct vmwdt_plugin {
    void *handle;
    char *path;
    uint32_t version;
    struct wdt_bound_fn fns[WDT_FN_COUNT];
};

/* Where a plugin's return value lands: ffi_call widens small integers to ffi_arg. */
union wdt_ret {
    ffi_arg a;
    ffi_sarg s;
    int64_t i64;
    void *p;
};

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

const char *vmwdt_plugin_default_path(void)
{
    const char *env = getenv("VMWDT_PLUGIN");
    if (env && *env)
        return env;
#ifdef VMWDT_PLUGIN_BUILD_PATH
    /* The library as this build tree made it, while it is still there. */
    if (access(VMWDT_PLUGIN_BUILD_PATH, F_OK) == 0)
        return VMWDT_PLUGIN_BUILD_PATH;
#endif
    return "libvmwdt.so.1";
}

/*
 * Checks a path that names a file (it has a '/'): it must exist, be a regular file and begin
 * with the ELF magic. A bare name is left to the dynamic linker's search.
 */
static int check_file(const char *path, char *err, size_t errlen)
{
    if (!strchr(path, '/'))
        return 0;
    /* O_NONBLOCK, and no read of anything but a regular file: a FIFO or a terminal named as
     * the plugin must be refused, not wait for a writer or for input. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        int e = errno;
        set_err(err, errlen, "vmwdt plugin %s: cannot open: %s", path, strerror(e));
        return e == ENOENT || e == ENOTDIR ? -ENOENT : -e;
    }
    unsigned char magic[4] = {0};
    struct stat st;
    bool regular = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
    ssize_t got = regular ? read(fd, magic, sizeof magic) : -1;
    close(fd);
    if (!regular || got != (ssize_t)sizeof magic || memcmp(magic, "\177ELF", 4) != 0) {
        set_err(err, errlen, "vmwdt plugin %s: not an ELF shared object", path);
        return -ENOEXEC;
    }
    return 0;
}

static int bind_fn(struct vmwdt_plugin *p, unsigned i, char *err, size_t errlen)
{
    const struct wdt_fn_desc *d = &wdt_fn_table[i];
    dlerror();
    void *sym = dlvsym(p->handle, d->name, d->version);
    if (!sym) {
        set_err(err, errlen, "vmwdt plugin %s: missing symbol %s@%s (%s)", p->path, d->name,
                d->version, d->prototype);
        return -ENOSYS;
    }
    struct wdt_bound_fn *b = &p->fns[i];
    /* POSIX lets a data pointer from dlsym be converted to a function pointer. */
    memcpy(&b->fn, &sym, sizeof b->fn);
    memcpy(b->args, d->args, sizeof b->args);
    if (ffi_prep_cif(&b->cif, FFI_DEFAULT_ABI, d->nargs, d->ret, b->args) != FFI_OK) {
        set_err(err, errlen, "vmwdt plugin %s: libffi cannot prepare a call to %s", p->path,
                d->name);
        return -ENOSYS;
    }
    return 0;
}

static void call(const struct vmwdt_plugin *p, enum wdt_fn_index i, union wdt_ret *ret,
                 void **args)
{
    /* libffi's prototype names the interface non-const; it is only read. */
    ffi_call((ffi_cif *)&p->fns[i].cif, p->fns[i].fn, ret, args);
}

static int dlopen_error(const char *path, char *err, size_t errlen)
{
    const char *why = dlerror();
    if (!why)
        why = "unknown error";
    set_err(err, errlen, "vmwdt plugin %s: cannot load: %s", path, why);
    /* A bare name that the dynamic linker did not find is a missing file too. */
    if (!strchr(path, '/') && strstr(why, "No such file"))
        return -ENOENT;
    return -ENOEXEC;
}

static int check_version(struct vmwdt_plugin *p, uint32_t need_minor, char *err, size_t errlen)
{
    union wdt_ret r = {0};
    call(p, WDT_FN_abi_version, &r, NULL);
    p->version = (uint32_t)r.a;
    uint32_t major = p->version >> 16, minor = p->version & 0xffff;
    if (major != VMWDT_ABI_MAJOR || minor < need_minor) {
        set_err(err, errlen,
                "vmwdt plugin %s: vmwdt_abi_version reports ABI %u.%u; this host needs %u.%u "
                "or a later minor",
                p->path, major, minor, VMWDT_ABI_MAJOR, need_minor);
        return -EPROTO;
    }
    return 0;
}

int vmwdt_plugin_open(const char *path, uint32_t need_minor, struct vmwdt_plugin **out,
                      char *err, size_t errlen)
{
    set_err(err, errlen, "%s", "");
    if (!out) {
        set_err(err, errlen, "vmwdt_plugin_open: out is NULL");
        return -EINVAL;
    }
    if (!path)
        path = vmwdt_plugin_default_path();
    int rc = check_file(path, err, errlen);
    if (rc < 0)
        return rc;
    struct vmwdt_plugin *p = calloc(1, sizeof *p);
    if (!p || !(p->path = strdup(path))) {
        free(p);
        set_err(err, errlen, "vmwdt plugin %s: out of memory", path);
        return -ENOMEM;
    }
    dlerror();
    p->handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!p->handle) {
        rc = dlopen_error(path, err, errlen);
    } else {
        /* The version first: the other symbols of a plugin of another major may differ. */
        rc = bind_fn(p, WDT_FN_abi_version, err, errlen);
        if (rc == 0)
            rc = check_version(p, need_minor, err, errlen);
        /* A function of a later minor than the plugin's is left unbound: an older plugin
         * need not have it, and one that has it at that node without claiming the minor has
         * not promised its semantics. */
        for (unsigned i = 0; rc == 0 && i < WDT_FN_COUNT; i++)
            if (i != WDT_FN_abi_version && wdt_fn_table[i].minor <= (p->version & 0xffff))
                rc = bind_fn(p, i, err, errlen);
    }
    if (rc < 0) {
        vmwdt_plugin_close(p);
        return rc;
    }
    *out = p;
    return 0;
}

void vmwdt_plugin_close(struct vmwdt_plugin *p)
{
    if (!p)
        return;
    if (p->handle)
        dlclose(p->handle);
    free(p->path);
    free(p);
}

const char *vmwdt_plugin_path(const struct vmwdt_plugin *p)
{
    return p ? p->path : NULL;
}

uint32_t vmwdt_plugin_abi_version(const struct vmwdt_plugin *p)
{
    return p ? p->version : 0;
}

int vmwdt_plugin_check_fn(const struct vmwdt_plugin *p, const char *name, char *err,
                          size_t errlen)
{
    set_err(err, errlen, "%s", "");
    for (unsigned i = 0; p && name && i < WDT_FN_COUNT; i++) {
        const struct wdt_fn_desc *d = &wdt_fn_table[i];
        if (strcmp(d->name, name) != 0)
            continue;
        if (p->fns[i].fn)
            return 0;
        set_err(err, errlen,
                "vmwdt plugin %s implements ABI %u.%u: %s needs ABI %u.%u (symbol version %s)",
                p->path, p->version >> 16, p->version & 0xffff, name, VMWDT_ABI_MAJOR, d->minor,
                d->version);
        return -ENOSYS;
    }
    set_err(err, errlen, "%s is not a function of the vmwdt ABI", name ? name : "(null)");
    return -EINVAL;
}

/* Each wrapper below passes pointers to its arguments, in the manifest's order. */

const char *vmwdt_plugin_strerror(struct vmwdt_plugin *p, int err)
{
    if (!p)
        return "no vmwdt plugin";
    union wdt_ret r = {0};
    void *args[] = {&err};
    call(p, WDT_FN_strerror, &r, args);
    return r.p;
}

/* Calls a function of the ABI that returns int: 0, a count, or a negative errno. */
static int call_int(struct vmwdt_plugin *p, enum wdt_fn_index i, void **args)
{
    if (!p)
        return -EINVAL;
    union wdt_ret r = {0};
    call(p, i, &r, args);
    return (int)r.s;
}

int vmwdt_plugin_create(struct vmwdt_plugin *p, const struct vmwdt_config *cfg,
                        const struct vmwdt_host_ops *ops, vmwdt **out)
{
    void *args[] = {&cfg, &ops, &out};
    return call_int(p, WDT_FN_create, args);
}

void vmwdt_plugin_destroy(struct vmwdt_plugin *p, vmwdt *dev)
{
    if (!p)
        return;
    union wdt_ret r = {0};
    void *args[] = {&dev};
    call(p, WDT_FN_destroy, &r, args);
}

int vmwdt_plugin_set_vcpu_thread(struct vmwdt_plugin *p, vmwdt *dev, uint32_t cpu, int32_t pid,
                                 int32_t tid)
{
    void *args[] = {&dev, &cpu, &pid, &tid};
    return call_int(p, WDT_FN_set_vcpu_thread, args);
}

int vmwdt_plugin_mmio_write(struct vmwdt_plugin *p, vmwdt *dev, uint64_t offset,
                            const void *data, uint32_t len)
{
    void *args[] = {&dev, &offset, &data, &len};
    return call_int(p, WDT_FN_mmio_write, args);
}

int vmwdt_plugin_mmio_read(struct vmwdt_plugin *p, vmwdt *dev, uint64_t offset, void *data,
                           uint32_t len)
{
    void *args[] = {&dev, &offset, &data, &len};
    return call_int(p, WDT_FN_mmio_read, args);
}

static int call_dev(struct vmwdt_plugin *p, enum wdt_fn_index i, vmwdt *dev)
{
    void *args[] = {&dev};
    return call_int(p, i, args);
}

int vmwdt_plugin_sleep(struct vmwdt_plugin *p, vmwdt *dev)
{
    return call_dev(p, WDT_FN_sleep, dev);
}

int vmwdt_plugin_wake(struct vmwdt_plugin *p, vmwdt *dev)
{
    return call_dev(p, WDT_FN_wake, dev);
}

int vmwdt_plugin_snapshot_json(struct vmwdt_plugin *p, vmwdt *dev, char **json)
{
    void *args[] = {&dev, &json};
    return call_int(p, WDT_FN_snapshot_json, args);
}

int vmwdt_plugin_restore_json(struct vmwdt_plugin *p, vmwdt *dev, const char *json)
{
    void *args[] = {&dev, &json};
    return call_int(p, WDT_FN_restore_json, args);
}

void vmwdt_plugin_free(struct vmwdt_plugin *p, void *ptr)
{
    if (!p)
        return;
    union wdt_ret r = {0};
    void *args[] = {&ptr};
    call(p, WDT_FN_free, &r, args);
}

int64_t vmwdt_plugin_next_deadline_ns(struct vmwdt_plugin *p, vmwdt *dev)
{
    if (!p)
        return INT64_MAX;
    union wdt_ret r = {0};
    void *args[] = {&dev};
    call(p, WDT_FN_next_deadline_ns, &r, args);
    return r.i64;
}

int vmwdt_plugin_run_due(struct vmwdt_plugin *p, vmwdt *dev, int64_t now_ns)
{
    void *args[] = {&dev, &now_ns};
    return call_int(p, WDT_FN_run_due, args);
}

/* ABI 1.1: refused with -ENOSYS when the plugin is older (the function is then unbound). */

int vmwdt_plugin_vcpu_stats(struct vmwdt_plugin *p, vmwdt *dev, uint32_t cpu,
                            struct vmwdt_vcpu_stats *out)
{
    if (p && !p->fns[WDT_FN_vcpu_stats].fn)
        return -ENOSYS;
    void *args[] = {&dev, &cpu, &out};
    return call_int(p, WDT_FN_vcpu_stats, args);
}

int vmwdt_plugin_set_action(struct vmwdt_plugin *p, vmwdt *dev, uint32_t action)
{
    if (p && !p->fns[WDT_FN_set_action].fn)
        return -ENOSYS;
    void *args[] = {&dev, &action};
    return call_int(p, WDT_FN_set_action, args);
}
