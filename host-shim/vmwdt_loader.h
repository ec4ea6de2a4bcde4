/*
 * The host's loader for vmwdt plugins: dlopen() a plugin by path, check its ABI version, bind
 * every function of the ABI manifest (abi/vmwdt.abi.json) with dlvsym() at its symbol version,
 * and call them through libffi, so that one host binary drives any plugin that implements the
 * manifest without linking to it.
 *
 * Each vmwdt_plugin_* call below has the semantics of the ABI function of the same name
 * (abi/vmwdt.h); the loaded plugin is its first argument.
 */
#ifndef VMWDT_LOADER_H
#define VMWDT_LOADER_H

#include <stddef.h>
#include <stdint.h>

#include "vmwdt.h"

#ifdef __cplusplus
extern "C" {
#endif

struct vmwdt_plugin;

/* The plugin path used when the caller gives none: $VMWDT_PLUGIN, else the built library. */
const char *vmwdt_plugin_default_path(void);

/*
 * Loads the plugin at path (NULL: vmwdt_plugin_default_path()). The plugin must report ABI
 * major VMWDT_ABI_MAJOR and a minor >= need_minor. A function that a later minor than the
 * plugin's added is left unbound (see vmwdt_plugin_check_fn); with need_minor 0 a host for
 * 1.1 works with a 1.0 plugin and is refused only the 1.1 functions. On failure returns a negative errno and
 * writes a message naming the plugin and, where it applies, the symbol into err (errlen bytes,
 * may be 0): -ENOENT (no such file), -ENOEXEC (not a loadable ELF object), -ENOSYS (a symbol is
 * missing at its version), -EPROTO (wrong ABI version), -ENOMEM.
 */
int vmwdt_plugin_open(const char *path, uint32_t need_minor, struct vmwdt_plugin **out,
                      char *err, size_t errlen);

/* Unloads the plugin. Every device made through it must be destroyed first. NULL: no-op. */
void vmwdt_plugin_close(struct vmwdt_plugin *p);

/* The path the plugin was loaded from, and the version it reported. */
const char *vmwdt_plugin_path(const struct vmwdt_plugin *p);
uint32_t vmwdt_plugin_abi_version(const struct vmwdt_plugin *p);

/*
 * Whether the plugin provides the ABI function name (e.g. "vmwdt_vcpu_stats"): 0 when it is
 * bound; -ENOSYS when the plugin's minor version is older than the function's, with a message
 * naming the plugin, its version and the version the function needs in err; -EINVAL for a name
 * that is not in the ABI manifest.
 */
int vmwdt_plugin_check_fn(const struct vmwdt_plugin *p, const char *name, char *err,
                          size_t errlen);

const char *vmwdt_plugin_strerror(struct vmwdt_plugin *p, int err);
int vmwdt_plugin_create(struct vmwdt_plugin *p, const struct vmwdt_config *cfg,
                        const struct vmwdt_host_ops *ops, vmwdt **out);
void vmwdt_plugin_destroy(struct vmwdt_plugin *p, vmwdt *dev);
int vmwdt_plugin_set_vcpu_thread(struct vmwdt_plugin *p, vmwdt *dev, uint32_t cpu, int32_t pid,
                                 int32_t tid);
int vmwdt_plugin_mmio_write(struct vmwdt_plugin *p, vmwdt *dev, uint64_t offset,
                            const void *data, uint32_t len);
int vmwdt_plugin_mmio_read(struct vmwdt_plugin *p, vmwdt *dev, uint64_t offset, void *data,
                           uint32_t len);
int vmwdt_plugin_sleep(struct vmwdt_plugin *p, vmwdt *dev);
int vmwdt_plugin_wake(struct vmwdt_plugin *p, vmwdt *dev);
int vmwdt_plugin_snapshot_json(struct vmwdt_plugin *p, vmwdt *dev, char **json);
int vmwdt_plugin_restore_json(struct vmwdt_plugin *p, vmwdt *dev, const char *json);
void vmwdt_plugin_free(struct vmwdt_plugin *p, void *ptr);
int64_t vmwdt_plugin_next_deadline_ns(struct vmwdt_plugin *p, vmwdt *dev);
int vmwdt_plugin_run_due(struct vmwdt_plugin *p, vmwdt *dev, int64_t now_ns);

/* ABI 1.1; -ENOSYS from a plugin of ABI 1.0 (vmwdt_plugin_check_fn says why). */
int vmwdt_plugin_vcpu_stats(struct vmwdt_plugin *p, vmwdt *dev, uint32_t cpu,
                            struct vmwdt_vcpu_stats *out);
int vmwdt_plugin_set_action(struct vmwdt_plugin *p, vmwdt *dev, uint32_t action);

#ifdef __cplusplus
}
#endif

#endif /* VMWDT_LOADER_H */
