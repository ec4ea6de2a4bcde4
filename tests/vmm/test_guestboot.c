/*
 * The parts of vmwdt-vmm's Linux boot that need no KVM: the device tree (read back with
 * libfdt, property by property, against the binding), the 16550A (the Linux 8250 driver's probe
 * sequence, the THRE interrupt, console lines), the System.map lookup, and the boot-protocol
 * loader (a synthetic bzImage and ELF vmlinux: where each part lands and what the zero page
 * says, and every refusal).
 */
#define _GNU_SOURCE
#include <asm/bootparam.h>
#include <check.h>
#include <elf.h>
#include <libfdt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmm_bzimage.h"
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

/* ---- the boot protocol ---- */

#define RAM_SIZE (64u << 20)
#define PAYLOAD 4096

static uint8_t *ram;
static char kernel_path[64], initrd_path[64];

static void put16(uint8_t *p, size_t off, uint16_t v) { memcpy(p + off, &v, 2); }
static void put32(uint8_t *p, size_t off, uint32_t v) { memcpy(p + off, &v, 4); }
static void put64(uint8_t *p, size_t off, uint64_t v) { memcpy(p + off, &v, 8); }

static void write_file(char *path, const void *data, size_t size)
{
    snprintf(path, 64, "/tmp/vmwdt-guestboot-XXXXXX");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, data, size), (ssize_t)size);
    close(fd);
}

/* A bzImage of one setup sector after the boot sector, then PAYLOAD bytes of "kernel". */
static void make_bzimage(uint16_t version, uint16_t xloadflags)
{
    static uint8_t img[1024 + PAYLOAD];
    memset(img, 0, sizeof(img));
    img[0x1f1] = 1;                    /* setup_sects */
    put16(img, 0x1fe, 0xaa55);
    img[0x201] = 0x6a;                 /* the header ends at 0x202 + 0x6a */
    put32(img, 0x202, 0x53726448);     /* "HdrS" */
    put16(img, 0x206, version);
    img[0x211] = LOADED_HIGH;
    put32(img, 0x22c, 0x7fffffff);     /* initrd_addr_max */
    put32(img, 0x230, 0x200000);       /* kernel_alignment */
    img[0x234] = 1;                    /* relocatable */
    put16(img, 0x236, xloadflags);
    put32(img, 0x238, 2047);           /* cmdline_size */
    put64(img, 0x258, 0x1000000);      /* pref_address */
    put32(img, 0x260, 0x400000);       /* init_size */
    for (size_t i = 0; i < PAYLOAD; i++)
        img[1024 + i] = (uint8_t)(i * 7);
    write_file(kernel_path, img, sizeof(img));
}

static void setup_ram(void)
{
    ram = calloc(1, RAM_SIZE);
    ck_assert_ptr_nonnull(ram);
    static const char initrd[] = "070701 an initramfs";
    write_file(initrd_path, initrd, sizeof(initrd));
    kernel_path[0] = '\0';
}

static void teardown_ram(void)
{
    free(ram);
    unlink(initrd_path);
    if (kernel_path[0])
        unlink(kernel_path);
}

static int load(const char *cmdline, const void *dtb_data, size_t dtb_size, uint64_t *entry)
{
    struct vmm_boot_image img = {.kernel = kernel_path, .initrd = initrd_path,
                                 .cmdline = cmdline, .dtb = dtb_data, .dtb_size = dtb_size};
    return vmm_bzimage_load(ram, RAM_SIZE, &img, entry, err, sizeof(err));
}

START_TEST(bzimage_lands_where_the_protocol_says)
{
    make_bzimage(0x020f, XLF_KERNEL_64);
    static const uint8_t tree[] = {0xd0, 0x0d, 0xfe, 0xed, 1, 2, 3};
    uint64_t entry = 0;
    ck_assert_msg(load("console=ttyS0 vmwdt_hang=2@5", tree, sizeof(tree), &entry) == 0, "%s", err);
    ck_assert_uint_eq(entry, 0x1000200); /* the 64-bit entry */
    for (size_t i = 0; i < PAYLOAD; i++)
        ck_assert_uint_eq(ram[0x1000000 + i], (uint8_t)(i * 7));
    const struct boot_params *bp = (const void *)(ram + VMM_BOOT_PARAMS);
    ck_assert_uint_eq(bp->hdr.header, 0x53726448);
    ck_assert_uint_eq(bp->hdr.kernel_alignment, 0x200000); /* copied from the image */
    ck_assert_uint_eq(bp->hdr.type_of_loader, 0xff);
    ck_assert(bp->hdr.loadflags & CAN_USE_HEAP);
    ck_assert_uint_eq(bp->hdr.cmd_line_ptr, VMM_BOOT_CMDLINE);
    ck_assert_str_eq((const char *)ram + VMM_BOOT_CMDLINE, "console=ttyS0 vmwdt_hang=2@5");
    ck_assert_uint_eq(bp->e820_entries, 3);
    ck_assert_uint_eq(bp->e820_table[0].addr, 0);
    ck_assert_uint_eq(bp->e820_table[0].type, 1);
    ck_assert_uint_eq(bp->e820_table[1].type, 2);
    ck_assert_uint_eq(bp->e820_table[2].addr, 0x100000);
    ck_assert_uint_eq(bp->e820_table[2].addr + bp->e820_table[2].size, RAM_SIZE);
    /* The initramfs: page-aligned, at the top of RAM, above the kernel's init_size. */
    uint32_t rd = bp->hdr.ramdisk_image;
    ck_assert_uint_eq(rd % 4096, 0);
    ck_assert_uint_ge(rd, 0x1000000 + 0x400000);
    ck_assert_uint_le(rd + bp->hdr.ramdisk_size, RAM_SIZE);
    ck_assert_uint_gt(rd + 4096, RAM_SIZE - bp->hdr.ramdisk_size);
    ck_assert_str_eq((const char *)ram + rd, "070701 an initramfs");
    /* The device tree as setup_data of type SETUP_DTB. */
    ck_assert_uint_eq(bp->hdr.setup_data, VMM_BOOT_SETUP_DATA);
    const struct setup_data *sd = (const void *)(ram + VMM_BOOT_SETUP_DATA);
    ck_assert_uint_eq(sd->type, SETUP_DTB);
    ck_assert_uint_eq(sd->len, sizeof(tree));
    ck_assert_uint_eq(sd->next, 0);
    ck_assert_int_eq(memcmp(sd->data, tree, sizeof(tree)), 0);
}
END_TEST

START_TEST(bzimage_refusals_name_what_is_wrong)
{
    uint64_t entry;
    make_bzimage(0x020b, XLF_KERNEL_64);
    ck_assert_int_eq(load("x", NULL, 0, &entry), -1);
    ck_assert_ptr_nonnull(strstr(err, "boot protocol 2.11"));
    unlink(kernel_path);
    make_bzimage(0x020f, 0);
    ck_assert_int_eq(load("x", NULL, 0, &entry), -1);
    ck_assert_ptr_nonnull(strstr(err, "64-bit entry"));
    unlink(kernel_path);
    make_bzimage(0x020f, XLF_KERNEL_64);
    char longline[2100];
    memset(longline, 'a', sizeof(longline) - 1);
    longline[sizeof(longline) - 1] = '\0';
    ck_assert_int_eq(load(longline, NULL, 0, &entry), -1);
    ck_assert_ptr_nonnull(strstr(err, "command line is too long"));
    unlink(kernel_path);
    write_file(kernel_path, "MZ not a kernel at all, but long enough to have a header? no", 60);
    ck_assert_int_eq(load("x", NULL, 0, &entry), -1);
    ck_assert_ptr_nonnull(strstr(err, kernel_path));
    static uint8_t big[0x300];
    memset(big, 0, sizeof(big));
    unlink(kernel_path);
    write_file(kernel_path, big, sizeof(big));
    ck_assert_int_eq(load("x", NULL, 0, &entry), -1);
    ck_assert_ptr_nonnull(strstr(err, "not a bzImage"));
}
END_TEST

/* An ELF vmlinux: one segment linked at 0xffffffff81000000, loaded at physical 0x1000000. */
START_TEST(vmlinux_segments_go_to_their_physical_addresses)
{
    static uint8_t elf[0x2000];
    memset(elf, 0, sizeof(elf));
    Elf64_Ehdr *eh = (Elf64_Ehdr *)elf;
    memcpy(eh->e_ident, ELFMAG, SELFMAG);
    eh->e_ident[EI_CLASS] = ELFCLASS64;
    eh->e_machine = EM_X86_64;
    eh->e_type = ET_EXEC;
    eh->e_entry = 0xffffffff81000010ULL;
    eh->e_phoff = sizeof(*eh);
    eh->e_phentsize = sizeof(Elf64_Phdr);
    eh->e_phnum = 1;
    Elf64_Phdr *ph = (Elf64_Phdr *)(elf + sizeof(*eh));
    ph->p_type = PT_LOAD;
    ph->p_offset = 0x1000;
    ph->p_vaddr = 0xffffffff81000000ULL;
    ph->p_paddr = 0x1000000;
    ph->p_filesz = 0x1000;
    ph->p_memsz = 0x3000;
    memset(elf + 0x1000, 0xab, 0x1000);
    write_file(kernel_path, elf, sizeof(elf));
    memset(ram + 0x1001000, 0x55, 0x2000); /* the part beyond the file is zeroed */
    uint64_t entry = 0;
    ck_assert_msg(load("console=ttyS0", NULL, 0, &entry) == 0, "%s", err);
    ck_assert_uint_eq(entry, 0x1000010);
    ck_assert_uint_eq(ram[0x1000000], 0xab);
    ck_assert_uint_eq(ram[0x1000fff], 0xab);
    ck_assert_uint_eq(ram[0x1001000], 0);
    ck_assert_uint_eq(ram[0x1002fff], 0);
    const struct boot_params *bp = (const void *)(ram + VMM_BOOT_PARAMS);
    ck_assert_uint_eq(bp->hdr.boot_flag, 0xaa55);
    ck_assert_uint_ge(bp->hdr.version, 0x0209); /* the kernel reads setup_data from 2.09 */
    ck_assert_uint_ge(bp->hdr.ramdisk_image, 0x1003000);
    /* A segment beyond guest RAM is refused. */
    ph->p_paddr = RAM_SIZE - 0x1000;
    unlink(kernel_path);
    write_file(kernel_path, elf, sizeof(elf));
    ck_assert_int_eq(load("x", NULL, 0, &entry), -1);
    ck_assert_ptr_nonnull(strstr(err, "outside guest RAM"));
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
    TCase *boot = tcase_create("boot");
    tcase_add_checked_fixture(boot, setup_ram, teardown_ram);
    tcase_add_test(boot, bzimage_lands_where_the_protocol_says);
    tcase_add_test(boot, bzimage_refusals_name_what_is_wrong);
    tcase_add_test(boot, vmlinux_segments_go_to_their_physical_addresses);
    suite_add_tcase(s, boot);
    return s;
}

VMWDT_SUITE_MAIN(guestboot_suite)
