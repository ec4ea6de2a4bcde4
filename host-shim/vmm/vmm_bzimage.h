/*
 * The Linux x86 boot protocol (Documentation/arch/x86/boot.rst), 64-bit entry: puts a bzImage,
 * its initramfs, its command line and a device tree into guest RAM and fills the zero page
 * (struct boot_params) with them and an e820 map. It depends on nothing else of the VMM.
 */
#ifndef VMM_BZIMAGE_H
#define VMM_BZIMAGE_H

#include <stddef.h>
#include <stdint.h>

/* Guest-physical places of what the loader writes below 1 MiB. */
#define VMM_BOOT_PARAMS  0x7000  /* the zero page, passed in RSI */
#define VMM_BOOT_CMDLINE 0x20000 /* the command line, NUL-terminated */
#define VMM_BOOT_CMDLINE_MAX 0x1000
#define VMM_BOOT_SETUP_DATA 0x30000 /* struct setup_data + the DTB */
#define VMM_BOOT_SETUP_DATA_MAX 0x10000
#define VMM_BOOT_LOW_RAM_END 0x9fc00 /* usable low RAM ends where the EBDA would begin */

struct vmm_boot_image {
    const char *kernel;  /* the bzImage */
    const char *initrd;  /* NULL: none */
    const char *cmdline;
    const void *dtb;     /* NULL: none */
    size_t dtb_size;
};

/*
 * Loads the image into ram (guest-physical 0 .. ram_size, all of it RAM) and returns the
 * 64-bit entry point in *entry; 0, or -1 with a message that names what is wrong.
 */
int vmm_bzimage_load(uint8_t *ram, uint64_t ram_size, const struct vmm_boot_image *img,
                     uint64_t *entry, char *err, size_t errlen);

#endif /* VMM_BZIMAGE_H */
