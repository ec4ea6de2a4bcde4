/*
 * The Linux guest's device tree, written with libfdt's sequential-write functions.
 *
 * x86 Linux (6.12, CONFIG_OF with ACPI off) takes its CPUs from the cpu nodes, whose reg is the
 * local APIC ID, and keeps the legacy PIC because the tree names no "intel,ce4100-ioapic": such
 * a node would carry no interrupt routing, and setup_IO_APIC oopses on it. The watchdog node
 * follows Documentation/devicetree/bindings/misc/qemu,vcpu-stall-detector.yaml; it has no
 * "interrupts": x86 has no per-CPU peripheral interrupt for it, the VMM sends an NMI instead.
 */
#include <libfdt.h>
#include <stdio.h>

#include "vmm_fdt.h"

/* Stops at the first libfdt error: each step returns 0 or a negative FDT_ERR_* code. */
#define TRY(call)              \
    do {                       \
        int rc_ = (call);      \
        if (rc_ < 0)           \
            return rc_;        \
    } while (0)

static int add_cpus(void *fdt, uint32_t cpus)
{
    TRY(fdt_begin_node(fdt, "cpus"));
    TRY(fdt_property_u32(fdt, "#address-cells", 1));
    TRY(fdt_property_u32(fdt, "#size-cells", 0));
    for (uint32_t i = 0; i < cpus; i++) {
        char name[32];
        snprintf(name, sizeof(name), "cpu@%u", i);
        TRY(fdt_begin_node(fdt, name));
        TRY(fdt_property_string(fdt, "device_type", "cpu"));
        TRY(fdt_property_u32(fdt, "reg", i));
        TRY(fdt_end_node(fdt));
    }
    return fdt_end_node(fdt);
}

static int add_watchdog(void *fdt, const struct vmm_fdt_params *p)
{
    char name[48];
    snprintf(name, sizeof(name), "vmwdt@%llx", (unsigned long long)p->wdt_base);
    TRY(fdt_begin_node(fdt, name));
    TRY(fdt_property_string(fdt, "compatible", "qemu,vcpu-stall-detector"));
    fdt64_t reg[2] = {cpu_to_fdt64(p->wdt_base), cpu_to_fdt64(p->wdt_size)};
    TRY(fdt_property(fdt, "reg", reg, sizeof(reg)));
    TRY(fdt_property_u32(fdt, "clock-frequency", p->freq));
    TRY(fdt_property_u32(fdt, "timeout-sec", p->timeout));
    return fdt_end_node(fdt);
}

static int build(const struct vmm_fdt_params *p, void *buf, size_t size)
{
    TRY(fdt_create(buf, (int)size));
    TRY(fdt_finish_reservemap(buf));
    TRY(fdt_begin_node(buf, ""));
    /* Two cells each: the watchdog's address and size are 64-bit numbers. */
    TRY(fdt_property_u32(buf, "#address-cells", 2));
    TRY(fdt_property_u32(buf, "#size-cells", 2));
    TRY(fdt_property_string(buf, "compatible", "vmwdt,vmwdt-vmm"));
    TRY(fdt_property_string(buf, "model", "vmwdt-vmm"));
    TRY(add_cpus(buf, p->cpus));
    TRY(add_watchdog(buf, p));
    TRY(fdt_end_node(buf));
    return fdt_finish(buf);
}

int vmm_fdt_build(const struct vmm_fdt_params *p, void *buf, size_t size, char *err,
                  size_t errlen)
{
    int rc = size <= INT32_MAX ? build(p, buf, size) : -FDT_ERR_NOSPACE;
    if (rc < 0) {
        snprintf(err, errlen, "cannot build the device tree: %s", fdt_strerror(rc));
        return -1;
    }
    return (int)fdt_totalsize(buf);
}
