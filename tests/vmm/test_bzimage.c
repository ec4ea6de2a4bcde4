/*
 * vmwdt-vmm's boot-protocol loader without KVM: a synthetic bzImage and ELF vmlinux loaded into
 * a plain buffer, checked for where each part lands (kernel, command line, initramfs, the
 * device tree as SETUP_DTB setup_data) and what the zero page says, and each refusal.
 */
#define _GNU_SOURCE
#include <asm/bootparam.h>
#include <check.h>
#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmm_bzimage.h"
#include "vmwdt_test.h"

static char err[512];

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

static Suite *bzimage_suite(void)
{
    Suite *s = suite_create("bzimage");
    TCase *boot = tcase_create("boot");
    tcase_add_checked_fixture(boot, setup_ram, teardown_ram);
    tcase_add_test(boot, bzimage_lands_where_the_protocol_says);
    tcase_add_test(boot, bzimage_refusals_name_what_is_wrong);
    tcase_add_test(boot, vmlinux_segments_go_to_their_physical_addresses);
    suite_add_tcase(s, boot);
    return s;
}

VMWDT_SUITE_MAIN(bzimage_suite)
