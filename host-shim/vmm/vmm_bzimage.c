/*
 * The bzImage loader. The setup header sits at 0x1f1 of the image; the protected-mode kernel
 * follows the (setup_sects + 1) real-mode sectors and is loaded at its preferred address, so a
 * relocatable kernel need not move itself. The 64-bit entry point is 0x200 past that load
 * address (boot protocol 2.12+, XLF_KERNEL_64). The initramfs goes as high as the kernel
 * allows, page-aligned; the device tree travels as setup_data of type SETUP_DTB.
 */
#define _GNU_SOURCE
#include <asm/bootparam.h>
#include <elf.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "vmm_bzimage.h"

#define HDR_MAGIC 0x53726448 /* "HdrS" */
#define MIN_VERSION 0x020c   /* xloadflags, 64-bit entry */
#define PAGE 0x1000ULL
#define E820_TYPE_RAM 1
#define E820_TYPE_RESERVED 2

/* Reads a whole file into a new buffer of *size bytes, at most max. */
static uint8_t *read_file(const char *path, uint64_t max, size_t *size, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rbe");
    struct stat st;
    if (!f || fstat(fileno(f), &st) < 0) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        if (f)
            fclose(f);
        return NULL;
    }
    if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > max || st.st_size == 0) {
        snprintf(err, errlen, "%s: %s", path,
                 !S_ISREG(st.st_mode) ? "not a regular file"
                 : st.st_size == 0    ? "empty"
                                      : "too large for guest RAM");
        fclose(f);
        return NULL;
    }
    uint8_t *buf = malloc((size_t)st.st_size);
    if (!buf || fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
        snprintf(err, errlen, "cannot read %s: %s", path, buf ? "short read" : "out of memory");
        free(buf);
        fclose(f);
        return NULL;
    }
    fclose(f);
    *size = (size_t)st.st_size;
    return buf;
}

/* Checks the setup header and finds the protected-mode kernel in the image. */
static int check_header(const uint8_t *img, size_t size, struct setup_header *hdr,
                        size_t *pm_offset, const char *path, char *err, size_t errlen)
{
    if (size < 0x250) {
        snprintf(err, errlen, "%s: too short for a bzImage", path);
        return -1;
    }
    memcpy(hdr, img + 0x1f1, sizeof(*hdr));
    if (hdr->header != HDR_MAGIC || hdr->boot_flag != 0xaa55) {
        snprintf(err, errlen, "%s: not a bzImage (no HdrS setup header)", path);
        return -1;
    }
    if (hdr->version < MIN_VERSION || !(hdr->xloadflags & XLF_KERNEL_64) ||
        !(hdr->loadflags & LOADED_HIGH)) {
        snprintf(err, errlen, "%s: boot protocol %u.%02u without a 64-bit entry point", path,
                 hdr->version >> 8, hdr->version & 0xff);
        return -1;
    }
    unsigned sects = hdr->setup_sects ? hdr->setup_sects : 4;
    *pm_offset = (size_t)(sects + 1) * 512;
    if (*pm_offset >= size) {
        snprintf(err, errlen, "%s: truncated (no protected-mode kernel)", path);
        return -1;
    }
    return 0;
}

static void add_e820(struct boot_params *bp, uint64_t addr, uint64_t size, uint32_t type)
{
    struct boot_e820_entry *e = &bp->e820_table[bp->e820_entries++];
    e->addr = addr;
    e->size = size;
    e->type = type;
}

/* The initramfs, as high as the kernel can reach and above the kernel's own space. */
static int load_initrd(uint8_t *ram, uint64_t ram_size, struct boot_params *bp,
                       uint64_t kernel_end, const char *path, char *err, size_t errlen)
{
    size_t size;
    uint8_t *data = read_file(path, ram_size, &size, err, errlen);
    if (!data)
        return -1;
    uint64_t top = ram_size;
    if (bp->hdr.initrd_addr_max && (uint64_t)bp->hdr.initrd_addr_max + 1 < top)
        top = (uint64_t)bp->hdr.initrd_addr_max + 1;
    uint64_t addr = (top - size) & ~(PAGE - 1);
    if (size > top || addr < kernel_end) {
        snprintf(err, errlen, "%s: %zu bytes do not fit in guest RAM above the kernel", path,
                 size);
        free(data);
        return -1;
    }
    memcpy(ram + addr, data, size);
    free(data);
    bp->hdr.ramdisk_image = (uint32_t)addr;
    bp->hdr.ramdisk_size = (uint32_t)size;
    return 0;
}

static int load_setup_data(uint8_t *ram, struct boot_params *bp, const void *dtb, size_t size,
                           char *err, size_t errlen)
{
    if (sizeof(struct setup_data) + size > VMM_BOOT_SETUP_DATA_MAX) {
        snprintf(err, errlen, "the device tree (%zu bytes) is too large", size);
        return -1;
    }
    struct setup_data sd = {.next = 0, .type = SETUP_DTB, .len = (uint32_t)size};
    memcpy(ram + VMM_BOOT_SETUP_DATA, &sd, sizeof(sd));
    memcpy(ram + VMM_BOOT_SETUP_DATA + sizeof(sd), dtb, size);
    bp->hdr.setup_data = VMM_BOOT_SETUP_DATA;
    return 0;
}

/*
 * An uncompressed vmlinux (ELF64), as Firecracker boots it: its segments go to their physical
 * addresses, it starts at startup_64, and the zero page gets the setup header fields that a
 * bzImage would have carried. Without the decompressor the boot is shorter, which counts
 * where KVM emulates the guest kernel's instructions.
 */
static int load_elf(uint8_t *ram, uint64_t ram_size, struct boot_params *bp,
                    const uint8_t *image, size_t size, const char *path, uint64_t *entry,
                    uint64_t *end, char *err, size_t errlen)
{
    Elf64_Ehdr eh;
    memcpy(&eh, image, sizeof(eh));
    if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_machine != EM_X86_64 ||
        eh.e_phentsize != sizeof(Elf64_Phdr) ||
        eh.e_phoff + (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr) > size) {
        snprintf(err, errlen, "%s: not an x86-64 ELF kernel", path);
        return -1;
    }
    *end = 0;
    *entry = 0;
    for (unsigned i = 0; i < eh.e_phnum; i++) {
        Elf64_Phdr ph;
        memcpy(&ph, image + eh.e_phoff + (uint64_t)i * sizeof(ph), sizeof(ph));
        if (ph.p_type != PT_LOAD)
            continue;
        if (ph.p_filesz > ph.p_memsz || ph.p_offset + ph.p_filesz > size ||
            ph.p_paddr < 0x100000 || ph.p_paddr + ph.p_memsz > ram_size) {
            snprintf(err, errlen, "%s: a segment lies outside guest RAM or the file", path);
            return -1;
        }
        memcpy(ram + ph.p_paddr, image + ph.p_offset, ph.p_filesz);
        memset(ram + ph.p_paddr + ph.p_filesz, 0, ph.p_memsz - ph.p_filesz);
        if (eh.e_entry >= ph.p_vaddr && eh.e_entry < ph.p_vaddr + ph.p_memsz)
            *entry = eh.e_entry - ph.p_vaddr + ph.p_paddr;
        else if (eh.e_entry >= ph.p_paddr && eh.e_entry < ph.p_paddr + ph.p_memsz)
            *entry = eh.e_entry;
        if (ph.p_paddr + ph.p_memsz > *end)
            *end = ph.p_paddr + ph.p_memsz;
    }
    if (!*entry) {
        snprintf(err, errlen, "%s: the entry point lies in no loaded segment", path);
        return -1;
    }
    bp->hdr.boot_flag = 0xaa55;
    bp->hdr.header = HDR_MAGIC;
    bp->hdr.version = MIN_VERSION;
    bp->hdr.kernel_alignment = 0x1000000;
    bp->hdr.initrd_addr_max = 0x7fffffff;
    bp->hdr.loadflags = LOADED_HIGH;
    return 0;
}

/* A bzImage: the setup header as the image has it, the protected-mode kernel at its place. */
static int load_bzimage(uint8_t *ram, uint64_t ram_size, struct boot_params *bp,
                        const uint8_t *image, size_t size, const char *path, uint64_t *entry,
                        uint64_t *end, char *err, size_t errlen)
{
    size_t pm_offset;
    if (check_header(image, size, &bp->hdr, &pm_offset, path, err, errlen) < 0)
        return -1;
    /* The setup header is copied as long as the image says it is: 0x202 + the jump's byte. */
    size_t hdr_end = 0x202 + image[0x201];
    if (hdr_end > size || hdr_end > 0x1f1 + sizeof(bp->hdr))
        hdr_end = 0x1f1 + sizeof(bp->hdr);
    memcpy((uint8_t *)bp + 0x1f1, image + 0x1f1, hdr_end - 0x1f1);

    uint64_t load_addr = bp->hdr.pref_address ? bp->hdr.pref_address : 0x100000;
    uint64_t pm_size = size - pm_offset;
    uint64_t need = bp->hdr.init_size > pm_size ? bp->hdr.init_size : pm_size;
    if (load_addr < 0x100000 || load_addr + need > ram_size) {
        snprintf(err, errlen, "%s: the kernel needs [0x%llx, 0x%llx), beyond guest RAM",
                 path, (unsigned long long)load_addr, (unsigned long long)(load_addr + need));
        return -1;
    }
    memcpy(ram + load_addr, image + pm_offset, pm_size);
    bp->hdr.code32_start = (uint32_t)load_addr;
    *entry = load_addr + 0x200;
    *end = load_addr + need;
    return 0;
}

static int load(uint8_t *ram, uint64_t ram_size, const struct vmm_boot_image *img,
                const uint8_t *image, size_t size, uint64_t *entry, char *err, size_t errlen)
{
    struct boot_params *bp = (struct boot_params *)(ram + VMM_BOOT_PARAMS);
    uint64_t kernel_end;
    memset(bp, 0, sizeof(*bp));
    bool elf = size >= sizeof(Elf64_Ehdr) && memcmp(image, ELFMAG, SELFMAG) == 0;
    if ((elf ? load_elf : load_bzimage)(ram, ram_size, bp, image, size, img->kernel, entry,
                                        &kernel_end, err, errlen) < 0)
        return -1;

    size_t cmdlen = strlen(img->cmdline);
    if (cmdlen >= VMM_BOOT_CMDLINE_MAX || (bp->hdr.cmdline_size && cmdlen > bp->hdr.cmdline_size)) {
        snprintf(err, errlen, "the kernel command line is too long (%zu bytes)", cmdlen);
        return -1;
    }
    memcpy(ram + VMM_BOOT_CMDLINE, img->cmdline, cmdlen + 1);
    bp->hdr.cmd_line_ptr = VMM_BOOT_CMDLINE;
    bp->hdr.type_of_loader = 0xff; /* no registered boot loader ID */
    bp->hdr.loadflags |= CAN_USE_HEAP;
    bp->hdr.heap_end_ptr = 0xfe00;

    add_e820(bp, 0, VMM_BOOT_LOW_RAM_END, E820_TYPE_RAM);
    add_e820(bp, VMM_BOOT_LOW_RAM_END, 0x100000 - VMM_BOOT_LOW_RAM_END, E820_TYPE_RESERVED);
    add_e820(bp, 0x100000, ram_size - 0x100000, E820_TYPE_RAM);

    if (img->initrd &&
        load_initrd(ram, ram_size, bp, kernel_end, img->initrd, err, errlen) < 0)
        return -1;
    if (img->dtb && load_setup_data(ram, bp, img->dtb, img->dtb_size, err, errlen) < 0)
        return -1;
    return 0;
}

int vmm_bzimage_load(uint8_t *ram, uint64_t ram_size, const struct vmm_boot_image *img,
                     uint64_t *entry, char *err, size_t errlen)
{
    size_t size;
    uint8_t *image = read_file(img->kernel, ram_size, &size, err, errlen);
    if (!image)
        return -1;
    int rc = load(ram, ram_size, img, image, size, entry, err, errlen);
    free(image);
    return rc;
}
