/*
 * The parts of vmwdt-vmm's Linux boot that need no KVM: the device tree (read back with
 * libfdt, property by property, against the binding), the 16550A (the Linux 8250 driver's probe
 * sequence, the THRE interrupt, console lines) and the System.map lookup. The boot-protocol
 * loader has its own suite (test_bzimage.c).
 */
#define _GNU_SOURCE
#include <check.h>
#include <libfdt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmm_fdt.h"
#include "vmm_serial.h"
#include "vmm_symbols.h"
#include "vmwdt_test.h"

static char err[512];

/* ---- the device tree ---- */

static uint8_t dtb[0x4000];

static const struct vmm_fdt_params params = {
    .cpus = 4, .wdt_base = 0xfe000000, .wdt_size = 0x1000, .freq = 10, .timeout = 4,
};

static uint32_t prop_u32(int node, const char *name)
{
    int len;
    const void *p = fdt_getprop(dtb, node, name, &len);
    ck_assert_msg(p && len == 4, "%s: missing or not one cell (len %d)", name, len);
    fdt32_t cell;
    memcpy(&cell, p, sizeof(cell));
    return fdt32_to_cpu(cell);
}

START_TEST(fdt_watchdog_node_follows_the_binding)
{
    int size = vmm_fdt_build(&params, dtb, sizeof(dtb), err, sizeof(err));
    ck_assert_msg(size > 0, "%s", err);
    ck_assert_int_eq(fdt_check_header(dtb), 0);
    ck_assert_int_eq(fdt_totalsize(dtb), size);
    int wdt = fdt_node_offset_by_compatible(dtb, -1, "qemu,vcpu-stall-detector");
    ck_assert_int_ge(wdt, 0);
    ck_assert_str_eq(fdt_get_name(dtb, wdt, NULL), "vmwdt@fe000000");
    ck_assert_int_eq(fdt_parent_offset(dtb, wdt), 0);
    ck_assert_uint_eq(prop_u32(0, "#address-cells"), 2);
    ck_assert_uint_eq(prop_u32(0, "#size-cells"), 2);
    int len;
    const void *prop_reg = fdt_getprop(dtb, wdt, "reg", &len);
    ck_assert_int_eq(len, 16);
    fdt64_t reg[2]; /* properties are only 4-byte aligned */
    memcpy(reg, prop_reg, sizeof(reg));
    ck_assert_uint_eq(fdt64_to_cpu(reg[0]), 0xfe000000);
    ck_assert_uint_eq(fdt64_to_cpu(reg[1]), 0x1000);
    ck_assert_uint_eq(prop_u32(wdt, "clock-frequency"), 10);
    ck_assert_uint_eq(prop_u32(wdt, "timeout-sec"), 4);
    /* No per-CPU interrupt on x86 (the stall interrupt is an NMI), and nothing else. */
    ck_assert_ptr_null(fdt_getprop(dtb, wdt, "interrupts", NULL));
    int n = 0, prop;
    fdt_for_each_property_offset(prop, dtb, wdt)
        n++;
    ck_assert_int_eq(n, 4);
    ck_assert_int_eq(fdt_node_offset_by_compatible(dtb, -1, "qemu,vcpu-stall-detector"), wdt);
    ck_assert_int_lt(fdt_node_offset_by_compatible(dtb, wdt, "qemu,vcpu-stall-detector"), 0);
    ck_assert_int_lt(fdt_node_offset_by_compatible(dtb, -1, "intel,ce4100-ioapic"), 0);
}
END_TEST

START_TEST(fdt_cpu_nodes_carry_the_apic_ids)
{
    ck_assert_int_gt(vmm_fdt_build(&params, dtb, sizeof(dtb), err, sizeof(err)), 0);
    int cpus = fdt_path_offset(dtb, "/cpus");
    ck_assert_int_ge(cpus, 0);
    ck_assert_uint_eq(prop_u32(cpus, "#address-cells"), 1);
    ck_assert_uint_eq(prop_u32(cpus, "#size-cells"), 0);
    int node, n = 0;
    fdt_for_each_subnode(node, dtb, cpus) {
        char want[16];
        snprintf(want, sizeof(want), "cpu@%d", n);
        ck_assert_str_eq(fdt_get_name(dtb, node, NULL), want);
        ck_assert_str_eq(fdt_getprop(dtb, node, "device_type", NULL), "cpu");
        ck_assert_uint_eq(prop_u32(node, "reg"), (uint32_t)n);
        n++;
    }
    ck_assert_int_eq(n, 4);
}
END_TEST

START_TEST(fdt_too_small_a_buffer_is_refused)
{
    ck_assert_int_eq(vmm_fdt_build(&params, dtb, 64, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "device tree"));
}
END_TEST

/* ---- the 16550A ---- */

static char lines[8][1100];
static int line_count;
static int irq_changes;
static bool irq_level;

static void on_line(void *opaque, const char *text)
{
    (void)opaque;
    ck_assert_int_lt(line_count, 8);
    snprintf(lines[line_count++], sizeof(lines[0]), "%s", text);
}

static void on_irq(void *opaque, bool level)
{
    (void)opaque;
    irq_changes++;
    irq_level = level;
}

static struct vmm_serial *new_port(void)
{
    line_count = irq_changes = 0;
    irq_level = false;
    struct vmm_serial_ops ops = {.line = on_line, .irq = on_irq};
    struct vmm_serial *s = vmm_serial_new(&ops);
    ck_assert_ptr_nonnull(s);
    return s;
}

static uint8_t in(struct vmm_serial *s, uint32_t reg)
{
    uint8_t v = 0xee;
    vmm_serial_access(s, reg, false, &v);
    return v;
}

static void out(struct vmm_serial *s, uint32_t reg, uint8_t v)
{
    vmm_serial_access(s, reg, true, &v);
}

static void puts_port(struct vmm_serial *s, const char *text)
{
    while (*text)
        out(s, 0, (uint8_t)*text++);
}

/* What serial8250's autoconfig() reads back before it calls the port a 16550A. */
START_TEST(serial_passes_the_8250_probe)
{
    struct vmm_serial *s = new_port();
    out(s, 1, 0);
    ck_assert_uint_eq(in(s, 1) & 0x0f, 0);
    out(s, 1, 0x0f);
    ck_assert_uint_eq(in(s, 1) & 0x0f, 0x0f);
    out(s, 1, 0);
    out(s, 4, 0x10 | 0x08 | 0x02); /* loopback, OUT2, RTS */
    ck_assert_uint_eq(in(s, 6) & 0xf0, 0x90); /* DCD, CTS */
    out(s, 4, 0);
    ck_assert_uint_eq(in(s, 6) & 0xf0, 0xb0);
    out(s, 2, 0x01); /* FIFOs on */
    ck_assert_uint_eq(in(s, 2) >> 6, 3);
    out(s, 7, 0x5a);
    ck_assert_uint_eq(in(s, 7), 0x5a);
    ck_assert_uint_eq(in(s, 5), 0x60); /* transmitter empty, nothing received */
    out(s, 1, 0x40); /* the XScale UUE bit does not stick */
    ck_assert_uint_eq(in(s, 1) & 0x40, 0);
    out(s, 3, 0x80); /* divisor latch */
    out(s, 0, 0x01);
    out(s, 1, 0x00);
    ck_assert_uint_eq(in(s, 0), 0x01);
    out(s, 3, 0x03);
    ck_assert_int_eq(line_count, 0); /* a divisor write is no output */
    vmm_serial_free(s);
}
END_TEST

START_TEST(serial_thre_interrupt_is_raised_and_acknowledged)
{
    struct vmm_serial *s = new_port();
    out(s, 2, 0x01);
    ck_assert_uint_eq(in(s, 2), 0xc1);
    out(s, 1, 0x02); /* THRI: the empty transmitter interrupts at once */
    ck_assert(irq_level);
    ck_assert_uint_eq(in(s, 2), 0xc2);
    ck_assert(!irq_level);
    ck_assert_uint_eq(in(s, 2), 0xc1);
    out(s, 0, 'x'); /* the byte leaves at once: THRE again */
    ck_assert(irq_level);
    out(s, 1, 0);
    ck_assert(!irq_level);
    ck_assert_int_eq(irq_changes, 4);
    vmm_serial_free(s);
}
END_TEST

START_TEST(serial_prints_line_by_line)
{
    struct vmm_serial *s = new_port();
    puts_port(s, "Linux version 6.12\r\nsecond");
    ck_assert_int_eq(line_count, 1);
    ck_assert_str_eq(lines[0], "Linux version 6.12");
    puts_port(s, " line\n\x01\n");
    ck_assert_str_eq(lines[1], "second line");
    ck_assert_str_eq(lines[2], "?");
    out(s, 4, 0x10); /* loopback: nothing goes out */
    puts_port(s, "looped\n");
    out(s, 4, 0);
    ck_assert_int_eq(line_count, 3);
    for (int i = 0; i < 1030; i++)
        out(s, 0, 'a');
    ck_assert_int_eq(line_count, 4);
    ck_assert_uint_eq(strlen(lines[3]), 1024);
    vmm_serial_free(s); /* hands out the unfinished line */
    ck_assert_int_eq(line_count, 5);
    ck_assert_str_eq(lines[4], "aaaaaa");
}
END_TEST

/* ---- System.map ---- */

static char scratch[64];

static const char *write_scratch(const char *text)
{
    snprintf(scratch, sizeof(scratch), "/tmp/vmwdt-guestboot-XXXXXX");
    int fd = mkstemp(scratch);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return scratch;
}

START_TEST(symbols_name_the_enclosing_function)
{
    const char *path = write_scratch("ffffffff81000000 T _text\n"
                                     "ffffffff81000000 T startup_64\n"
                                     "ffffffff81500000 D some_data\n"
                                     "ffffffff8150a000 t lkdtm_HARDLOCKUP\n"
                                     "ffffffff8150a040 T lkdtm_SPINLOCKUP\n"
                                     "ffffffff81600000 T _etext\n"
                                     "garbage line\n");
    struct vmm_symbols *s = vmm_symbols_load(path, err, sizeof(err));
    unlink(path);
    ck_assert_msg(s, "%s", err);
    uint64_t off = 0;
    ck_assert_str_eq(vmm_symbols_find(s, 0xffffffff8150a01cULL, &off), "lkdtm_HARDLOCKUP");
    ck_assert_uint_eq(off, 0x1c);
    ck_assert_str_eq(vmm_symbols_find(s, 0xffffffff8150a040ULL, &off), "lkdtm_SPINLOCKUP");
    ck_assert_uint_eq(off, 0);
    ck_assert_ptr_null(vmm_symbols_find(s, 0xffffffff80ffffffULL, &off)); /* below the text */
    ck_assert_ptr_null(vmm_symbols_find(s, 0xffffffff81600004ULL, &off)); /* past _etext */
    ck_assert_ptr_null(vmm_symbols_find(NULL, 0xffffffff8150a01cULL, &off));
    vmm_symbols_free(s);
}
END_TEST

START_TEST(symbols_refuse_a_missing_or_empty_map)
{
    ck_assert_ptr_null(vmm_symbols_load("/nonexistent/System.map", err, sizeof(err)));
    ck_assert_ptr_nonnull(strstr(err, "/nonexistent/System.map"));
    const char *path = write_scratch("ffffffff81500000 D some_data\n");
    ck_assert_ptr_null(vmm_symbols_load(path, err, sizeof(err)));
    unlink(path);
    ck_assert_ptr_nonnull(strstr(err, "no text symbol"));
}
END_TEST

static Suite *guestboot_suite(void)
{
    Suite *s = suite_create("guestboot");
    TCase *tc = tcase_create("parts");
    tcase_add_test(tc, fdt_watchdog_node_follows_the_binding);
    tcase_add_test(tc, fdt_cpu_nodes_carry_the_apic_ids);
    tcase_add_test(tc, fdt_too_small_a_buffer_is_refused);
    tcase_add_test(tc, serial_passes_the_8250_probe);
    tcase_add_test(tc, serial_thre_interrupt_is_raised_and_acknowledged);
    tcase_add_test(tc, serial_prints_line_by_line);
    tcase_add_test(tc, symbols_name_the_enclosing_function);
    tcase_add_test(tc, symbols_refuse_a_missing_or_empty_map);
    suite_add_tcase(s, tc);
    return s;
}

VMWDT_SUITE_MAIN(guestboot_suite)
