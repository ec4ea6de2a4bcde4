/*
 * Fake vmwdt plugins for the loader suite, built as shared objects from this one file:
 * - FAKE_MAJOR / FAKE_MINOR: the version vmwdt_abi_version reports (default 1.0);
 * - FAKE_OMIT_RUN_DUE: the library lacks vmwdt_run_due;
 * - FAKE_WITH_1_1: the library has the functions of ABI 1.1 (vmwdt_vcpu_stats,
 *   vmwdt_set_action), whatever version it reports.
 * The symbol version node is chosen by the version script the build links with.
 * Each function records its arguments in the device and answers predictably.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fake_plugin.h"

#ifndef FAKE_MAJOR
#define FAKE_MAJOR 1
#endif
#ifndef FAKE_MINOR
#define FAKE_MINOR 0
#endif

#define EXPORT __attribute__((visibility("default")))

EXPORT uint32_t vmwdt_abi_version(void)
{
    return ((uint32_t)FAKE_MAJOR << 16) | FAKE_MINOR;
}

EXPORT const char *vmwdt_strerror(int err)
{
    return err == -EINVAL ? "fake: invalid argument" : "fake: other error";
}

EXPORT int vmwdt_create(const struct vmwdt_config *cfg, const struct vmwdt_host_ops *ops,
                        vmwdt **out)
{
    if (!cfg || !out || cfg->cpu_count == 0)
        return -EINVAL;
    vmwdt *dev = calloc(1, sizeof *dev);
    if (!dev)
        return -ENOMEM;
    dev->cfg = *cfg;
    if (ops)
        dev->ops = *ops;
    *out = dev;
    return 0;
}

EXPORT void vmwdt_destroy(vmwdt *dev)
{
    free(dev);
}

EXPORT int vmwdt_set_vcpu_thread(vmwdt *dev, uint32_t cpu, int32_t pid, int32_t tid)
{
    dev->cpu = cpu;
    dev->pid = pid;
    dev->tid = tid;
    return pid < 0 ? -ESRCH : 0;
}

EXPORT int vmwdt_mmio_write(vmwdt *dev, uint64_t offset, const void *data, uint32_t len)
{
    dev->offset = offset;
    dev->len = len;
    memcpy(dev->data, data, len < sizeof dev->data ? len : sizeof dev->data);
    return len == 4 ? 0 : -EINVAL;
}

/* Fills byte i with the low byte of offset + i; returns len. */
EXPORT int vmwdt_mmio_read(vmwdt *dev, uint64_t offset, void *data, uint32_t len)
{
    dev->offset = offset;
    dev->len = len;
    for (uint32_t i = 0; i < len; i++)
        ((uint8_t *)data)[i] = (uint8_t)(offset + i);
    return (int)len;
}

EXPORT int vmwdt_sleep(vmwdt *dev)
{
    return ++dev->sleeps;
}

EXPORT int vmwdt_wake(vmwdt *dev)
{
    return ++dev->wakes;
}

EXPORT int vmwdt_snapshot_json(vmwdt *dev, char **json)
{
    *json = strdup(FAKE_SNAPSHOT);
    return *json ? 0 : -ENOMEM;
}

EXPORT int vmwdt_restore_json(vmwdt *dev, const char *json)
{
    return strcmp(json, FAKE_SNAPSHOT) == 0 ? 0 : -EINVAL;
}

EXPORT void vmwdt_free(void *p)
{
    free(p);
}

EXPORT int64_t vmwdt_next_deadline_ns(vmwdt *dev)
{
    return FAKE_DEADLINE;
}

#ifndef FAKE_OMIT_RUN_DUE
/* Raises the interrupt of vCPU now % cpu_count, then requests a reset of it; returns 2. */
EXPORT int vmwdt_run_due(vmwdt *dev, int64_t now_ns)
{
    uint32_t cpu = (uint32_t)(now_ns % dev->cfg.cpu_count);
    dev->now = now_ns;
    if (dev->ops.raise_irq)
        dev->ops.raise_irq(dev->ops.opaque, cpu);
    if (dev->ops.request_reset)
        dev->ops.request_reset(dev->ops.opaque, cpu);
    return 2;
}
#endif

#ifdef FAKE_WITH_1_1
/* Records cpu; fills the fields that fit in out->size with values derived from cpu. */
EXPORT int vmwdt_vcpu_stats(vmwdt *dev, uint32_t cpu, struct vmwdt_vcpu_stats *out)
{
    dev->cpu = cpu;
    if (out->size < 8)
        return -EINVAL;
    struct vmwdt_vcpu_stats st = {.size = out->size, .status = 1, .pets = (uint64_t)cpu << 32 | 7,
                                  .remaining_ns = -1};
    memcpy(out, &st, out->size < sizeof st ? out->size : sizeof st);
    return 0;
}

/* Records action; refuses one past the last action. */
EXPORT int vmwdt_set_action(vmwdt *dev, uint32_t action)
{
    dev->action = action;
    return action > VMWDT_ACTION_NONE ? -EINVAL : 0;
}
#endif
